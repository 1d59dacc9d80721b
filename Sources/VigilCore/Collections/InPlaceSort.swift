// Inlinable, so callers in other modules get it specialized for their element type and comparison (unspecialized,
// every comparison and element move went through the type's metadata: a fifth of the robust z-score's time).
extension UnsafeMutableBufferPointer {
    /// Sorts in place with no scratch memory, unlike the standard library's stable sort, which takes a heap
    /// buffer for all but small inputs: introsort — quicksort with a median-of-three pivot, insertion sort for
    /// short ranges, heapsort where the partitions go badly (O(n log n) at worst). Not stable: callers that need a
    /// tie order make it part of `areInIncreasingOrder`.
    @inlinable
    public func sortWithoutAllocating(by areInIncreasingOrder: (Element, Element) -> Bool) {
        sortWithoutAllocating(depthLimit: 2 * (Int.bitWidth - count.leadingZeroBitCount), by: areInIncreasingOrder)
    }

    /// The sort with a given depth of partitioning (on any one path of ranges split in two) before heapsort takes
    /// over the range at hand (tests use 0 and 1).
    @inlinable
    func sortWithoutAllocating(depthLimit: Int, by areInIncreasingOrder: (Element, Element) -> Bool) {
        guard count > 1 else { return }
        introsort(0, count, depthLimit: depthLimit, by: areInIncreasingOrder)
    }

    /// The depth is counted per path, as introsort has it (each side of a split gets what is left of it): a budget
    /// shared by the whole sort ran out after 2 log2(n) splits, and heapsort then sorted most of every large input.
    @inlinable
    func introsort(_ start: Int, _ end: Int, depthLimit: Int, by less: (Element, Element) -> Bool) {
        var start = start
        var end = end
        var depthLimit = depthLimit
        while end - start > 16 {
            if depthLimit == 0 {
                heapsort(start, end, by: less)
                return
            }
            depthLimit -= 1
            // Median of three to the front as the pivot, then Hoare's partition of the rest.
            let mid = start + (end - start) / 2
            if less(self[mid], self[start]) { swapAt(mid, start) }
            if less(self[end - 1], self[start]) { swapAt(end - 1, start) }
            if less(self[end - 1], self[mid]) { swapAt(end - 1, mid) }
            swapAt(start, mid)
            let pivot = self[start]
            var i = start + 1
            var j = end - 1
            while true {
                while less(self[i], pivot) { i += 1 }
                while less(pivot, self[j]) { j -= 1 }
                if i >= j { break }
                swapAt(i, j)
                i += 1
                j -= 1
            }
            swapAt(start, j)
            // Recurse into the smaller side, loop on the larger: the stack stays O(log n).
            if j - start < end - (j + 1) {
                introsort(start, j, depthLimit: depthLimit, by: less)
                start = j + 1
            } else {
                introsort(j + 1, end, depthLimit: depthLimit, by: less)
                end = j
            }
        }
        insertionSort(start, end, by: less)
    }

    @inlinable
    func insertionSort(_ start: Int, _ end: Int, by less: (Element, Element) -> Bool) {
        guard end - start > 1 else { return }
        for i in (start + 1)..<end {
            let value = self[i]
            var j = i
            while j > start, less(value, self[j - 1]) {
                self[j] = self[j - 1]
                j -= 1
            }
            self[j] = value
        }
    }

    @inlinable
    func heapsort(_ start: Int, _ end: Int, by less: (Element, Element) -> Bool) {
        let n = end - start
        func siftDown(_ root: Int, _ limit: Int) {
            var root = root
            while true {
                var child = 2 * root + 1
                if child >= limit { return }
                if child + 1 < limit, less(self[start + child], self[start + child + 1]) { child += 1 }
                guard less(self[start + root], self[start + child]) else { return }
                swapAt(start + root, start + child)
                root = child
            }
        }
        for root in stride(from: n / 2 - 1, through: 0, by: -1) { siftDown(root, n) }
        for last in stride(from: n - 1, to: 0, by: -1) {
            swapAt(start, start + last)
            siftDown(0, last)
        }
    }
}

extension Array {
    /// `UnsafeMutableBufferPointer.sortWithoutAllocating(by:)` on the array's storage (which must be uniquely
    /// referenced for that to hold).
    @inlinable
    public mutating func sortWithoutAllocating(by areInIncreasingOrder: (Element, Element) -> Bool) {
        withUnsafeMutableBufferPointer { $0.sortWithoutAllocating(by: areInIncreasingOrder) }
    }
}
