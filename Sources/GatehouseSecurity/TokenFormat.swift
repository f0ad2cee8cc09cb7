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
///   `admin`). Unknown claims are ignored, and an unknown scope grants nothing.
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
    var exp: Int64
    /// The guardrail policy the authority attaches to the token (the stricter of it and the model's applies).
    var guardrails: String?
    var iat: Int64
    var iss: String
    var jti: String
    var models: [String]
    var nbf: Int64
    /// What the token may do besides calling models (``TokenScope``); absent for a plain caller.
    var scopes: [String]?
    var sub: String

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
    /// Operator views of the gateway (`GET /v1/gatehouse/routes`).
    case admin
}
