import Testing

@testable import GatehousePolicy

@Suite("Banned substrings: many values at once, case-insensitive unless asked")
struct BannedSubstringsTests {
    @Test("finds every value, case-insensitively, as byte ranges of the original text")
    func basics() {
        let scanner = BannedSubstringScanner(["Project Falcon", "Acme"])
        let findings = scanner.scan("about PROJECT FALCON for acme and Acme")
        #expect(findings.map(\.range) == [6..<20, 25..<29, 34..<38])
        #expect(findings.allSatisfy { $0.type == .bannedSubstring })
    }

    @Test("case-sensitive matching compares bytes")
    func caseSensitive() {
        let scanner = BannedSubstringScanner(["Falcon"], caseSensitive: true)
        #expect(scanner.scan("falcon FALCON").isEmpty)
        #expect(scanner.scan("a Falcon").map(\.range) == [2..<8])
    }

    @Test("non-ASCII values match their other case, ranges cover the original characters")
    func unicode() {
        let scanner = BannedSubstringScanner(["ÉCOLE", "straße"])
        let text = "une école, die STRAẞE"
        let bytes = Array(text.utf8)
        let found = scanner.scan(text).map { String(decoding: bytes[$0.range], as: UTF8.self) }
        #expect(found == ["école", "STRAẞE"])
    }

    @Test("overlapping occurrences are all reported; empty values and empty lists find nothing")
    func edges() {
        #expect(BannedSubstringScanner(["aa"]).scan("aaa").count == 2)
        #expect(BannedSubstringScanner([""]).scan("anything").isEmpty)
        #expect(BannedSubstringScanner([]).scan("anything").isEmpty)
    }

    @Test("a thousand values cost one pass and still find the last one")
    func many() {
        let values = (0..<1000).map { "codename\($0)x" }
        let scanner = BannedSubstringScanner(values)
        #expect(scanner.scan("leak of CODENAME999X here").map(\.range) == [8..<20])
    }
}
