import Testing
import VigilCore

@Suite("Entity key index")
struct EntityKeyIndexTests {
    static func key(_ text: String) -> EntityKey { EntityKey(text)! }

    /// Keys of every length are equal exactly when their bytes are: a key differing in any one byte is not equal
    /// (the comparison runs in words, the last masked to the length), bytes past the length do not count.
    @Test func keysAreEqualExactlyWhenTheirBytesAre() {
        var rng = SplitMix64(seed: 9)
        for length in 0...EventLimits.keyBytes {
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let key = bytes.withUnsafeBytes { EntityKey($0)! }
            #expect(key == bytes.withUnsafeBytes { EntityKey($0)! })
            var padded = key
            withUnsafeMutableBytes(of: &padded.storage) { for i in length..<EventLimits.keyBytes { $0[i] = 0xA5 } }
            #expect(padded == key, "bytes past the length \(length) are not compared")
            for position in 0..<length {
                let original = bytes[position]
                bytes[position] ^= 0x01 << UInt8(position % 8)
                var other = bytes.withUnsafeBytes { EntityKey($0)! }
                other.hash = key.hash
                #expect(other != key, "length \(length), byte \(position) differs")
                bytes[position] = original
            }
        }
    }

    @Test func keysGetStableSlotsAndExpireAfterTheirTTL() {
        var index = EntityKeyIndex(maxKeys: 100, ttlMs: 1000)
        let a = index.lookup(Self.key("card-a"), nowMs: 0)
        let b = index.lookup(Self.key("card-b"), nowMs: 10)
        #expect(a.isFresh && b.isFresh && a.slot != b.slot)
        let again = index.lookup(Self.key("card-a"), nowMs: 500)
        #expect(again.slot == a.slot && !again.isFresh)
        // Seen last at 500: at 1,600 the key is past its TTL and its state must start afresh, in the same slot.
        let expired = index.lookup(Self.key("card-a"), nowMs: 1600)
        #expect(expired.slot == a.slot && expired.isFresh && index.expired == 1)
        #expect(index.count == 2 && index.find(Self.key("card-b")) == b.slot && index.find(Self.key("card-c")) == nil)
    }

    @Test func aFullIndexEvictsAnOldKeyAndKeepsTheOthersFindable() throws {
        var index = EntityKeyIndex(maxKeys: 8, ttlMs: 1_000_000)
        var slots: [String: Int] = [:]
        for i in 0..<8 { slots["k\(i)"] = index.lookup(Self.key("k\(i)"), nowMs: Int64(i)).slot }
        let newcomer = index.lookup(Self.key("k8"), nowMs: 100)
        let evicted = try #require(newcomer.evictedSlot)
        #expect(newcomer.isFresh && newcomer.slot == evicted && index.count == 8 && index.evictedForSpace == 1)
        // Every key but the evicted one is still found in its slot (the removal kept the probe chains whole).
        let survivors = slots.filter { $0.value != evicted }
        #expect(survivors.count == 7)
        for (name, slot) in survivors { #expect(index.find(Self.key(name)) == slot) }
    }

    /// The table doubles twice (at 32,768 and 65,536 keys) after some keys were removed and their slots reused:
    /// every held key is still found in its slot, and no removed key is.
    @Test func keysStayFindableAcrossTableGrowthAfterRemovals() {
        var index = EntityKeyIndex(maxKeys: 200_000, ttlMs: 1_000_000)
        var slots: [Int: Int] = [:]
        for i in 0..<30_000 { slots[i] = index.lookup(Self.key("card-\(i)"), nowMs: 0).slot }
        for i in stride(from: 0, to: 30_000, by: 30) {
            index.remove(slot: slots[i]!)
            slots[i] = nil
        }
        for i in 30_000..<70_000 { slots[i] = index.lookup(Self.key("card-\(i)"), nowMs: 1).slot }
        #expect(index.count == slots.count)
        #expect(Set(slots.values).count == slots.count, "a slot given to two keys")
        var misplaced = 0
        for i in 0..<70_000 where index.find(Self.key("card-\(i)")) != slots[i] { misplaced += 1 }
        #expect(misplaced == 0)
    }

    /// The prefetch hint names the slot a lookup will find when the key sits at its first probe, and nothing for
    /// a key whose entry is empty; a wrong hint is allowed (a collision), so only those two cases are pinned.
    @Test func thePrefetchHintNamesTheSlotALookupFinds() {
        var index = EntityKeyIndex(maxKeys: 1000, ttlMs: 1_000_000)
        let present = Self.key("card-present")
        let slot = index.lookup(present, nowMs: 0).slot
        index.prefetchEntry(hash: present.hash)
        #expect(index.prefetchSlot(hash: present.hash) == slot)
        var absent = Self.key("card-absent")
        // Find a key whose first probe is an empty entry (all but a few are, in a table this sparse).
        var n = 0
        while index.prefetchSlot(hash: absent.hash) != nil {
            n += 1
            absent = Self.key("card-absent-\(n)")
        }
        #expect(index.find(absent) == nil)
    }

    @Test func prefetchingAnyRangeOfAnArrayIsHarmless() {
        let values = Array(0..<1000)
        values.prefetch(0, count: 1000)
        values.prefetch(990, count: 100)
        values.prefetch(-5)
        values.prefetch(5000)
        values.prefetch(10, count: 0)
        [Int]().prefetch(0)
        #expect(values == Array(0..<1000))
    }
}
