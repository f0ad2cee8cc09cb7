import Crypto
import Foundation

/// What the store knows about a sealed provider key without opening it.
public struct SealedKeyInfo: Sendable, Hashable {
    /// The key's name, e.g. `openai-prod`.
    public let name: String
    /// `sha256:` + first 16 hex digits of SHA-256 of the key, to tell keys apart without revealing them.
    public let fingerprint: String
    /// When the name was first sealed (whole seconds).
    public let createdAt: Date
    /// When the key was last rotated (whole seconds), if ever.
    public let rotatedAt: Date?
    /// The id of the master key it is sealed under.
    public let kekID: String
}

/// Provider keys sealed at rest with AES-256-GCM under a ``KeyEncryptionKey``, one file per key.
///
/// Each key lives in `keys/<name>.json` (mode 0600, written atomically; `rotated_at` only after a rotation):
/// ```
/// {"created_at":"…","fingerprint":"sha256:…","kek_id":"…","name":"…",
///  "rotated_at":"…","sealed":"<base64>","version":1}
/// ```
/// `sealed` is the AES-GCM combined form (nonce, ciphertext, tag) with additional authenticated data
/// `"gatehouse.sealed-key.v1:" + name`, so a file copied or renamed to another name does not open.
///
/// Threat assumptions: the files may be read or modified by an attacker who does not hold the master key. Reading
/// them reveals names, fingerprints and dates only; any modification makes ``unseal(name:)`` fail with
/// `unseal_failed`. Names are restricted to `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`, which also rules out path traversal.
/// Only the keyholder process should call ``unseal(name:)``.
public struct SealedKeyStore: Sendable {
    /// The state directory whose `keys/` holds the sealed files.
    public let state: StateDirectory
    private let kek: KeyEncryptionKey

    private static let aadPrefix = "gatehouse.sealed-key.v1:"
    private static let maximumSecretLength = 16 * 1024

    /// A store in `state` sealing under `kek`.
    public init(state: StateDirectory, kek: KeyEncryptionKey) {
        self.state = state
        self.kek = kek
    }

