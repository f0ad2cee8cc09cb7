import Foundation
import Testing

@testable import GatehouseSecurity

@Suite("ModelPattern")
struct ModelPatternTests {
    @Test(
        "matches whole model names, with * for any run of characters",
        arguments: [
            ("*", "gpt-4o", true),
            ("*", "", true),
            ("gpt-4o", "gpt-4o", true),
            ("gpt-4o", "gpt-4o-mini", false),
            ("gpt-4o", "xgpt-4o", false),
            ("gpt-4o*", "gpt-4o-mini", true),
            ("gpt-4o*", "gpt-4o", true),
            ("gpt-4o*", "openai/gpt-4o", false),
            ("*gpt-4o", "openai/gpt-4o", true),
            ("*gpt-4o", "gpt-4o-mini", false),
            ("openai/*", "openai/gpt-4o", true),
            ("openai/*", "anthropic/claude", false),
            ("claude-*-sonnet*", "claude-3-5-sonnet-20241022", true),
            ("claude-*-sonnet", "claude-3-opus", false),
            ("GPT-4o", "gpt-4o", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbY", false),
            ("a**b", "ab", true),
            ("*a*", "bab", true),
            ("a*a", "a", false),
            ("*-mini", "gpt-4o-mini-mini", true),
            ("gpt-4o*", "gpt-4o-\u{e9}", true),
            ("a*", "", false),
        ] as [(String, String, Bool)]
    )
    func matching(pattern: String, model: String, expected: Bool) throws {
        let parsed = try #require(ModelPattern(pattern))
        #expect(parsed.matches(model) == expected)
    }

    @Test(
        "rejects patterns that are empty, too long or use characters outside the allowed set",
        arguments: ["", "gpt 4o", "gpt?", "a[b]", "é", "a\n", "a,b", "x\u{0}", String(repeating: "a", count: 129)]
    )
    func rejects(pattern: String) {
        #expect(ModelPattern(pattern) == nil)
    }

    @Test("accepts every allowed character and the maximum length")
    func acceptsAllowed() {
        #expect(ModelPattern("A-Za-z0-9._:/@*") != nil)
        #expect(ModelPattern(String(repeating: "a", count: 128)) != nil)
    }

    @Test("a principal allows a model when any pattern matches, and fails closed on bad patterns")
    func principalAllows() {
        let principal = Principal(
            subject: "alice", tokenID: "t", modelPatterns: ["gpt-4o*", "claude-3-5-*", "bad pattern"],
            issuedAt: referenceNow, expiresAt: referenceNow)
        #expect(principal.allows(model: "gpt-4o-mini"))
        #expect(principal.allows(model: "claude-3-5-haiku"))
        #expect(!principal.allows(model: "o1"))
        #expect(!principal.allows(model: "bad pattern"))
    }
}
