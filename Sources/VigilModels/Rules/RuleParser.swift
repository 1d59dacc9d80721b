import VigilCore

/// What a name in a rule refers to.
public enum RuleOperand: Sendable, Equatable {
    case feature(Int)
    case numericField(Int)
    case categoricalField(Int)
}

/// A rule that could not be compiled, with the 1-based column of the problem.
public struct RuleParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var column: Int
    public var description: String { "column \(column): \(message)" }
}

/// Compiles rule text such as `card.tx_count_5m > 10 and amount < 2` into a `RuleExpression`.
///
/// Grammar, loosest first: `or`, `and`, `not`, comparisons (`< <= > >= == !=`), `+ -`, `* /`, unary `-`,
/// then numbers, names, `"text"`, `abs(...)` and parentheses. Names are resolved by `resolve`; a text literal
/// may only be compared (`==`, `!=`) with a categorical field.
public struct RuleParser {
    private enum Token: Equatable {
        case number(Double)
        case name(String)
        case text(String)
        case symbol(String)
        case end
    }

    private var tokens: [(token: Token, column: Int)] = []
    private var position = 0
    private let resolve: (String) -> RuleOperand?

    public static func parse(_ text: String, resolve: @escaping (String) -> RuleOperand?) throws(RuleParseError) -> RuleExpression {
        var parser = RuleParser(resolve: resolve)
        try parser.tokenize(text)
        let expression = try parser.parseOr()
        guard case .end = parser.current.token else {
            throw RuleParseError(message: "unexpected \(parser.describe(parser.current.token))", column: parser.current.column)
        }
        if parser.isCategorical(expression) {
            throw RuleParseError(message: "a categorical field must be compared with == or != and a \"text\"", column: 1)
        }
        return expression
    }

    private init(resolve: @escaping (String) -> RuleOperand?) {
        self.resolve = resolve
    }

    private var current: (token: Token, column: Int) { tokens[position] }

