import GatehouseCore

/// What a guardrail does with what its scanner found.
public enum GuardrailAction: String, Sendable, CaseIterable, Comparable {
    /// Nothing: the scanner does not run.
    case off
    /// Allowed, and recorded (audit, metrics).
    case flag
    /// The matched text is replaced before it goes on (personal data by placeholders that the
    /// answer gets back; secrets and the rest by a marker).
    case redact
    /// The request (or the answer) is refused in the caller's dialect; the message names the
    /// scanner and the type, never the matched text.
    case block

    private var rank: Int {
        switch self {
        case .off: return 0
        case .flag: return 1
        case .redact: return 2
        case .block: return 3
        }
    }

    public static func < (a: GuardrailAction, b: GuardrailAction) -> Bool { a.rank < b.rank }
}

/// Which way a text goes.
public enum GuardrailDirection: String, Sendable {
    case input
    case output
}

/// The scanners an operator can switch on (a contract: the policy file's keys).
public enum ScannerKind: String, Sendable, CaseIterable {
    case secrets
    case pii
    case invisibleText = "invisible_text"
    case promptInjection = "prompt_injection"
    case bannedSubstrings = "banned_substrings"
    case regex
    case tokenLimit = "token_limit"
    case markdownImageExfil = "markdown_image_exfil"
    case canary
    /// The answer is valid JSON when the caller asked for JSON mode.
    case json
    /// An operator's scanning service, asked over HTTP.
    case webhook

    /// Where the scanner may be used.
    public var directions: Set<GuardrailDirection> {
        switch self {
        case .secrets, .pii, .bannedSubstrings, .regex, .invisibleText, .webhook: return [.input, .output]
        case .promptInjection, .tokenLimit: return [.input]
        case .markdownImageExfil, .canary, .json: return [.output]
        }
    }
}

/// One scanner of a policy, with its action.
public struct GuardrailRule: Sendable {
    public var kind: ScannerKind
    public var action: GuardrailAction
    /// The name an operator gave a `regex` rule (shown in verdicts instead of the pattern).
    public var label: String?
    public var scanner: any TextScanner

    public init(kind: ScannerKind, action: GuardrailAction, label: String? = nil, scanner: any TextScanner) {
        self.kind = kind
        self.action = action
        self.label = label
        self.scanner = scanner
    }
}

/// A named guardrail policy: the input scanners run on every prompt text (messages, system
/// prompts, tool results), the output scanners on the answer, streamed or not.
public struct GuardrailPolicy: Sendable {
    public var name: String
    public var input: [GuardrailRule]
    public var output: [GuardrailRule]
    /// A prompt estimated above this many tokens is refused before it costs money.
    public var tokenLimit: Int?
    /// Plant a per-request canary in the system prompt and act on an answer that echoes it.
    public var canary: GuardrailAction
    /// What to do with an answer that is not valid JSON when the caller asked for JSON mode
    /// (`block` or `flag`: there is nothing to redact).
    public var json: GuardrailAction
    /// The operator's scanning services, input and output.
    public var webhooks: [GuardrailWebhook]

    public init(
        name: String, input: [GuardrailRule] = [], output: [GuardrailRule] = [], tokenLimit: Int? = nil,
        canary: GuardrailAction = .off, json: GuardrailAction = .off, webhooks: [GuardrailWebhook] = []
    ) {
        self.name = name
        self.input = input
        self.output = output
        self.tokenLimit = tokenLimit
        self.canary = canary
        self.json = json
        self.webhooks = webhooks
    }

    public var isEmpty: Bool {
        input.isEmpty && output.isEmpty && tokenLimit == nil && canary == .off && json == .off && webhooks.isEmpty
    }

    public func webhooks(_ direction: GuardrailDirection) -> [GuardrailWebhook] {
        webhooks.filter { $0.direction == direction }
    }

    /// Both policies apply (the stricter of two: whatever either blocks is blocked, whatever
    /// either redacts is redacted).
    public func combined(with other: GuardrailPolicy?) -> GuardrailPolicy {
        guard let other, other.name != name else { return self }
        return GuardrailPolicy(
            name: name + "+" + other.name, input: input + other.input, output: output + other.output,
            tokenLimit: [tokenLimit, other.tokenLimit].compactMap { $0 }.min(), canary: max(canary, other.canary),
            json: max(json, other.json), webhooks: webhooks + other.webhooks.filter { !webhooks.contains($0) })
    }
}

/// The JSON-mode check: an answer the caller asked to be JSON (OpenAI `response_format`
/// `json_object` or `json_schema`) must parse as JSON; a truncated one (`max_tokens` reached)
/// does not.
public enum JSONAnswerCheck {
    public static func isValid(_ text: String) -> Bool { JSONValue.parse(text) != nil }

    /// The check as a rule with `action` (it has no text scanner).
    public static func rule(_ action: GuardrailAction) -> GuardrailRule {
        GuardrailRule(kind: .json, action: action, scanner: NoScanner())
    }
}

/// A prompt's size in tokens, estimated without a tokenizer: one token per four UTF-8 bytes,
/// rounded up (close to what the providers' tokenizers give for English text and code).
public enum TokenEstimate {
    public static func tokens(inUTF8Bytes count: Int) -> Int { (count + 3) / 4 }
}