    /// True for names matching `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64, isAlphanumeric(first) else { return false }
        return bytes.allSatisfy {
            isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    /// `sha256:` + first 16 hex digits of SHA-256 of the secret's bytes.
    public static func fingerprint(of secret: Secret) -> String {
        "sha256:" + secret.withUnsafeBytes { Hex.encode(SHA256.hash(data: $0).prefix(8)) }
    }

    /// Seals `secret` under `name`. Throws `already_exists` if the name is taken and `replace` is false; replacing
    /// starts a fresh record.
    ///
    /// One trailing newline (`\n` or `\r\n`) is removed; the rest must be 1–16384 printable ASCII characters with no
    /// whitespace, or the call throws `invalid_secret`.
    @discardableResult
    public func add(name: String, secret: Secret, replace: Bool = false, now: Date = Date()) throws -> SealedKeyInfo {
        try Self.validate(name: name)
        let material = try Self.normalize(secret, name: name)
        let created = Timestamp.wholeSeconds(now)
        return try write(name: name, secret: material, createdAt: created, rotatedAt: nil, replacing: replace)
    }

    /// Replaces the key under an existing `name`, keeping its creation date and setting its rotation date to `now`.
    @discardableResult
    public func rotate(name: String, secret: Secret, now: Date = Date()) throws -> SealedKeyInfo {
        try Self.validate(name: name)
        let material = try Self.normalize(secret, name: name)
        let existing = try readRecord(name: name)
        guard let created = Timestamp.parse(existing.createdAt) else {
            throw Self.invalidFile(fileURL(for: name), "created_at is not an ISO 8601 time")
        }
        return try write(
            name: name, secret: material, createdAt: created, rotatedAt: Timestamp.wholeSeconds(now), replacing: true)
    }

    /// Deletes the sealed key `name`; throws `not_found` if there is none.
    public func remove(name: String) throws {
        try Self.validate(name: name)
        guard try FileSystem.removeFile(fileURL(for: name)) else { throw Self.notFound(name) }
    }

    /// The metadata of one sealed key, without opening it.
    public func info(name: String) throws -> SealedKeyInfo {
        try Self.validate(name: name)
        return try Self.info(from: readRecord(name: name), file: fileURL(for: name))
    }

    /// The metadata of every sealed key, sorted by name; reads no key material.
    public func list() throws -> [SealedKeyInfo] {
        let directory = state.keysDirectory
        var infos: [SealedKeyInfo] = []
        for entry in try FileSystem.entries(of: directory) ?? [] where entry.hasSuffix(".json") {
            let name = String(entry.dropLast(5))
            guard Self.isValidName(name) else { continue }
            infos.append(try info(name: name))
        }
        return infos.sorted { $0.name < $1.name }
    }

    /// Opens the sealed key `name`.
    ///
    /// Throws `not_found` if there is none and `unseal_failed` if the master key differs from the one it was sealed
    /// with or the file was modified (including renaming it).
    public func unseal(name: String) throws -> Secret {
        try Self.validate(name: name)
        let record = try readRecord(name: name)
        let failure = KeyStoreError(
            code: "unseal_failed",
            message: "cannot unseal provider key '\(name)': the master key (id \(kek.id)) does not match the one it "
                + "was sealed with (id \(record.kekID)), or the file was modified"
        )
        guard record.name == name, let combined = Data(base64Encoded: record.sealed),
            let box = try? AES.GCM.SealedBox(combined: combined)
        else { throw failure }
        guard var plaintext = try? AES.GCM.open(box, using: kek.key, authenticating: Data((Self.aadPrefix + name).utf8))
        else { throw failure }
        defer { plaintext.resetBytes(in: 0..<plaintext.count) }
        let secret = Secret(bytes: plaintext)
        guard Self.fingerprint(of: secret) == record.fingerprint else { throw failure }
        return secret
    }

    // MARK: - Files

    private struct Record: Codable {
        var version: Int
        var name: String
        var fingerprint: String
        var createdAt: String
        var rotatedAt: String?
        var kekID: String
        var sealed: String

        enum CodingKeys: String, CodingKey {
            case version, name, fingerprint, sealed
            case createdAt = "created_at"
            case rotatedAt = "rotated_at"
            case kekID = "kek_id"
        }
    }

    private func fileURL(for name: String) -> URL {
        state.keysDirectory.appendingPathComponent("\(name).json", isDirectory: false)
    }

    private func readRecord(name: String) throws -> Record {
        let file = fileURL(for: name)
        guard let data = try FileSystem.readFile(file, maxBytes: 64 * 1024, exposure: .unchecked) else {
            throw Self.notFound(name)
        }
        guard let record = try? JSONDecoder().decode(Record.self, from: data) else {
            throw Self.invalidFile(file, "not a sealed key record")
        }
        guard record.version == 1 else { throw Self.invalidFile(file, "unsupported version \(record.version)") }
        return record
    }

    private func write(
        name: String, secret: Secret, createdAt: Date, rotatedAt: Date?, replacing: Bool
    ) throws -> SealedKeyInfo {
        let combined: Data
        do {
            let aad = Data((Self.aadPrefix + name).utf8)
            let box = try secret.withUnsafeBytes { try AES.GCM.seal($0, using: kek.key, authenticating: aad) }
            guard let bytes = box.combined else { throw KeyStoreError(code: "seal_failed", message: "") }
            combined = bytes
        } catch {
            throw KeyStoreError(code: "seal_failed", message: "could not seal provider key '\(name)'")
        }
        let record = Record(
            version: 1,
            name: name,
            fingerprint: Self.fingerprint(of: secret),
            createdAt: Timestamp.format(createdAt),
            rotatedAt: rotatedAt.map(Timestamp.format),
            kekID: kek.id,
            sealed: combined.base64EncodedString()
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(record)
        data.append(UInt8(ascii: "\n"))
        try state.prepare(.keys)
        let file = fileURL(for: name)
        do {
            try FileSystem.writeAtomically(data, to: file, mode: 0o600, replacing: replacing)
        } catch is FileSystem.AlreadyExists {
            throw KeyStoreError(
                code: "already_exists",
                message: "a provider key named '\(name)' already exists; use rotate, or add with replace"
            )
        }
        return try Self.info(from: record, file: file)
    }

    private static func info(from record: Record, file: URL) throws -> SealedKeyInfo {
        guard let created = Timestamp.parse(record.createdAt) else {
            throw invalidFile(file, "created_at is not an ISO 8601 time")
        }
        var rotated: Date?
        if let text = record.rotatedAt {
            guard let date = Timestamp.parse(text) else {
                throw invalidFile(file, "rotated_at is not an ISO 8601 time")
            }
            rotated = date
        }
        return SealedKeyInfo(
            name: record.name, fingerprint: record.fingerprint, createdAt: created, rotatedAt: rotated,
            kekID: record.kekID)
    }

    // MARK: - Validation

    private static func validate(name: String) throws {
        guard isValidName(name) else {
            throw KeyStoreError(
                code: "invalid_name",
                message: "invalid provider key name: use 1-64 characters from [A-Za-z0-9._-], starting with a letter "
                    + "or digit"
            )
        }
    }

    /// Strips one trailing newline and checks the rest is printable ASCII without whitespace.
    private static func normalize(_ secret: Secret, name: String) throws -> Secret {
        try secret.withUnsafeBytes { raw throws -> Secret in
            var end = raw.count
            if end > 0, raw[end - 1] == UInt8(ascii: "\n") {
                end -= 1
                if end > 0, raw[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            }
            let body = UnsafeRawBufferPointer(rebasing: raw[0..<end])
            guard !body.isEmpty, body.count <= maximumSecretLength, body.allSatisfy({ (0x21...0x7E).contains($0) })
            else {
                throw KeyStoreError(
                    code: "invalid_secret",
                    message: "the key for '\(name)' must be 1-\(maximumSecretLength) printable ASCII characters with "
                        + "no spaces or line breaks (one trailing newline is ignored)"
                )
            }
            return end == raw.count ? secret : Secret(bytes: body)
        }
    }

    private static func isAlphanumeric(_ char: UInt8) -> Bool {
        switch char {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            false
        }
    }

    private static func notFound(_ name: String) -> KeyStoreError {
        KeyStoreError(code: "not_found", message: "no provider key named '\(name)'")
    }

    private static func invalidFile(_ file: URL, _ reason: String) -> KeyStoreError {
        KeyStoreError(code: "invalid_file", message: "'\(file.path)' is not a valid sealed key file: \(reason)")
    }
}