    private mutating func tokenize(_ text: String) throws(RuleParseError) {
        let chars = Array(text.unicodeScalars)
        var i = 0
        func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || c.properties.isAlphabetic }
        func isNamePart(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || c == "." || ("0"..."9").contains(c) }
        while i < chars.count {
            let c = chars[i]
            let column = i + 1
            if c == " " || c == "\t" || c == "\n" {
                i += 1
            } else if ("0"..."9").contains(c) || (c == "." && i + 1 < chars.count && ("0"..."9").contains(chars[i + 1])) {
                var j = i
                while j < chars.count, ("0"..."9").contains(chars[j]) || chars[j] == "." || chars[j] == "e" || chars[j] == "E"
                    || ((chars[j] == "-" || chars[j] == "+") && j > i && (chars[j - 1] == "e" || chars[j - 1] == "E"))
                {
                    j += 1
                }
                let literal = String(String.UnicodeScalarView(chars[i..<j]))
                guard let value = Double(literal), value.isFinite else {
                    throw RuleParseError(message: "bad number \(literal)", column: column)
                }
                tokens.append((.number(value), column))
                i = j
            } else if isNameStart(c) {
                var j = i
                while j < chars.count, isNamePart(chars[j]) { j += 1 }
                tokens.append((.name(String(String.UnicodeScalarView(chars[i..<j]))), column))
                i = j
            } else if c == "\"" || c == "'" {
                var j = i + 1
                while j < chars.count, chars[j] != c { j += 1 }
                guard j < chars.count else { throw RuleParseError(message: "unterminated text", column: column) }
                tokens.append((.text(String(String.UnicodeScalarView(chars[(i + 1)..<j]))), column))
                i = j + 1
            } else {
                let two = i + 1 < chars.count ? String(String.UnicodeScalarView([c, chars[i + 1]])) : ""
                if ["<=", ">=", "==", "!=", "&&", "||"].contains(two) {
                    tokens.append((.symbol(two == "&&" ? "and" : two == "||" ? "or" : two), column))
                    i += 2
                } else if "<>+-*/()!".unicodeScalars.contains(c) {
                    tokens.append((.symbol(c == "!" ? "not" : String(c)), column))
                    i += 1
                } else {
                    throw RuleParseError(message: "unexpected character '\(c)'", column: column)
                }
            }
        }
        tokens.append((.end, chars.count + 1))
    }

    private func describe(_ token: Token) -> String {
        switch token {
        case .number(let v): "number \(v)"
        case .name(let n): "'\(n)'"
        case .text(let t): "\"\(t)\""
        case .symbol(let s): "'\(s)'"
        case .end: "end of rule"
        }
    }

    private mutating func accept(_ symbol: String) -> Bool {
        switch current.token {
        case .symbol(let s) where s == symbol, .name(let s) where s == symbol:
            position += 1
            return true
        default:
            return false
        }
    }

    private mutating func parseOr() throws(RuleParseError) -> RuleExpression {
        var lhs = try parseAnd()
        while accept("or") { lhs = .or(lhs, try parseAnd()) }
        return lhs
    }

    private mutating func parseAnd() throws(RuleParseError) -> RuleExpression {
        var lhs = try parseNot()
        while accept("and") { lhs = .and(lhs, try parseNot()) }
        return lhs
    }

    private mutating func parseNot() throws(RuleParseError) -> RuleExpression {
        if accept("not") { return .not(try parseNot()) }
        return try parseComparison()
    }

    private mutating func parseComparison() throws(RuleParseError) -> RuleExpression {
        let column = current.column
        let lhs = try parseSum()
        for op in [RuleExpression.ComparisonOperator.lessOrEqual, .greaterOrEqual, .equal, .notEqual, .less, .greater] where accept(op.rawValue) {
            let rhsColumn = current.column
            if case .text(let text) = current.token {
                position += 1
                guard case .categoricalIs(let field, _, _) = lhs, op == .equal || op == .notEqual else {
                    throw RuleParseError(message: "text can only be compared with == or != to a categorical field", column: rhsColumn)
                }
                return .categoricalIs(field: field, hash: FNV1a.hash(text), equal: op == .equal)
            }
            let rhs = try parseSum()
            if isCategorical(lhs) || isCategorical(rhs) {
                throw RuleParseError(message: "a categorical field must be compared with a \"text\"", column: column)
            }
            return .comparison(op, lhs, rhs)
        }
        return lhs
    }

    /// A bare categorical reference (parsed as `categoricalIs` with hash 0) not yet compared with text.
    private func isCategorical(_ expression: RuleExpression) -> Bool {
        if case .categoricalIs(_, 0, true) = expression { return true }
        return false
    }

    private mutating func parseSum() throws(RuleParseError) -> RuleExpression {
        var lhs = try parseProduct()
        while true {
            if accept("+") {
                lhs = .arithmetic(.add, lhs, try parseProduct())
            } else if accept("-") {
                lhs = .arithmetic(.subtract, lhs, try parseProduct())
            } else {
                return lhs
            }
        }
    }

    private mutating func parseProduct() throws(RuleParseError) -> RuleExpression {
        var lhs = try parseUnary()
        while true {
            if accept("*") {
                lhs = .arithmetic(.multiply, lhs, try parseUnary())
            } else if accept("/") {
                lhs = .arithmetic(.divide, lhs, try parseUnary())
            } else {
                return lhs
            }
        }
    }

    private mutating func parseUnary() throws(RuleParseError) -> RuleExpression {
        if accept("-") { return .negate(try parseUnary()) }
        return try parsePrimary()
    }

    private mutating func parsePrimary() throws(RuleParseError) -> RuleExpression {
        let (token, column) = current
        switch token {
        case .number(let value):
            position += 1
            return .number(value)
        case .symbol("("):
            position += 1
            let inner = try parseOr()
            guard accept(")") else { throw RuleParseError(message: "expected ')'", column: current.column) }
            return inner
        case .name("abs"):
            position += 1
            guard accept("(") else { throw RuleParseError(message: "expected '(' after abs", column: current.column) }
            let inner = try parseSum()
            guard accept(")") else { throw RuleParseError(message: "expected ')'", column: current.column) }
            return .abs(inner)
        case .name("true"):
            position += 1
            return .number(1)
        case .name("false"):
            position += 1
            return .number(0)
        case .name(let name):
            position += 1
            switch resolve(name) {
            case .feature(let index): return .feature(index)
            case .numericField(let index): return .numericField(index)
            case .categoricalField(let index): return .categoricalIs(field: index, hash: 0, equal: true)
            case nil: throw RuleParseError(message: "unknown feature or field '\(name)'", column: column)
            }
        case .text(let text):
            throw RuleParseError(message: "text \"\(text)\" must follow a categorical field and == or !=", column: column)
        default:
            throw RuleParseError(message: "expected a value, found \(describe(token))", column: column)
        }
    }
}
