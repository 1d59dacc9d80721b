public import VigilCore

/// The rules' conditions flattened into one array of nodes, for evaluation on the event path.
///
/// `RuleExpression` is an indirect enum: every node lives in its own heap box, and reading a rule's condition
/// retained and released its root box once per event. Here each condition is laid out in pre-order in one shared
/// array whose nodes name their operands by index, so evaluation reads plain memory and touches no reference count.
/// Values are the expression's: doubles, 1/0 for conditions, NaN comparing false.
public struct RuleProgram: Sendable, Equatable {
    /// One operation of a condition; `first` and `second` are operand node indices, or a feature or field index.
    struct Node: Sendable, Equatable {
        var operation: Operation
        var first: Int32 = 0
        var second: Int32 = 0
        var number: Double = 0
        var hash: UInt64 = 0
    }

    enum Operation: UInt8, Sendable {
        case number, feature, numericField, categoricalIs, categoricalIsNot
        case negate, abs, not
        case add, subtract, multiply, divide
        case less, lessOrEqual, greater, greaterOrEqual, equal, notEqual
        case and, or
    }

    var nodes: [Node] = []
    /// The node each rule's condition starts at, by rule.
    var roots: [Int] = []

    /// Flattens the conditions, in rule order.
    public init(_ expressions: [RuleExpression]) {
        for expression in expressions { roots.append(append(expression)) }
    }

    /// The number of rules.
    public var count: Int { roots.count }

    /// Whether rule `rule`'s condition holds (a non-zero, non-NaN value) for the event at `event`.
    public func holds(rule: Int, features: UnsafeBufferPointer<Double>, event: UnsafePointer<Event>) -> Bool {
        let v = value(rule: rule, features: features, event: event)
        return v != 0 && !v.isNaN
    }

    /// Rule `rule`'s condition's value for the event at `event`: the same as its `RuleExpression`'s.
    public func value(rule: Int, features: UnsafeBufferPointer<Double>, event: UnsafePointer<Event>) -> Double {
        nodes.withUnsafeBufferPointer { Self.value(of: roots[rule], in: $0, features: features, event: event) }
    }

    private static func value(of index: Int, in nodes: UnsafeBufferPointer<Node>, features: UnsafeBufferPointer<Double>, event: UnsafePointer<Event>) -> Double {
        let node = nodes[index]
        func operand(_ which: Int32) -> Double { value(of: Int(which), in: nodes, features: features, event: event) }
        switch node.operation {
        case .number: return node.number
        case .feature: return features[Int(node.first)]
        case .numericField: return event.pointee.numeric[Int(node.first)]
        case .categoricalIs, .categoricalIsNot:
            let value = event.pointee.categorical[Int(node.first)]
            if value == 0 { return 0 }
            return (value == node.hash) == (node.operation == .categoricalIs) ? 1 : 0
        case .negate: return -operand(node.first)
        case .abs: return Swift.abs(operand(node.first))
        case .not: return operand(node.first) != 0 ? 0 : 1
        case .add: return operand(node.first) + operand(node.second)
        case .subtract: return operand(node.first) - operand(node.second)
        case .multiply: return operand(node.first) * operand(node.second)
        case .divide: return operand(node.first) / operand(node.second)
        case .less: return operand(node.first) < operand(node.second) ? 1 : 0
        case .lessOrEqual: return operand(node.first) <= operand(node.second) ? 1 : 0
        case .greater: return operand(node.first) > operand(node.second) ? 1 : 0
        case .greaterOrEqual: return operand(node.first) >= operand(node.second) ? 1 : 0
        case .equal: return operand(node.first) == operand(node.second) ? 1 : 0
        case .notEqual:
            let a = operand(node.first)
            let b = operand(node.second)
            return a != b && !a.isNaN && !b.isNaN ? 1 : 0
        case .and: return operand(node.first) != 0 && operand(node.second) != 0 ? 1 : 0
        case .or: return operand(node.first) != 0 || operand(node.second) != 0 ? 1 : 0
        }
    }

    /// Appends `expression`'s nodes in pre-order and returns the index of its first.
    private mutating func append(_ expression: RuleExpression) -> Int {
        let index = nodes.count
        nodes.append(Node(operation: .number))
        var node: Node
        switch expression {
        case .number(let value): node = Node(operation: .number, number: value)
        case .feature(let feature): node = Node(operation: .feature, first: Int32(feature))
        case .numericField(let field): node = Node(operation: .numericField, first: Int32(field))
        case .categoricalIs(let field, let hash, let equal):
            node = Node(operation: equal ? .categoricalIs : .categoricalIsNot, first: Int32(field), hash: hash)
        case .negate(let operand): node = unary(.negate, operand)
        case .abs(let operand): node = unary(.abs, operand)
        case .not(let operand): node = unary(.not, operand)
        case .arithmetic(let op, let lhs, let rhs):
            let operation: Operation = switch op {
            case .add: .add
            case .subtract: .subtract
            case .multiply: .multiply
            case .divide: .divide
            }
            node = binary(operation, lhs, rhs)
        case .comparison(let op, let lhs, let rhs):
            let operation: Operation = switch op {
            case .less: .less
            case .lessOrEqual: .lessOrEqual
            case .greater: .greater
            case .greaterOrEqual: .greaterOrEqual
            case .equal: .equal
            case .notEqual: .notEqual
            }
            node = binary(operation, lhs, rhs)
        case .and(let lhs, let rhs): node = binary(.and, lhs, rhs)
        case .or(let lhs, let rhs): node = binary(.or, lhs, rhs)
        }
        nodes[index] = node
        return index
    }

    private mutating func unary(_ operation: Operation, _ operand: RuleExpression) -> Node {
        Node(operation: operation, first: Int32(append(operand)))
    }

    private mutating func binary(_ operation: Operation, _ lhs: RuleExpression, _ rhs: RuleExpression) -> Node {
        let first = Int32(append(lhs))
        return Node(operation: operation, first: first, second: Int32(append(rhs)))
    }
}
