import Crypto
import Foundation

/// The Ed25519 key that signs audit checkpoints, kept apart from the token authority's key.
///
/// Stored in `<state>/audit/audit-signing.key` (0600, refused if group or others have any permission) in the
/// signed-note signer format `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`, with the public half in
/// `<state>/audit/audit.pub` (0644) in the verifier format `<name>+<hash>+<base64(0x01 || public key)>`, which
/// Go's `golang.org/x/mod/sumdb/note` and C2SP tooling read as they are. The name is
/// `gatehouse/audit/<first 8 hex digits of SHA-256 of the public key>` and doubles as the checkpoint origin.
///
/// Threat assumptions: whoever holds this key can sign checkpoints for any history, so it must not be readable by
/// the front process or by other local users. It is distinct from the token authority's key, so stealing one does
/// not give the other. The key cannot protect records written after the last checkpoint that was copied off the
/// machine from an attacker who holds it and can write the log (see docs/audit.md). `description` never shows key
/// material.
public struct AuditSigningKey: Sendable, CustomStringConvertible {
    /// The key name, also the checkpoint origin.
    public let name: String
    let privateKey: Curve25519.Signing.PrivateKey

    /// A signing key with `name` (default: derived from the public key).
    public init(privateKey: Curve25519.Signing.PrivateKey, name: String? = nil) throws {
        let chosen = name ?? Self.defaultName(for: privateKey.publicKey)
        guard AuditVerifierKey.isValidName(chosen) else {
            throw AuditError(
                code: "invalid_signing_key", message: "a key name must be non-empty, with no spaces and no '+'")
        }
        self.name = chosen
        self.privateKey = privateKey
    }

    /// The matching verifier key.
    public var verifierKey: AuditVerifierKey {
        AuditVerifierKey(name: name, publicKey: privateKey.publicKey.rawRepresentation)
    }

    public var description: String { "AuditSigningKey(\(verifierKey.vkey))" }

    /// `gatehouse/audit/` + the first 8 hex digits of SHA-256 of the raw public key.
    public static func defaultName(for publicKey: Curve25519.Signing.PublicKey) -> String {
        "gatehouse/audit/" + Hex.encode(SHA256.hash(data: publicKey.rawRepresentation).prefix(4))
    }

    /// The signer-key text written to `audit-signing.key`.
    var signerKeyText: String {
        let hash = verifierKey.keyHashHex
        return "PRIVATE+KEY+\(name)+\(hash)+" + Data([0x01] + privateKey.rawRepresentation).base64EncodedString()
    }

    /// Parses the signer-key format; throws `invalid_signing_key`.
    init(signerKeyText text: String) throws {
        let invalid = AuditError(
            code: "invalid_signing_key", message: "expected PRIVATE+KEY+<name>+<hash>+<base64 Ed25519 key>")
        // The key data is base64 and may itself contain '+', so only the first four separate fields.
        let parts = text.split(separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY",
            let raw = Data(base64Encoded: String(parts[4])), raw.count == 33, raw.first == 0x01,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw.dropFirst())
        else { throw invalid }
        try self.init(privateKey: key, name: String(parts[2]))
        guard verifierKey.keyHashHex == parts[3] else { throw invalid }
    }

    /// Loads the audit signing key from `<state>/audit/`, or creates it (and `audit.pub`) on first use.
    ///
    /// Concurrent first runs agree on one key: the key file is linked into place exclusively and the loser reads
    /// the winner's. A missing `audit.pub` is restored; one that does not match the key is refused.
    public static func loadOrCreate(in state: StateDirectory) throws -> AuditSigningKey {
        let paths = try AuditPaths(state: state).prepare()
        if let existing = try load(paths) { return existing }
        let created = try AuditSigningKey(privateKey: Curve25519.Signing.PrivateKey())
        do {
            try FileSystem.writeAtomically(
                Data((created.signerKeyText + "\n").utf8), to: paths.signingKey, mode: 0o600, replacing: false)
        } catch is FileSystem.AlreadyExists {
            guard let winner = try load(paths) else {
                throw StateError.missingFile(paths.signingKey.path, "the audit key vanished while creating it")
            }
            return winner
        }
        try publish(created, paths)
        return created
    }

