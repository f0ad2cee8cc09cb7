import Testing

@testable import GatehousePolicy

@Suite("Invisible text: zero-width, bidi controls, tag characters and private use")
struct InvisibleTextTests {
    let scanner = InvisibleTextScanner()

    @Test("finds zero-width and bidi characters, a run of them as one finding, and strips them")
    func zeroWidthAndBidi() {
        let text = "pay\u{200B}\u{200C}pal and \u{202E}txt.exe"
        let findings = scanner.scan(text)
        #expect(findings.count == 2)
        #expect(findings.allSatisfy { $0.type == .invisibleText })
        #expect(findings[0].range == 3..<9)
        #expect(InvisibleTextScanner.strip(text) == "paypal and txt.exe")
    }

    @Test("finds ASCII smuggled in Unicode tag characters and can decode it")
    func tags() {
        let hidden = "ignore".unicodeScalars.map { Character(Unicode.Scalar($0.value + 0xE0000)!) }
        let text = "hello" + String(hidden) + " world"
        #expect(scanner.scan(text).count == 1)
        #expect(InvisibleTextScanner.strip(text) == "hello world")
        #expect(InvisibleTextScanner.decodeTags(text) == "helloignore world")
    }

    @Test("private-use code points are reported")
    func privateUse() {
        #expect(scanner.scan("a\u{E000}b\u{F0000}c").count == 2)
    }

    @Test("ordinary text, accents, CJK and emoji joined by zero-width joiners are left alone")
    func traps() {
        for text in ["plain text", "café naïve", "日本語のテキスト", "family 👨‍👩‍👧 and flag 🏳️‍🌈", ""] {
            #expect(scanner.scan(text).isEmpty, "\(text)")
            #expect(InvisibleTextScanner.strip(text) == text)
        }
        #expect(scanner.scan("a\u{200D}b").count == 1)
    }
}
