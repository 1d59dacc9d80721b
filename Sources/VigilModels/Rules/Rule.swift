/// A named alert condition over features and event fields.
public struct Rule: Sendable, Equatable {
    public var name: String
    /// The condition, as written in the config.
    public var source: String
    public var expression: RuleExpression
    /// The score a firing rule contributes to the combined score (1 by default).
    public var score: Double

    public init(name: String, source: String, expression: RuleExpression, score: Double = 1) {
        self.name = name
        self.source = source
        self.expression = expression
        self.score = score
    }
}
