/// What a guardrail scanner found in a text: its type and where, never the matched text itself
/// (a finding is safe to log, count and record).
public struct Finding: Sendable, Equatable {
    public var type: FindingType
    /// Where, as a range of UTF-8 byte offsets into the scanned text (half-open).
    public var range: Range<Int>
    /// How strongly a heuristic scanner (prompt injection) believes it, 0...1; 1 for pattern matches.
    public var score: Double

    public init(_ type: FindingType, _ range: Range<Int>, score: Double = 1) {
        self.type = type
        self.range = range
        self.score = score
    }
}

/// The names of what scanners find (a contract: `gatehouse guard scan`, audit records and metrics use them).
public enum FindingType: String, Sendable, CaseIterable, Comparable {
    // secrets
    case awsAccessKey = "aws_access_key"
    case awsSecretKey = "aws_secret_key"
    case openAIKey = "openai_key"
    case anthropicKey = "anthropic_key"
    case googleAPIKey = "google_api_key"
    case githubToken = "github_token"
    case gitlabToken = "gitlab_token"
    case slackToken = "slack_token"
    case stripeKey = "stripe_key"
    case huggingFaceToken = "huggingface_token"
    case groqKey = "groq_key"
    case jwt
    case privateKey = "private_key"
    case genericSecret = "generic_secret"
    // personal data
    case email
    case phone
    case creditCard = "credit_card"
    case iban
    case usSSN = "us_ssn"
    case ipAddress = "ip_address"
    case name
    // the rest
    case invisibleText = "invisible_text"
    case promptInjection = "prompt_injection"
    case bannedSubstring = "banned_substring"
    case regex
    case markdownImageExfil = "markdown_image_exfil"
    case canary
    case tokenLimit = "token_limit"
    case invalidJSON = "invalid_json"
    case webhook
    case webhookUnavailable = "webhook_unavailable"

    public static func < (a: FindingType, b: FindingType) -> Bool { a.rawValue < b.rawValue }

    /// The placeholder label for a redacted value of this type (`[EMAIL_1]`, `[OPENAI_KEY_1]`).
    public var placeholderLabel: String { rawValue.uppercased() }
}

/// A scanner: a pure function from a text to what it found in it. No I/O, no state between calls.
public protocol TextScanner: Sendable {
    func scan(_ text: String) -> [Finding]
}

/// The scanner of a rule that reads no text itself (the token limit, the JSON check, webhooks):
/// the rule is there for its kind and action, which verdicts record.
public struct NoScanner: TextScanner {
    public init() {}
    public func scan(_ text: String) -> [Finding] { [] }
}
