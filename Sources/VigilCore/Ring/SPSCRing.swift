public import Atomics

/// A bounded single-producer/single-consumer ring with batch hand-off, optionally with a relay between the two.
///
/// Invariant: slots `[head, tail)` (indices taken modulo the capacity) are initialised and owned by the
/// consumer; all other slots are uninitialised and owned by the producer. Only the producer stores `tail` and
/// only the consumer stores `head`; each publishes with one releasing store per batch and reads the other's
/// index with an acquiring load, so the slot writes before a release are visible after the matching acquire.
///
/// A relay ring (`makeRelayRing`) has a third end between them that works on each element where it lies:
/// slots `[middle, tail)` are owned by the relay and `[head, middle)` by the consumer, which reads `middle`
/// where a plain ring's consumer reads `tail`. An element written by one thread, changed in place by a second and
/// read by a third is never copied between them.
///
/// The ends' operations are `@inlinable`: the daemon's rings hold its own element types, and an unspecialized
/// generic call per element would move each ~1.2 kB element through the type's metadata.
///
/// `@unchecked Sendable`: the storage is shared by exactly two threads under the invariant above; the two
/// indices are atomics on separate cache lines, and everything else is immutable after `init`.
public final class SPSCRing<Element>: @unchecked Sendable {
    /// Number of slots, a power of two.
    public let capacity: Int
    @usableFromInline let mask: Int
    @usableFromInline let slots: UnsafeMutablePointer<Element>
    /// The indices in one allocation, 128 bytes apart, so no two ends share a cache line.
    private let indexStorage: UnsafeMutableRawPointer
    @usableFromInline let head: UnsafeAtomic<Int>
    @usableFromInline let tail: UnsafeAtomic<Int>
    /// The relay's index (unused by a plain ring).
    @usableFromInline let middle: UnsafeAtomic<Int>

    private init(capacity requested: Int) {
        precondition(requested > 0, "ring capacity must be positive")
        var capacity = 1
        while capacity < requested { capacity <<= 1 }
        self.capacity = capacity
        self.mask = capacity - 1
        self.slots = UnsafeMutablePointer<Element>.allocate(capacity: capacity)
        self.indexStorage = UnsafeMutableRawPointer.allocate(byteCount: 384, alignment: 128)
        let headStorage = indexStorage.bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1)
        let tailStorage = (indexStorage + 128).bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1)
        let middleStorage = (indexStorage + 256).bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1)
        headStorage.initialize(to: UnsafeAtomic<Int>.Storage(0))
        tailStorage.initialize(to: UnsafeAtomic<Int>.Storage(0))
        middleStorage.initialize(to: UnsafeAtomic<Int>.Storage(0))
        self.head = UnsafeAtomic(at: headStorage)
        self.tail = UnsafeAtomic(at: tailStorage)
        self.middle = UnsafeAtomic(at: middleStorage)
    }

    deinit {
        let first = head.load(ordering: .relaxed)
        let last = tail.load(ordering: .relaxed)
        var index = first
        while index != last {
            (slots + (index & mask)).deinitialize(count: 1)
            index &+= 1
        }
        slots.deallocate()
        indexStorage.deallocate()
    }

    /// Makes a ring of at least `capacity` slots (rounded up to a power of two) and its two ends.
    public static func makeRing(capacity: Int) -> (producer: Producer, consumer: Consumer) {
        let ring = SPSCRing(capacity: capacity)
        return (Producer(ring), Consumer(ring, upstream: ring.tail))
    }

    /// Makes a ring of at least `capacity` slots with a relay between its producer and its consumer: the
    /// consumer sees an element once the relay has passed it on.
    public static func makeRelayRing(capacity: Int) -> (producer: Producer, relay: Relay, consumer: Consumer) {
        let ring = SPSCRing(capacity: capacity)
        return (Producer(ring), Relay(ring), Consumer(ring, upstream: ring.middle))
    }

    /// Elements the consumer has released since the ring was made, as seen from any thread (a count that only
    /// grows; approximate while the consumer is active).
    @inlinable
    public var released: Int {
        head.load(ordering: .relaxed)
    }

    /// Elements in the ring now, as seen from any thread (approximate while both ends are active).
    @inlinable
    public var count: Int {
        tail.load(ordering: .acquiring) &- head.load(ordering: .acquiring)
    }
}

