import Testing
import VigilCore
import VigilModels

private func resolve(_ name: String) -> RuleOperand? {
    switch name {
    case "card.tx_count_5m", "tx_count_5m": .feature(0)
    case "card.amount_mean_24h": .feature(1)
    case "amount": .numericField(0)
    case "country": .categoricalField(0)
    default: nil
    }
}

private func evaluate(_ text: String, features: [Double], amount: Double, country: String? = "FR") throws -> Bool {
    let expression = try RuleParser.parse(text, resolve: resolve)
    var event = Event()
    event.numeric[0] = amount
    event.categorical[0] = country.map { FNV1a.hash($0) } ?? 0
    let program = RuleProgram([expression])
    return features.withUnsafeBufferPointer { features in
        withUnsafePointer(to: event) { event in
            let holds = expression.holds(features: features, event: event)
            #expect(program.holds(rule: 0, features: features, event: event) == holds, "the flattened rule agrees: \(text)")
            return holds
        }
    }
}

@Suite("Rules")
struct RuleParserTests {
    @Test func velocityRuleFromTheDocs() throws {
        let rule = "card.tx_count_5m > 10 and amount < 2"
        #expect(try evaluate(rule, features: [11, 0], amount: 1))
        #expect(try !evaluate(rule, features: [10, 0], amount: 1))
        #expect(try !evaluate(rule, features: [11, 0], amount: 2))
    }

    @Test func precedenceArithmeticAndFunctions() throws {
        #expect(try evaluate("amount > 3 * card.amount_mean_24h + 1", features: [0, 2], amount: 7.5))
        #expect(try !evaluate("amount > 3 * (card.amount_mean_24h + 1)", features: [0, 2], amount: 7.5))
        #expect(try evaluate("not amount < 5 or tx_count_5m >= 3", features: [3, 0], amount: 1))
        #expect(try evaluate("abs(amount - 10) <= 1 && !(amount == 9)", features: [0, 0], amount: 10.5))
        #expect(try evaluate("-amount < -4", features: [0, 0], amount: 5))
    }

    @Test func categoricalFieldsCompareWithText() throws {
        #expect(try evaluate("country != \"FR\" and amount > 100", features: [0, 0], amount: 200, country: "US"))
        #expect(try !evaluate("country != 'FR'", features: [0, 0], amount: 0, country: "FR"))
        #expect(try evaluate("country == 'FR'", features: [0, 0], amount: 0, country: "FR"))
        #expect(try !evaluate("country == 'FR'", features: [0, 0], amount: 0, country: nil), "a missing value never matches")
    }

    @Test func missingValuesNeverFire() throws {
        #expect(try !evaluate("card.amount_mean_24h > 0", features: [0, .nan], amount: 1))
        #expect(try !evaluate("card.amount_mean_24h != 5", features: [0, .nan], amount: 1))
    }

    @Test func flattenedRulesAgreeWithTheirExpressionsOnRandomConditions() {
        var rng = SplitMix64(seed: 7)
        let values: [Double] = [0, 1, -2.5, 3, .nan, .infinity, 1e-9]
        func random(depth: Int) -> RuleExpression {
            let leaf = depth == 0 || Int.random(in: 0..<4, using: &rng) == 0
            if leaf {
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: return .number(values.randomElement(using: &rng)!)
                case 1: return .feature(Int.random(in: 0..<3, using: &rng))
                case 2: return .numericField(Int.random(in: 0..<2, using: &rng))
                default: return .categoricalIs(field: 0, hash: FNV1a.hash(["FR", "US"].randomElement(using: &rng)!), equal: Bool.random(using: &rng))
                }
            }
            let a = random(depth: depth - 1)
            let b = random(depth: depth - 1)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: return .negate(a)
            case 1: return .abs(a)
            case 2: return .not(a)
            case 3: return .arithmetic([.add, .subtract, .multiply, .divide].randomElement(using: &rng)!, a, b)
            case 4: return .comparison([.less, .lessOrEqual, .greater, .greaterOrEqual, .equal, .notEqual].randomElement(using: &rng)!, a, b)
            case 5: return .and(a, b)
            default: return .or(a, b)
            }
        }
        let expressions = (0..<40).map { _ in random(depth: 5) }
        let program = RuleProgram(expressions)
        #expect(program.count == expressions.count)
        var disagreements = 0
        var fired = 0
        for _ in 0..<200 {
            var event = Event()
            event.numeric[0] = values.randomElement(using: &rng)!
            event.numeric[1] = values.randomElement(using: &rng)!
            event.categorical[0] = [0, FNV1a.hash("FR"), FNV1a.hash("US")].randomElement(using: &rng)!
            let features = (0..<3).map { _ in values.randomElement(using: &rng)! }
            features.withUnsafeBufferPointer { features in
                withUnsafePointer(to: event) { event in
                    for (rule, expression) in expressions.enumerated() {
                        let expected = expression.value(features: features, event: event)
                        let actual = program.value(rule: rule, features: features, event: event)
                        if !(expected == actual || (expected.isNaN && actual.isNaN)) { disagreements += 1 }
                        if program.holds(rule: rule, features: features, event: event) != expression.holds(features: features, event: event) { disagreements += 1 }
                        if expression.holds(features: features, event: event) { fired += 1 }
                    }
                }
            }
        }
        #expect(disagreements == 0)
        #expect(fired > 500 && fired < 7_500, "the generated conditions are neither always false nor always true: \(fired) of 8,000")
    }

    @Test(arguments: [
        ("card.tx_count > 1", 1, "unknown feature or field 'card.tx_count'"),
        ("amount > ", 10, "expected a value, found end of rule"),
        ("amount > 1 and (tx_count_5m < 2", 32, "expected ')'"),
        ("amount $ 3", 8, "unexpected character '$'"),
        ("amount == \"x\"", 11, "text can only be compared"),
        ("country > 3", 1, "categorical field must be compared"),
        ("amount > 1 2", 12, "unexpected number 2.0"),
        ("country == 'FR", 12, "unterminated text"),
    ])
    func errorsPointAtTheColumn(text: String, column: Int, message: String) {
        #expect {
            _ = try RuleParser.parse(text, resolve: resolve)
        } throws: { error in
            guard let error = error as? RuleParseError else { return false }
            return error.column == column && error.message.contains(message)
        }
    }
}
