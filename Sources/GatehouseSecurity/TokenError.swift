/// Why a presented token was refused.
///
/// The ``code`` is stable and safe for logs, audit records and metric labels. Callers over HTTP should see only a
/// generic "invalid token" message: telling an attacker which check failed helps them forge.
public struct TokenError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: String, Sendable {
        case malformed
        case unsupportedAlgorithm = "unsupported_algorithm"
        case unknownKey = "unknown_key"
        case badSignature = "bad_signature"
        case expired
        case notYetValid = "not_yet_valid"
        case wrongAudience = "wrong_audience"
        case invalidClaims = "invalid_claims"
    }

    private let value: Code

    private init(_ value: Code) { self.value = value }

    /// A stable short code: `malformed`, `unsupported_algorithm`, `unknown_key`, `bad_signature`, `expired`,
    /// `not_yet_valid`, `wrong_audience` or `invalid_claims`.
    public var code: String { value.rawValue }

    public var description: String { "token refused: \(code)" }

    /// Too long, not three parts, bad base64url, or a header that is not a JSON object with a kid.
    public static let malformed = TokenError(.malformed)
    /// The header asks for anything but plain EdDSA: another `alg`, or members such as `crit`, `jwk`, `jku`, `x5u`.
    public static let unsupportedAlgorithm = TokenError(.unsupportedAlgorithm)
    /// No trusted public key has the header's `kid`.
    public static let unknownKey = TokenError(.unknownKey)
    /// The signature does not verify under the named key.
    public static let badSignature = TokenError(.badSignature)
    /// `exp` is in the past (beyond the leeway).
    public static let expired = TokenError(.expired)
    /// `nbf` is in the future (beyond the leeway).
    public static let notYetValid = TokenError(.notYetValid)
    /// `aud` names another audience.
    public static let wrongAudience = TokenError(.wrongAudience)
    /// Claims are missing, of the wrong type, or inconsistent.
    public static let invalidClaims = TokenError(.invalidClaims)
}
