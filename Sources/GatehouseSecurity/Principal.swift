import Foundation

/// The caller a verified token speaks for, and what it may do.
///
/// Only ``TokenVerifier`` produces principals from the wire; the public initializer exists for tests and for
/// in-process wiring. Model access fails closed: a pattern that does not parse matches nothing.
public struct Principal: Sendable, Hashable {
    /// Who the token was minted for (`sub`).
    public let subject: String
    /// The token's unique id (`jti`), for audit and revocation.
    public let tokenID: String
    /// The model globs from the `models` claim, as written.
    public let modelPatterns: [String]
    /// When the token was minted (`iat`).
    public let issuedAt: Date
    /// When the token stops being valid (`exp`).
    public let expiresAt: Date
    /// The id of the key that signed the token (`kid`), if known.
    public let keyID: String?
    /// What the token may do besides calling models.
    public let scopes: Set<TokenScope>
    /// The guardrail policy the token carries, if any (a gateway that does not know it refuses the token's requests).
    public let guardrails: String?
    /// The limits the token carries (team, budget, rates).
    public let limits: TokenLimits
    private let patterns: [ModelPattern]

    public init(
        subject: String,
        tokenID: String,
        modelPatterns: [String],
        issuedAt: Date,
        expiresAt: Date,
        keyID: String? = nil,
        scopes: Set<TokenScope> = [],
        guardrails: String? = nil,
        limits: TokenLimits = TokenLimits()
    ) {
        self.subject = subject
        self.tokenID = tokenID
        self.modelPatterns = modelPatterns
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.keyID = keyID
        self.scopes = scopes
        self.guardrails = guardrails
        self.limits = limits
        self.patterns = modelPatterns.compactMap(ModelPattern.init)
    }

    /// True when some pattern in the token matches `model` (anchored, case-sensitive, `*` for any run).
    public func allows(model: String) -> Bool {
        patterns.contains { $0.matches(model) }
    }
}