extension SPSCRing {
    /// The writing end. Use it from one thread only.
    ///
    /// `@unchecked Sendable`: it may be handed to the thread that will own it; the cached index is then touched
    /// by that thread alone (checked in debug builds).
    public final class Producer: @unchecked Sendable {
        public let ring: SPSCRing
        // One thread owns this end (`owner`), so the runtime's exclusivity check on each access (a call into the
        // runtime per ring operation) guards nothing.
        @exclusivity(unchecked) @usableFromInline var cachedHead = 0
        @exclusivity(unchecked) @usableFromInline var localTail = 0
        @usableFromInline let owner = ThreadOwnership()

        init(_ ring: SPSCRing) {
            self.ring = ring
        }

        /// Free slots, refreshing the consumer's index only when the cached one shows too little room.
        @inlinable
        func freeSlots(atLeast wanted: Int) -> Int {
            var free = ring.capacity - (localTail &- cachedHead)
            if free < wanted {
                cachedHead = ring.head.load(ordering: .acquiring)
                free = ring.capacity - (localTail &- cachedHead)
            }
            return free
        }

        /// Appends one element unless the ring is full, and publishes it at once.
        @inlinable
        public func push(_ element: Element) -> Bool {
            owner.check()
            guard freeSlots(atLeast: 1) >= 1 else { return false }
            (ring.slots + (localTail & ring.mask)).initialize(to: element)
            localTail &+= 1
            ring.tail.store(localTail, ordering: .releasing)
            return true
        }

        /// Appends as many of `elements` as fit and publishes them with one store.
        ///
        /// - Returns: how many were appended, from the front of `elements`.
        @inlinable
        public func push(contentsOf elements: UnsafeBufferPointer<Element>) -> Int {
            owner.check()
            let n = min(elements.count, freeSlots(atLeast: elements.count))
            guard n > 0 else { return 0 }
            for i in 0..<n {
                (ring.slots + ((localTail &+ i) & ring.mask)).initialize(to: elements[i])
            }
            localTail &+= n
            ring.tail.store(localTail, ordering: .releasing)
            return n
        }

        /// Writes `value` into every slot, before the ring is used (from the thread that made it): for plain-value
        /// elements that `reserve()`'s callers build in place part by part, the parts a builder leaves alone then
        /// read as `value`'s, not as whatever the memory held. Elements are plain values, so the bytes stay when an
        /// element is taken.
        public func fillSlots(with value: Element) {
            precondition(_isPOD(Element.self), "only plain values keep their bytes in a slot")
            ring.slots.initialize(repeating: value, count: ring.capacity)
        }

        /// The next free slot, uninitialized, or nil when the ring is full: initialize it in place, then
        /// `publishReserved()` appends it. A slot reserved and not published is offered again by the next call.
        /// Saves the copy `push` makes, for elements built where they will be read.
        @inlinable
        public func reserve() -> UnsafeMutablePointer<Element>? {
            owner.check()
            guard freeSlots(atLeast: 1) >= 1 else { return nil }
            return ring.slots + (localTail & ring.mask)
        }

        /// Appends the slot `reserve()` returned (now initialized) and publishes it.
        @inlinable
        public func publishReserved() {
            localTail &+= 1
            ring.tail.store(localTail, ordering: .releasing)
        }

        /// Appends without publishing: the consumer sees the element after the next `publish()`.
        @inlinable
        public func stage(_ element: Element) -> Bool {
            owner.check()
            guard freeSlots(atLeast: 1) >= 1 else { return false }
            (ring.slots + (localTail & ring.mask)).initialize(to: element)
            localTail &+= 1
            return true
        }

        /// Publishes every staged element with one releasing store.
        @inlinable
        public func publish() {
            ring.tail.store(localTail, ordering: .releasing)
        }

        /// Slots free now (from the producer's view: never more than the truth).
        @inlinable
        public var freeCount: Int { freeSlots(atLeast: ring.capacity) }
    }

