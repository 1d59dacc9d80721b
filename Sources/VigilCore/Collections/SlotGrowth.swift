/// How far a per-key store grows when a key needs a slot beyond its room.
///
/// Doubling while small (few growths for small tables), then steps of `step` slots: each growth initialises a
/// bounded amount of memory (about 3 MB for a card key of the bench config), so the thread that owns the store
/// never stalls for long on it, while the cost per new key stays the same. With `StateArray` nothing already
/// stored is copied, so small steps cost nothing extra.
public enum SlotGrowth {
    public static let step = 1024

    /// The slot count to grow to from `have` when `needed` slots are wanted.
    public static func slots(have: Int, needed: Int) -> Int {
        Swift.max(needed, Swift.min(Swift.max(1, have * 2), have + step))
    }
}
