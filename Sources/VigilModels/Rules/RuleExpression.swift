public import VigilCore

/// A compiled rule condition: a tree of comparisons and arithmetic over features and event fields.
///
/// Evaluation walks the tree without allocating. Numbers are doubles; a comparison involving NaN (a missing
/// field or an undefined feature) is false, so a rule never fires on missing data.
public indirect enum RuleExpression: Sendable, Equatable {
    case number(Double)
    case feature(Int)
    case numericField(Int)
    /// A categorical field compared with a text literal (by hash); `equal` false means `!=`.
    case categoricalIs(field: Int, hash: UInt64, equal: Bool)
    case negate(RuleExpression)
    case arithmetic(ArithmeticOperator, RuleExpression, RuleExpression)
    case comparison(ComparisonOperator, RuleExpression, RuleExpression)
    case not(RuleExpression)
    case and(RuleExpression, RuleExpression)
    case or(RuleExpression, RuleExpression)
    case abs(RuleExpression)

    public enum ArithmeticOperator: String, Sendable { case add = "+", subtract = "-", multiply = "*", divide = "/" }
    public enum ComparisonOperator: String, Sendable { case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=", equal = "==", notEqual = "!=" }

    /// The expression's value: a number, or 1/0 for a condition.
    public func value(features: UnsafeBufferPointer<Double>, event: Event) -> Double {
        withUnsafePointer(to: event) { value(features: features, event: $0) }
    }

    /// The expression's value for the event at `event`, read where it lies (the ordered stage's ring slot):
    /// passing the event itself from a pointer copies all of it.
    public func value(features: UnsafeBufferPointer<Double>, event: UnsafePointer<Event>) -> Double {
        switch self {
        case .number(let value): return value
        case .feature(let index): return features[index]
        case .numericField(let index): return event.pointee.numeric[index]
        case .categoricalIs(let field, let hash, let equal):
            let value = event.pointee.categorical[field]
            if value == 0 { return 0 }
            return (value == hash) == equal ? 1 : 0
        case .negate(let operand): return -operand.value(features: features, event: event)
        case .abs(let operand): return Swift.abs(operand.value(features: features, event: event))
        case .arithmetic(let op, let lhs, let rhs):
            let a = lhs.value(features: features, event: event)
            let b = rhs.value(features: features, event: event)
            switch op {
            case .add: return a + b
            case .subtract: return a - b
            case .multiply: return a * b
            case .divide: return a / b
            }
        case .comparison(let op, let lhs, let rhs):
            let a = lhs.value(features: features, event: event)
            let b = rhs.value(features: features, event: event)
            let result: Bool
            switch op {
            case .less: result = a < b
            case .lessOrEqual: result = a <= b
            case .greater: result = a > b
            case .greaterOrEqual: result = a >= b
            case .equal: result = a == b
            case .notEqual: result = a != b && !a.isNaN && !b.isNaN
            }
            return result ? 1 : 0
        case .not(let operand): return operand.value(features: features, event: event) != 0 ? 0 : 1
        case .and(let lhs, let rhs):
            return lhs.value(features: features, event: event) != 0 && rhs.value(features: features, event: event) != 0 ? 1 : 0
        case .or(let lhs, let rhs):
            return lhs.value(features: features, event: event) != 0 || rhs.value(features: features, event: event) != 0 ? 1 : 0
        }
    }

    /// Whether the condition holds (a non-zero, non-NaN value).
    public func holds(features: UnsafeBufferPointer<Double>, event: Event) -> Bool {
        withUnsafePointer(to: event) { holds(features: features, event: $0) }
    }

    /// Whether the condition holds for the event at `event`.
    public func holds(features: UnsafeBufferPointer<Double>, event: UnsafePointer<Event>) -> Bool {
        let v = value(features: features, event: event)
        return v != 0 && !v.isNaN
    }
}

extension RuleExpression {
    /// The feature indices the expression reads, in first-use order.
    public var referencedFeatures: [Int] {
        var found: [Int] = []
        func visit(_ e: RuleExpression) {
            switch e {
            case .feature(let i): if !found.contains(i) { found.append(i) }
            case .negate(let a), .not(let a), .abs(let a): visit(a)
            case .arithmetic(_, let a, let b), .comparison(_, let a, let b), .and(let a, let b), .or(let a, let b):
                visit(a)
                visit(b)
            default: break
            }
        }
        visit(self)
        return found
    }
}