    /// The middle end of a relay ring: takes each published element in order, works on it where it lies and
    /// passes it on to the consumer. Use it from one thread only.
    ///
    /// `@unchecked Sendable`: as for `Producer`, it is handed to the thread that owns it.
    public final class Relay: @unchecked Sendable {
        public let ring: SPSCRing
        // As for `Producer`: one thread owns this end.
        @exclusivity(unchecked) @usableFromInline var cachedTail = 0
        @exclusivity(unchecked) @usableFromInline var localMiddle = 0
        @usableFromInline let owner = ThreadOwnership()

        init(_ ring: SPSCRing) {
            self.ring = ring
        }

        /// Hands up to `max` published elements to `body` in order, each where it lies with the elements one and
        /// two places later in the batch (nil past its end), and passes each on to the consumer as soon as `body`
        /// returns. `body` may change the element but must leave it initialised.
        ///
        /// - Returns: how many elements were passed on.
        @discardableResult
        @inlinable
        public func relay(
            max: Int = .max,
            lookingAhead body: (_ element: UnsafeMutablePointer<Element>, _ next: UnsafeMutablePointer<Element>?, _ afterNext: UnsafeMutablePointer<Element>?) throws -> Void
        ) rethrows -> Int {
            owner.check()
            var n = cachedTail &- localMiddle
            if n < max {
                cachedTail = ring.tail.load(ordering: .acquiring)
                n = cachedTail &- localMiddle
            }
            n = Swift.min(max, n)
            var done = 0
            while done < n {
                let slot = ring.slots + (localMiddle & ring.mask)
                let next = done + 1 < n ? ring.slots + ((localMiddle &+ 1) & ring.mask) : nil
                let afterNext = done + 2 < n ? ring.slots + ((localMiddle &+ 2) & ring.mask) : nil
                try body(slot, next, afterNext)
                // Passed on one at a time: the consumer's wait for an element is not the rest of the batch's work.
                localMiddle &+= 1
                done += 1
                ring.middle.store(localMiddle, ordering: .releasing)
            }
            return n
        }

        /// True when nothing is waiting for this end (refreshes the producer's index).
        @inlinable
        public var isEmpty: Bool {
            if cachedTail == localMiddle { cachedTail = ring.tail.load(ordering: .acquiring) }
            return cachedTail == localMiddle
        }
    }

    /// The reading end. Use it from one thread only.
    ///
    /// `@unchecked Sendable`: as for `Producer`, it is handed to the thread that owns it.
    public final class Consumer: @unchecked Sendable {
        public let ring: SPSCRing
        /// The index of the end before this one: the producer's `tail`, or the relay's `middle`.
        @usableFromInline let upstream: UnsafeAtomic<Int>
        // As for `Producer`: one thread owns this end.
        @exclusivity(unchecked) @usableFromInline var cachedTail = 0
        @exclusivity(unchecked) @usableFromInline var localHead = 0
        @usableFromInline let owner = ThreadOwnership()

        init(_ ring: SPSCRing, upstream: UnsafeAtomic<Int>) {
            self.ring = ring
            self.upstream = upstream
        }

        /// Elements visible to this end, refreshing the upstream end's index when the cached one shows fewer than
        /// `wanted`.
        @inlinable
        func available(wanting wanted: Int = 1) -> Int {
            var n = cachedTail &- localHead
            if n < wanted {
                cachedTail = upstream.load(ordering: .acquiring)
                n = cachedTail &- localHead
            }
            return n
        }

        /// Removes one element, or returns `nil` when the ring is empty.
        @inlinable
        public func pop() -> Element? {
            owner.check()
            guard available() > 0 else { return nil }
            let element = (ring.slots + (localHead & ring.mask)).move()
            localHead &+= 1
            ring.head.store(localHead, ordering: .releasing)
            return element
        }

        /// Removes up to `max` elements, handing each to `body` in order, and frees their slots with one store.
        ///
        /// - Returns: how many elements were consumed.
        @discardableResult
        @inlinable
        public func drain(max: Int = .max, _ body: (consuming Element) throws -> Void) rethrows -> Int {
            try consume(max: max) { slot, _, _ in try body(slot.move()) }
        }

