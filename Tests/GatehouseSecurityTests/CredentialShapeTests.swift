import Testing

@testable import GatehouseSecurity

@Suite("Credential shape: the ASCII path agrees with the general one")
struct CredentialShapeTests {
    @Test("on generated ASCII text mixing words, separators and credential shapes")
    func agree() {
        let pieces = [
            "sk-", "abcdefgh12", "Bearer", "basic", " ", "\t", "\r\n", "=", ":", "\"", "{", "eyJhbGciOi", ".", "AKIA",
            "ABCDEFGH12345678", "ghp_", "Zz9", "model", "sha256", "0123456789abcdef0123456789abcdef", "PRIVATE KEY-----",
            "/", "-", "_", "Q", "x",
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            var text = ""
            for _ in 0..<Int.random(in: 1...10, using: &generator) { text += pieces.randomElement(using: &generator)! }
            let fast = text.utf8.withContiguousStorageIfAvailable { AuditCredentialShape.matchesASCII($0) } ?? nil
            #expect(fast == AuditCredentialShape.matchesUnicode(text), "\(text.debugDescription)")
        }
    }

    @Test("non-ASCII text takes the general path, which also splits on Unicode whitespace")
    func unicode() {
        #expect(AuditCredentialShape.matches("clé\u{00A0}sk-abcdefgh1234"))
        #expect(!AuditCredentialShape.matches("modèle gpt-4o"))
    }
}
