import GatehouseCore
import Testing

@Suite("Secret redaction")
struct SecretRedactorTests {
    @Test("masks credential-shaped words", arguments: [
        "Incorrect API key provided: sk-proj-FAKEFAKEFAKEFAKE1234",
        "key=AIzaFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE123 rejected",
        "Authorization: Bearer abcdefghijklmnop",
        "token ghp_FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE here",
        "sk-ant-api03-FAKEFAKEFAKEFAKEFAKE-AA",
    ])
    func masks(text: String) {
        let redacted = SecretRedactor.redact(text)
        #expect(redacted.contains("[REDACTED]"))
        #expect(!redacted.contains("FAKEFAKE"))
        #expect(!redacted.contains("abcdefghijklmnop"))
    }

    @Test("keeps ordinary messages intact")
    func keepsText() {
        let text = "max_tokens: must be at most 8192 (task-specific limit)"
        #expect(SecretRedactor.redact(text) == text)
    }

    @Test("caps the length of upstream messages")
    func caps() {
        #expect(SecretRedactor.redact(String(repeating: "a ", count: 1000), limit: 50).count <= 51)
    }
}