        /// Removes up to `max` elements like `drain`, but hands `body` each element where it lies instead of a
        /// copy; the element is deinitialized once `body` returns.
        ///
        /// - Returns: how many elements were consumed.
        @discardableResult
        @inlinable
        public func drainInPlace(max: Int = .max, _ body: (UnsafeMutablePointer<Element>) throws -> Void) rethrows -> Int {
            try consume(max: max) { slot, _, _ in
                defer { slot.deinitialize(count: 1) }
                try body(slot)
            }
        }

        /// `drainInPlace`, also handing `body` the elements one and two places after each, when they are in the
        /// same batch (otherwise nil), so it can start loading what they will need while it works on this one.
        ///
        /// - Returns: how many elements were consumed.
        @discardableResult
        @inlinable
        public func drainInPlace(
            max: Int = .max,
            lookingAhead body: (_ element: UnsafeMutablePointer<Element>, _ next: UnsafeMutablePointer<Element>?, _ afterNext: UnsafeMutablePointer<Element>?) throws -> Void
        ) rethrows -> Int {
            try consume(max: max) { slot, next, afterNext in
                defer { slot.deinitialize(count: 1) }
                try body(slot, next, afterNext)
            }
        }

        /// Hands up to `max` occupied slots to `take` in order, with the slots one and two places later in the
        /// batch (nil past its end); `take` must end each element's life (move it out or deinitialize it). Then
        /// frees the slots with one store.
        @inlinable
        func consume(
            max: Int, _ take: (UnsafeMutablePointer<Element>, UnsafeMutablePointer<Element>?, UnsafeMutablePointer<Element>?) throws -> Void
        ) rethrows -> Int {
            owner.check()
            let n = Swift.min(max, available(wanting: max))
            guard n > 0 else { return 0 }
            var consumed = 0
            defer {
                localHead &+= consumed
                ring.head.store(localHead, ordering: .releasing)
            }
            while consumed < n {
                let slot = ring.slots + ((localHead &+ consumed) & ring.mask)
                let next = consumed + 1 < n ? ring.slots + ((localHead &+ consumed &+ 1) & ring.mask) : nil
                let afterNext = consumed + 2 < n ? ring.slots + ((localHead &+ consumed &+ 2) & ring.mask) : nil
                consumed += 1
                try take(slot, next, afterNext)
            }
            return n
        }

        /// The oldest element where it lies (it may be changed in place), or nil when the ring is empty; valid
        /// until `removeFirst()`.
        @inlinable
        public func first() -> UnsafeMutablePointer<Element>? {
            owner.check()
            guard available() > 0 else { return nil }
            return ring.slots + (localHead & ring.mask)
        }

        /// The element `offset` places after the oldest (0: the oldest) where it lies, or nil when the ring holds
        /// no more than `offset` elements; valid until it is removed.
        @inlinable
        public func element(at offset: Int) -> UnsafeMutablePointer<Element>? {
            owner.check()
            guard offset >= 0, available(wanting: offset + 1) > offset else { return nil }
            return ring.slots + ((localHead &+ offset) & ring.mask)
        }

        /// Removes the oldest element (the ring must not be empty) and frees its slot.
        @inlinable
        public func removeFirst() {
            owner.check()
            precondition(available() > 0, "removeFirst on an empty ring")
            (ring.slots + (localHead & ring.mask)).deinitialize(count: 1)
            localHead &+= 1
            ring.head.store(localHead, ordering: .releasing)
        }

        /// Calls `body` with the oldest element without removing it; returns nil when the ring is empty.
        @inlinable
        public func peek<R>(_ body: (borrowing Element) throws -> R) rethrows -> R? {
            owner.check()
            guard available() > 0 else { return nil }
            return try body((ring.slots + (localHead & ring.mask)).pointee)
        }

        /// True when nothing is waiting (refreshes the producer's index).
        @inlinable
        public var isEmpty: Bool { available() == 0 }
    }
}
