/// Why a minisign key or signature was refused.
///
/// The ``code`` is stable and short; ``description`` adds a sentence for the operator. Nothing here ever includes
/// secret key material.
public struct MinisignError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: String, Sendable {
        case malformedPublicKey = "malformed_public_key"
        case malformedSecretKey = "malformed_secret_key"
        case encryptedSecretKey = "encrypted_secret_key"
        case secretKeyChecksum = "secret_key_checksum"
        case malformedSignature = "malformed_signature"
        case unsupportedAlgorithm = "unsupported_algorithm"
        case keyMismatch = "key_mismatch"
        case badSignature = "bad_signature"
        case badGlobalSignature = "bad_global_signature"
        case invalidComment = "invalid_comment"
    }

    private let value: Code
    private let detail: String

    private init(_ value: Code, _ detail: String) {
        self.value = value
        self.detail = detail
    }

    /// A stable short code, e.g. `bad_signature`.
    public var code: String { value.rawValue }

    public var description: String { detail }

    /// The public key is not minisign's `Ed` + key id + 32-byte key in base64.
    public static let malformedPublicKey = MinisignError(
        .malformedPublicKey, "not a minisign public key (expected base64 of 'Ed', an 8-byte key id and 32 key bytes)")
    /// The secret key file is not minisign's 158-byte structure.
    public static let malformedSecretKey = MinisignError(.malformedSecretKey, "not a minisign secret key")
    /// The secret key is password-protected (scrypt); this tool signs only with unencrypted keys.
    public static let encryptedSecretKey = MinisignError(
        .encryptedSecretKey,
        "the secret key is password-protected; decrypt it to a private tmpfs first or create one with `minisign -G -W`"
    )
    /// The secret key's BLAKE2b-256 checksum does not match: wrong or damaged key.
    public static let secretKeyChecksum = MinisignError(
        .secretKeyChecksum, "the secret key's checksum does not match (damaged file?)")
    /// The signature file is not four lines of untrusted comment, signature, trusted comment, global signature.
    public static let malformedSignature = MinisignError(.malformedSignature, "not a minisign signature file")
    /// The signature is not a prehashed (`ED`) Ed25519 signature.
    public static let unsupportedAlgorithm = MinisignError(
        .unsupportedAlgorithm, "only prehashed (ED, BLAKE2b-512) minisign signatures are accepted")
    /// The signature was made by a key with another key id.
    public static let keyMismatch = MinisignError(.keyMismatch, "the signature was made with a different key")
    /// The signature over the file's BLAKE2b-512 digest does not verify: the file or the signature was altered.
    public static let badSignature = MinisignError(
        .badSignature, "signature verification failed: the file or its signature was altered")
    /// The global signature over the signature and trusted comment does not verify.
    public static let badGlobalSignature = MinisignError(
        .badGlobalSignature, "the trusted comment was altered (global signature does not verify)")
    /// A comment contains a line break, which the format cannot carry.
    public static let invalidComment = MinisignError(.invalidComment, "comments must be a single line")
}
