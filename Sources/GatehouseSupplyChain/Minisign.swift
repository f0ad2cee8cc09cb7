import Crypto
import Foundation

/// A minisign public key: the algorithm tag `Ed`, an 8-byte key id and an Ed25519 public key.
///
/// The file form is two lines, `untrusted comment: minisign public key <ID>` and the base64 of the 42 bytes;
/// `minisign -V -p FILE` reads the same file.
public struct MinisignPublicKey: Sendable, Hashable {
    /// The 8-byte key id that signatures name.
    public let keyID: [UInt8]
    /// The raw 32-byte Ed25519 public key.
    public let rawKey: [UInt8]

    /// Creates a key from its id and raw bytes; fails unless the id is 8 bytes and the key a valid Ed25519 key.
    public init(keyID: [UInt8], rawKey: [UInt8]) throws(MinisignError) {
        guard keyID.count == 8, rawKey.count == 32,
            (try? Curve25519.Signing.PublicKey(rawRepresentation: rawKey)) != nil
        else { throw .malformedPublicKey }
        self.keyID = keyID
        self.rawKey = rawKey
    }

    /// Parses a public key file, or the bare base64 line `minisign -P` takes.
    public init(text: String) throws(MinisignError) {
        guard let bytes = Minisign.keyBytes(text, count: 42) else { throw .malformedPublicKey }
        try self.init(keyID: Array(bytes[2..<10]), rawKey: Array(bytes[10..<42]))
    }

    /// The key id as minisign prints it: the 8 bytes read as a little-endian integer, in upper-case hex.
    public var keyIDHex: String { Minisign.keyIDHex(keyID) }

    /// The base64 line (`Ed` + key id + key).
    public var base64: String { Data([UInt8(ascii: "E"), UInt8(ascii: "d")] + keyID + rawKey).base64EncodedString() }

    /// The public key file's text, as `minisign -G` writes it.
    public var fileText: String { "untrusted comment: minisign public key \(keyIDHex)\n\(base64)\n" }
}

/// A minisign secret key, held unencrypted in memory for signing.
///
/// Threat assumptions: whoever can read this value can sign releases. It is read from a file or environment
/// variable the release operator names, never from the repository, and is never printed or logged. Only unencrypted
/// key files (`minisign -G -W`, or ``make()``) are accepted; password-protected ones are refused with
/// ``MinisignError/encryptedSecretKey`` rather than guessed at.
public struct MinisignSecretKey: Sendable {
    /// The 8-byte key id written into every signature.
    public let keyID: [UInt8]
    private let privateKey: Curve25519.Signing.PrivateKey

    /// The matching public key.
    public var publicKey: MinisignPublicKey {
        get throws(MinisignError) {
            try MinisignPublicKey(keyID: keyID, rawKey: Array(privateKey.publicKey.rawRepresentation))
        }
    }

    private init(keyID: [UInt8], privateKey: Curve25519.Signing.PrivateKey) {
        self.keyID = keyID
        self.privateKey = privateKey
    }

    /// Generates a new random key with a random key id.
    public static func make() -> MinisignSecretKey {
        var id = [UInt8](repeating: 0, count: 8)
        var generator = SystemRandomNumberGenerator()
        for index in id.indices { id[index] = UInt8.random(in: .min ... .max, using: &generator) }
        return MinisignSecretKey(keyID: id, privateKey: Curve25519.Signing.PrivateKey())
    }

