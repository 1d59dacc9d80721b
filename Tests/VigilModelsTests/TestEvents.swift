import VigilCore

/// An event of card `card` with `amount` as its first numeric field at `ms`, for the scoring tests.
func cardEvent(card: String, amount: Double, at ms: Int64) -> Event {
    var e = Event()
    e.entities[0] = EntityKey(card)!
    e.numeric[0] = amount
    e.timeMs = ms
    return e
}
