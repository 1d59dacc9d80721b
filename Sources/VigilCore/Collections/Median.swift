extension UnsafeMutableBufferPointer where Element == Double {
    /// The median of the elements (the mean of the two middle ones for an even count), found by selection
    /// (Hoare's quickselect, expected O(n)) rather than a sort; reorders the elements. Exactly the value a sort
    /// would give. The elements must not be NaN; an empty buffer has no median (NaN).
    public func medianBySelection() -> Double {
        let n = count
        guard n > 0 else { return .nan }
        let upper = selectOrderStatistic(n / 2)
        guard n % 2 == 0 else { return upper }
        // Selection left every element below position n/2 at or below `upper`: the lower middle is their largest.
        var lower = self[0]
        for i in 1..<(n / 2) where self[i] > lower { lower = self[i] }
        return (lower + upper) / 2
    }

    /// Reorders the elements so that position `k` holds the value a sort would put there, with no larger
    /// element before it and no smaller one after it; returns that value.
    public func selectOrderStatistic(_ k: Int) -> Double {
        precondition(k >= 0 && k < count)
        var low = 0
        var high = count - 1
        while high - low > 8 {
            // Median of three as the pivot, then Hoare's partition.
            let mid = low + (high - low) / 2
            if self[mid] < self[low] { swapAt(mid, low) }
            if self[high] < self[low] { swapAt(high, low) }
            if self[high] < self[mid] { swapAt(high, mid) }
            let pivot = self[mid]
            var i = low
            var j = high
            while i <= j {
                while self[i] < pivot { i += 1 }
                while pivot < self[j] { j -= 1 }
                if i <= j {
                    swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            // [low, j] <= pivot <= [i, high]; between them, elements equal to the pivot.
            if k <= j {
                high = j
            } else if k >= i {
                low = i
            } else {
                return self[k]
            }
        }
        // A short range: insertion sort finishes it.
        if high > low {
            for i in (low + 1)...high {
                let value = self[i]
                var j = i - 1
                while j >= low, self[j] > value {
                    self[j + 1] = self[j]
                    j -= 1
                }
                self[j + 1] = value
            }
        }
        return self[k]
    }
}
