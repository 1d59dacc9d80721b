extension UnsafeMutableBufferPointer {
    /// Sorts in place by heapsort: O(n log n) with no scratch memory, unlike the standard library's stable
    /// sort, which takes a heap buffer for all but small inputs. Not stable: callers that need a tie order
    /// make it part of `areInIncreasingOrder`.
    public func sortWithoutAllocating(by areInIncreasingOrder: (Element, Element) -> Bool) {
        guard count > 1 else { return }
        func siftDown(_ start: Int, _ end: Int) {
            var root = start
            while true {
                var child = 2 * root + 1
                if child >= end { return }
                if child + 1 < end, areInIncreasingOrder(self[child], self[child + 1]) { child += 1 }
                guard areInIncreasingOrder(self[root], self[child]) else { return }
                swapAt(root, child)
                root = child
            }
        }
        for start in stride(from: count / 2 - 1, through: 0, by: -1) { siftDown(start, count) }
        for end in stride(from: count - 1, to: 0, by: -1) {
            swapAt(0, end)
            siftDown(0, end)
        }
    }
}

extension Array {
    /// `UnsafeMutableBufferPointer.sortWithoutAllocating(by:)` on the array's storage (which must be uniquely
    /// referenced for that to hold).
    public mutating func sortWithoutAllocating(by areInIncreasingOrder: (Element, Element) -> Bool) {
        withUnsafeMutableBufferPointer { $0.sortWithoutAllocating(by: areInIncreasingOrder) }
    }
}