    /// Parses an unencrypted minisign secret key file (or its base64 line).
    ///
    /// Layout (158 bytes): `Ed`, KDF (`\0\0` unencrypted, `Sc` scrypt), checksum algorithm `B2`, 32-byte salt,
    /// 8-byte opslimit, 8-byte memlimit, then key id (8), secret key (64: seed and public key) and a BLAKE2b-256
    /// checksum of `Ed` + key id + secret key.
    public init(text: String) throws(MinisignError) {
        guard let bytes = Minisign.keyBytes(text, count: 158) else { throw .malformedSecretKey }
        if bytes[2] == UInt8(ascii: "S") && bytes[3] == UInt8(ascii: "c") { throw .encryptedSecretKey }
        guard bytes[2] == 0, bytes[3] == 0, bytes[4] == UInt8(ascii: "B"), bytes[5] == UInt8(ascii: "2")
        else { throw .malformedSecretKey }
        let keyID = Array(bytes[54..<62])
        let secret = Array(bytes[62..<126])
        let checksum = Array(bytes[126..<158])
        // minisign 0.11 writes an all-zero checksum for unencrypted (-W) keys; any other value must match. Either
        // way the public half must match the seed below, which catches a damaged key as well.
        let expected = BLAKE2b.hash([UInt8(ascii: "E"), UInt8(ascii: "d")] + keyID + secret, digestLength: 32)
        guard checksum == expected || checksum.allSatisfy({ $0 == 0 }) else { throw .secretKeyChecksum }
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: secret[0..<32]),
            Array(key.publicKey.rawRepresentation) == Array(secret[32..<64])
        else { throw .malformedSecretKey }
        self.init(keyID: keyID, privateKey: key)
    }

    /// The unencrypted secret key file's text, as `minisign -G -W` writes it. Write it with mode 0600.
    public var fileText: String {
        let secret = Array(privateKey.rawRepresentation) + Array(privateKey.publicKey.rawRepresentation)
        let checksum = BLAKE2b.hash([UInt8(ascii: "E"), UInt8(ascii: "d")] + keyID + secret, digestLength: 32)
        var bytes: [UInt8] = [UInt8(ascii: "E"), UInt8(ascii: "d"), 0, 0, UInt8(ascii: "B"), UInt8(ascii: "2")]
        bytes += [UInt8](repeating: 0, count: 32 + 8 + 8)
        bytes += keyID + secret + checksum
        return "untrusted comment: minisign secret key \(Minisign.keyIDHex(keyID))\n"
            + Data(bytes).base64EncodedString() + "\n"
    }

    /// Signs a file's contents the way `minisign -S` does: an `ED` signature over the BLAKE2b-512 digest, and a
    /// global signature over that signature followed by the trusted comment.
    public func sign(
        digest: [UInt8], trustedComment: String,
        untrustedComment: String = "signature from minisign secret key"
    ) throws(MinisignError) -> MinisignSignature {
        guard !trustedComment.contains(where: \.isNewline), !untrustedComment.contains(where: \.isNewline) else {
            throw .invalidComment
        }
        guard digest.count == 64 else { throw .malformedSignature }
        guard let signature = try? privateKey.signature(for: digest),
            let global = try? privateKey.signature(for: Array(signature) + Array(trustedComment.utf8))
        else { throw .badSignature }
        return MinisignSignature(
            untrustedComment: untrustedComment, keyID: keyID, signature: Array(signature),
            trustedComment: trustedComment, globalSignature: Array(global))
    }
}

/// A minisign signature file: untrusted comment, `ED` + key id + signature, trusted comment, global signature.
public struct MinisignSignature: Sendable, Hashable {
    /// The first line's comment; not covered by any signature.
    public let untrustedComment: String
    /// The id of the key that made the signature.
    public let keyID: [UInt8]
    /// Ed25519 signature over the BLAKE2b-512 digest of the file.
    public let signature: [UInt8]
    /// The third line's comment, covered by ``globalSignature`` (minisign puts a timestamp and file name here).
    public let trustedComment: String
    /// Ed25519 signature over ``signature`` followed by the trusted comment's UTF-8 bytes.
    public let globalSignature: [UInt8]

    /// Creates a signature value from its parts.
    public init(
        untrustedComment: String, keyID: [UInt8], signature: [UInt8], trustedComment: String,
        globalSignature: [UInt8]
    ) {
        self.untrustedComment = untrustedComment
        self.keyID = keyID
        self.signature = signature
        self.trustedComment = trustedComment
        self.globalSignature = globalSignature
    }

