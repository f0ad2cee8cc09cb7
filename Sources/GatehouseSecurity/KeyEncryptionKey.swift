import Crypto
import Foundation

/// The master key (key-encryption key) that seals provider keys at rest with AES-256-GCM.
///
/// Threat assumptions: anyone who holds this key and the `keys/` directory holds every provider key, so it is
/// read only by the keyholder and the key-management CLI. It comes from `GATEHOUSE_MASTER_KEY` or from
/// `master.key`, which is created owner-only on first use; an existing file whose mode grants group or others any
/// permission is refused, as ssh refuses a readable private key. Errors never echo the key or the variable's value.
/// ``id`` identifies the key without revealing anything about it (an HMAC of a fixed label, not a hash of the key).
public struct KeyEncryptionKey: Sendable, CustomStringConvertible {
    /// The environment variable that, when set, supplies the master key.
    public static let environmentVariable = "GATEHOUSE_MASTER_KEY"

    /// Where a master key came from.
    public enum Source: Sendable, Hashable {
        case environment
        case file(URL)
        case provided
    }

    /// First 8 hex digits of HMAC-SHA256(key, "gatehouse.kek-id.v1"): names the key in sealed files and messages.
    public let id: String
    /// Where the key came from, for operator messages.
    public let source: Source
    let key: SymmetricKey

    /// Wraps a 256-bit key.
    public init(key: SymmetricKey) throws {
        try self.init(key: key, source: .provided)
    }

    private init(key: SymmetricKey, source: Source) throws {
        guard key.bitCount == 256 else {
            throw KeyStoreError(code: "invalid_master_key", message: "the master key must be 32 bytes (256 bits)")
        }
        self.key = key
        self.source = source
        let mac = HMAC<SHA256>.authenticationCode(for: Data("gatehouse.kek-id.v1".utf8), using: key)
        self.id = Hex.encode(Data(mac).prefix(4))
    }

    public var description: String { "KeyEncryptionKey(id: \(id))" }

    /// Loads the master key: `GATEHOUSE_MASTER_KEY` if set, else `master.key` in the state directory, creating it
    /// (32 random bytes, base64, mode 0600) on first use.
    ///
    /// Both accept 64 hex digits or base64 of 32 bytes, surrounded by optional whitespace.
    public static func load(from state: StateDirectory, environment: [String: String]) throws -> KeyEncryptionKey {
        if let value = environment[environmentVariable] {
            guard let key = parse(value) else {
                throw KeyStoreError(
                    code: "invalid_master_key",
                    message: "\(environmentVariable) is set but is not 64 hex digits or base64 of 32 bytes "
                        + "(generate one with: openssl rand -base64 32)"
                )
            }
            return try KeyEncryptionKey(key: key, source: .environment)
        }
        let file = state.masterKeyFile
        if let existing = try readFile(file) { return existing }
        try state.prepare()
        let generated = SymmetricKey(size: .bits256)
        let text = generated.withUnsafeBytes { Data($0).base64EncodedString() } + "\n"
        do {
            try FileSystem.writeAtomically(Data(text.utf8), to: file, mode: 0o600, replacing: false)
            return try KeyEncryptionKey(key: generated, source: .file(file))
        } catch is FileSystem.AlreadyExists {
            // Another process created it first; use theirs.
            guard let winner = try readFile(file) else {
                throw StateError.missingFile(file.path, "the master key vanished while creating it")
            }
            return winner
        }
    }

    private static func readFile(_ file: URL) throws -> KeyEncryptionKey? {
        guard let data = try FileSystem.readFile(file, maxBytes: 1024, exposure: .privateToOwner) else { return nil }
        guard let key = parse(String(decoding: data, as: UTF8.self)) else {
            throw KeyStoreError(
                code: "invalid_master_key",
                message: "'\(file.path)' does not hold 64 hex digits or base64 of 32 bytes"
            )
        }
        return try KeyEncryptionKey(key: key, source: .file(file))
    }

    /// Parses 64 hex digits or base64 of exactly 32 bytes.
    static func parse(_ text: String) -> SymmetricKey? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.utf8.count == 64, let bytes = Hex.decode(trimmed) {
            return SymmetricKey(data: bytes)
        }
        if let data = Data(base64Encoded: trimmed), data.count == 32 {
            return SymmetricKey(data: data)
        }
        return nil
    }
}