    private static func load(_ paths: AuditPaths) throws -> AuditSigningKey? {
        guard let data = try FileSystem.readFile(paths.signingKey, maxBytes: 1024, exposure: .privateToOwner) else {
            return nil
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let key: AuditSigningKey
        do {
            key = try AuditSigningKey(signerKeyText: text)
        } catch {
            throw StateError.invalidFile(paths.signingKey.path, "expected an audit signing key (PRIVATE+KEY+…)")
        }
        if let published = try FileSystem.readFile(paths.publicKey, maxBytes: 1024, exposure: .notWritableByOthers) {
            let publishedText = String(decoding: published, as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard publishedText == key.verifierKey.vkey else {
                throw StateError.invalidFile(paths.publicKey.path, "it does not match the audit signing key")
            }
        } else {
            try publish(key, paths)
        }
        return key
    }

    private static func publish(_ key: AuditSigningKey, _ paths: AuditPaths) throws {
        try FileSystem.writeAtomically(
            Data((key.verifierKey.vkey + "\n").utf8), to: paths.publicKey, mode: 0o644, replacing: true)
    }

    /// Signs a checkpoint; returns the complete signed note (body, blank line, one signature line).
    public func sign(_ checkpoint: AuditCheckpoint) throws -> String {
        let body = checkpoint.body
        let signature: Data
        do {
            signature = try privateKey.signature(for: Data(body.utf8))
        } catch {
            throw AuditError(code: "invalid_signing_key", message: "could not sign the audit checkpoint")
        }
        var hash = verifierKey.keyHash.bigEndian
        let hashBytes = withUnsafeBytes(of: &hash) { Array($0) }
        return body + "\n" + AuditNote.signaturePrefix + name + " "
            + Data(hashBytes + Array(signature)).base64EncodedString() + "\n"
    }
}

/// The public half of an ``AuditSigningKey``, in the signed-note verifier format
/// `<name>+<8 hex digits of key hash>+<base64(0x01 || 32-byte Ed25519 public key)>`.
///
/// The key hash is the first 4 bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || public key), as the C2SP
/// signed-note specification defines it for Ed25519.
public struct AuditVerifierKey: Sendable, Hashable, CustomStringConvertible {
    /// The key name (and expected checkpoint origin).
    public let name: String
    /// The raw 32-byte Ed25519 public key.
    public let publicKey: Data

    init(name: String, publicKey: Data) {
        self.name = name
        self.publicKey = publicKey
    }

    /// Parses the verifier format; throws `invalid_public_key`.
    public init(vkey text: String) throws {
        let invalid = AuditError(
            code: "invalid_public_key", message: "expected an audit public key <name>+<hash>+<base64 key>")
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, Self.isValidName(String(parts[0])),
            let raw = Data(base64Encoded: String(parts[2])), raw.count == 33, raw.first == 0x01,
            (try? Curve25519.Signing.PublicKey(rawRepresentation: raw.dropFirst())) != nil
        else { throw invalid }
        self.init(name: String(parts[0]), publicKey: Data(raw.dropFirst()))
        guard keyHashHex == parts[1] else { throw invalid }
    }

    /// Reads a verifier key from a file (such as `<state>/audit/audit.pub`); nil when it does not exist.
    public static func load(from url: URL) throws -> AuditVerifierKey? {
        guard let data = try FileSystem.readFile(url, maxBytes: 1024, exposure: .unchecked) else { return nil }
        return try AuditVerifierKey(vkey: String(decoding: data, as: UTF8.self))
    }

    /// The verifier-format text.
    public var vkey: String {
        "\(name)+\(keyHashHex)+" + Data([0x01] + publicKey).base64EncodedString()
    }

    public var description: String { vkey }

    /// The signed-note key hash.
    public var keyHash: UInt32 {
        var hasher = SHA256()
        hasher.update(data: Data(name.utf8))
        hasher.update(data: [0x0A, 0x01])
        hasher.update(data: publicKey)
        let digest = Array(hasher.finalize())
        return digest.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The key hash as 8 lower-case hex digits, as written in key texts.
    public var keyHashHex: String {
        var value = keyHash.bigEndian
        return withUnsafeBytes(of: &value) { Hex.encode($0) }
    }

    /// True when `signature` (64 bytes) is a valid Ed25519 signature of `message` under this key.
    func isValidSignature(_ signature: some DataProtocol, for message: some DataProtocol) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(Data(signature), for: Data(message))
    }

    /// Non-empty, printable, no whitespace and no `+` (signed-note key name rules).
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128
            && name.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "+") }
    }
}
