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
    return features.withUnsafeBufferPointer { expression.holds(features: $0, event: event) }
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
