import Testing

@testable import GatehousePolicy

@Suite("Linear-time regular expressions: matching, and refusing what would backtrack")
struct LinearRegexTests {
    func matched(_ pattern: String, _ text: String, caseInsensitive: Bool = false) throws -> [String] {
        let regex = try LinearRegex(pattern, caseInsensitive: caseInsensitive)
        let bytes = Array(text.utf8)
        return regex.matches(in: text).map { String(decoding: bytes[$0], as: UTF8.self) }
    }

    @Test("finds literals, classes, counted repetition and alternatives, leftmost first")
    func basics() throws {
        #expect(
            try matched("TCK-[0-9]{6}", "see TCK-123456 and TCK-12345, TCK-654321") == ["TCK-123456", "TCK-654321"])
        #expect(try matched("cat|category", "category") == ["cat"])
        #expect(try matched("a+", "caaat aa") == ["aaa", "aa"])
        #expect(try matched("a+?", "aaa") == ["a", "a", "a"])
        #expect(try matched("\\bid\\d+\\b", "id12 xid34 id5") == ["id12", "id5"])
        #expect(try matched("^start", "start start") == ["start"])
        #expect(try matched("end$", "end end") == ["end"])
        #expect(try matched("[^ ]+@[a-z]+", "mail ann@example now") == ["ann@example"])
        #expect(try matched("\\bx", "ax ax x") == ["x"])
    }

    @Test("reports UTF-8 offsets over non-ASCII text, and matches case-insensitively when asked")
    func unicode() throws {
        let regex = try LinearRegex("größe")
        #expect(regex.matches(in: "die größe") == [4..<11])
        #expect(try matched("falcon", "Project FALCON", caseInsensitive: true) == ["FALCON"])
        #expect(try matched("falcon", "Project FALCON").isEmpty)
        #expect(try matched("Ω.", "xΩé") == ["Ωé"])
    }

    @Test("a pattern that would backtrack exponentially runs in linear time")
    func noCatastrophe() throws {
        let regex = try LinearRegex("(a+)+$")
        let text = String(repeating: "a", count: 20_000) + "!"
        #expect(regex.matches(in: text).isEmpty)
        let nested = try LinearRegex("(x+x+)+y")
        #expect(nested.firstMatch(in: String(repeating: "x", count: 5_000)) == nil)
    }

    @Test(
        "refuses backreferences, lookaround, atomic groups and possessive quantifiers at load",
        arguments: [
            ("(a)\\1", "backreference"), ("a(?=b)", "lookaround"), ("(?<!a)b", "lookaround"),
            ("(?>ab)", "atomic_group"), ("a++", "possessive"), ("(ab", "unbalanced_parenthesis"),
            ("[ab", "unclosed_class"), ("[z-a]", "invalid_range"), ("*a", "nothing_to_repeat"),
            ("a{5000}", "repetition_too_large"), ("(a{1000}){1000}", "program_too_large"),
        ])
    func refused(pattern: String, code: String) {
        #expect(throws: LinearRegex.PatternError.self) { try LinearRegex(pattern) }
        do {
            _ = try LinearRegex(pattern)
        } catch {
            #expect(error.code == code)
            #expect(!error.message.isEmpty)
        }
    }

    @Test("the regex scanner reports each match as a regex finding")
    func scanner() throws {
        let scanner = try RegexScanner(name: "ticket", pattern: "TCK-[0-9]{6}")
        let findings = scanner.scan("open TCK-000042 now")
        #expect(findings == [Finding(.regex, 5..<15)])
    }
}
