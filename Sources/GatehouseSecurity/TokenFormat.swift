import Crypto
import Foundation

/// The Gatehouse caller token: a compact JWS (RFC 7515) signed with Ed25519 (EdDSA, RFC 8037).
///
/// ```
/// base64url(header) "." base64url(claims) "." base64url(signature)
/// ```
///
/// - **Header**, exactly `{"alg":"EdDSA","typ":"JWT","kid":"<kid>"}`. `kid` names the signing key: `k` followed by
///   the first 8 hex digits of the SHA-256 of the raw 32-byte public key. Verifiers refuse any other `alg`
///   (`none`, `HS256`, `RS256`, …), a missing `alg`, and any extra member (`crit`, `jwk`, `jku`, `x5u`, …):
///   keys come only from the verifier's trust store, never from the token.
/// - **Claims**, canonical compact JSON (sorted keys, no whitespace, `/` unescaped):
///   `aud` (string, default `gatehouse`), `exp`, `iat`, `nbf` (integer seconds since 1970), `iss` (`gatehouse`),
///   `jti` (128 random bits, 32 lower-case hex digits), `models` (non-empty array of ``ModelPattern`` globs), `sub`
///   (who the token is for, 1–128 printable ASCII characters); optionally `scopes` (``TokenScope`` names, such as
///   `admin`), `guardrails` (a policy name), and the limits the authority sets (``TokenLimits``): `team`,
///   `budget_usd` (decimal dollars as a string) with `budget_period`, `rpm`, `tpm`. Unknown claims are ignored,
///   and an unknown scope grants nothing.
/// - **Signature**, 64 bytes: Ed25519 over the ASCII bytes of `base64url(header) "." base64url(claims)`.
///
/// Base64url is unpadded and must be canonical. A token is at most ``maximumLength`` bytes. Verification checks the
/// size, the shape, the header, the key and the signature, and only then parses the claims, so unauthenticated
/// bytes never reach the claims parser.
public enum TokenFormat {
    /// The only accepted JWS `alg`.
    public static let algorithm = "EdDSA"
    /// The `iss` every token carries.
    public static let issuer = "gatehouse"
    /// The `aud` used when none is given.
    public static let defaultAudience = "gatehouse"
    /// The longest token accepted, in bytes.
    public static let maximumLength = 4096
    /// The longest lifetime a token may be minted with: 30 days.
    public static let maximumLifetime: TimeInterval = 30 * 24 * 60 * 60

    /// The key id for a public key: `k` + first 8 hex digits of SHA-256 of its raw representation.
    public static func keyID(for publicKey: Curve25519.Signing.PublicKey) -> String {
        "k" + Hex.encode(SHA256.hash(data: publicKey.rawRepresentation).prefix(4))
    }

    /// True for ids usable as file names and inside the header without escaping: `[A-Za-z0-9_-]{1,64}`.
    static func isValidKeyID(_ kid: String) -> Bool {
        let bytes = Array(kid.utf8)
        return !bytes.isEmpty && bytes.count <= 64
            && bytes.allSatisfy { char in
                switch char {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    true
                default:
                    false
                }
            }
    }

    /// The exact header JSON for a key id that passed ``isValidKeyID(_:)``.
    static func header(keyID: String) -> String {
        #"{"alg":"EdDSA","typ":"JWT","kid":""# + keyID + #""}"#
    }

    /// The header members a token may carry.
    static let headerMembers: Set<String> = ["alg", "typ", "kid"]
}

/// The claims set as it appears on the wire.
struct TokenClaims: Codable, Sendable {
    var aud: String
    var budget_period: String?
    var budget_usd: String?
    var exp: Int64
    /// The guardrail policy the authority attaches to the token (the stricter of it and the model's applies).
    var guardrails: String?
    var iat: Int64
    var iss: String
    var jti: String
    var models: [String]
    var nbf: Int64
    var rpm: Int64?
    /// What the token may do besides calling models (``TokenScope``); absent for a plain caller.
    var scopes: [String]?
    var sub: String
    var team: String?
    var tpm: Int64?

    /// Canonical compact JSON: sorted keys, no insignificant whitespace.
    func canonicalJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// Parses operator-friendly durations such as `30s`, `15m`, `2h`, `1d` or plain seconds (`900`).
public enum TokenLifetime {
    /// The lifetime used when none is given: 15 minutes.
    public static let defaultValue: TimeInterval = 15 * 60

    /// Returns the duration in seconds, or nil for anything else (including zero, negatives and fractions).
    public static func parse(_ text: String) -> TimeInterval? {
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var unit: TimeInterval = 1
        if let last = digits.last, let multiplier = units[last] {
            unit = multiplier
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int(digits), value > 0
        else { return nil }
        return TimeInterval(value) * unit
    }
}

/// What a token may do besides calling the models its `models` claim allows.
public enum TokenScope: String, Sendable, CaseIterable {
    /// Operator views of the gateway (`GET /v1/gatehouse/routes`, usage of every caller).
    case admin
    /// Usage reports (`GET /v1/gatehouse/usage`), of every caller.
    case usageRead = "usage:read"
}

/// The limits a token's authority sets on it: they travel as signed claims, so a gateway can
/// apply them and tighten them with its own configuration, never raise them.
public struct TokenLimits: Sendable, Hashable {
    /// The team the caller belongs to (team budgets and limits, usage by team).
    public var team: String?
    /// The most the token may spend, in decimal US dollars (`"0.50"`), per ``budgetPeriod``.
    public var budgetUSD: String?
    /// `day`, `week`, `month` or `total` (the default when a budget is given).
    public var budgetPeriod: String?
    /// Requests per minute.
    public var requestsPerMinute: Int64?
    /// Tokens (prompt and completion) per minute.
    public var tokensPerMinute: Int64?

    public init(
        team: String? = nil, budgetUSD: String? = nil, budgetPeriod: String? = nil, requestsPerMinute: Int64? = nil,
        tokensPerMinute: Int64? = nil
    ) {
        self.team = team
        self.budgetUSD = budgetUSD
        self.budgetPeriod = budgetPeriod
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
    }

    public static let periods: Set<String> = ["day", "week", "month", "total"]

    /// A decimal amount of dollars: digits, and up to nine after a point.
    public static func isValidAmount(_ text: String) -> Bool {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 10, whole.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return false }
        guard parts.count == 2 else { return true }
        return !parts[1].isEmpty && parts[1].count <= 9 && parts[1].allSatisfy { $0.isASCII && $0.isNumber }
    }
}