    private static let untrustedPrefix = "untrusted comment: "
    private static let trustedPrefix = "trusted comment: "

    /// Parses a `.minisig` file. Only prehashed (`ED`) signatures are accepted.
    public init(text: String) throws(MinisignError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        guard lines.count >= 4, lines[4...].allSatisfy(\.isEmpty),
            lines[0].hasPrefix(Self.untrustedPrefix), lines[2].hasPrefix(Self.trustedPrefix),
            let sig = Data(base64Encoded: lines[1]).map(Array.init), sig.count == 74,
            let global = Data(base64Encoded: lines[3]).map(Array.init), global.count == 64
        else { throw .malformedSignature }
        guard sig[0] == UInt8(ascii: "E"), sig[1] == UInt8(ascii: "D") else { throw .unsupportedAlgorithm }
        self.init(
            untrustedComment: String(lines[0].dropFirst(Self.untrustedPrefix.count)),
            keyID: Array(sig[2..<10]), signature: Array(sig[10..<74]),
            trustedComment: String(lines[2].dropFirst(Self.trustedPrefix.count)), globalSignature: global)
    }

    /// The `.minisig` file's text.
    public var fileText: String {
        let sig = [UInt8(ascii: "E"), UInt8(ascii: "D")] + keyID + signature
        return Self.untrustedPrefix + untrustedComment + "\n" + Data(sig).base64EncodedString() + "\n"
            + Self.trustedPrefix + trustedComment + "\n" + Data(globalSignature).base64EncodedString() + "\n"
    }

    /// Verifies this signature for a file whose BLAKE2b-512 digest is `digest`, as `minisign -V` does: the key id
    /// must match, the signature must verify over the digest, and the global signature over the signature and the
    /// trusted comment.
    public func verify(digest: [UInt8], publicKey: MinisignPublicKey) throws(MinisignError) {
        guard keyID == publicKey.keyID else { throw .keyMismatch }
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey.rawKey) else {
            throw .malformedPublicKey
        }
        guard key.isValidSignature(signature, for: digest) else { throw .badSignature }
        guard key.isValidSignature(globalSignature, for: signature + Array(trustedComment.utf8)) else {
            throw .badGlobalSignature
        }
    }
}

/// Helpers shared by the minisign types.
public enum Minisign {
    /// The BLAKE2b-512 digest of a file, read in 1 MiB chunks.
    public static func digest(ofFileAt path: String) throws -> [UInt8] {
        var hasher = BLAKE2b(digestLength: 64)
        try forEachChunk(ofFileAt: path) { hasher.update(Array($0)) }
        return hasher.finalize()
    }

    /// The lower-case hex SHA-256 of a file, as `sha256sum` prints it, read in 1 MiB chunks.
    public static func sha256Hex(ofFileAt path: String) throws -> String {
        var hasher = SHA256()
        try forEachChunk(ofFileAt: path) { hasher.update(data: $0) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    private static func forEachChunk(ofFileAt path: String, _ body: (Data) -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            body(chunk)
        }
    }

    /// The bytes of a key file's base64 line (comment lines skipped) if they are `count` bytes starting with `Ed`.
    static func keyBytes(_ text: String, count: Int) -> [UInt8]? {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        let candidates = lines.filter { !$0.isEmpty && !$0.hasPrefix("untrusted comment:") }
        guard candidates.count == 1, let bytes = Data(base64Encoded: candidates[0]).map(Array.init),
            bytes.count == count, bytes[0] == UInt8(ascii: "E"), bytes[1] == UInt8(ascii: "d")
        else { return nil }
        return bytes
    }

    /// The key id in minisign's notation: the bytes as a little-endian 64-bit integer, upper-case hex.
    static func keyIDHex(_ keyID: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in keyID.reversed() {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
