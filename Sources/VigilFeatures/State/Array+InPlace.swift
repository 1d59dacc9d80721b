extension Array {
    /// Calls `body` with element `index` in place. A non-mutating method called on `array[index]` works on a copy
    /// of the element, which for a store holding arrays means retaining and releasing each of them per call;
    /// through this it works on the element where it lies.
    @inline(__always)
    mutating func inPlace<R>(_ index: Int, _ body: (inout Element) -> R) -> R {
        body(&self[index])
    }
}
