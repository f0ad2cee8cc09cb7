import Foundation

/// Where the audit log lives inside a state directory.
///
/// ```
/// <state>/audit/              0700
///   audit.log                 0600  the records, one canonical JSON object per line
///   checkpoints               0600  every signed checkpoint, appended in order
///   checkpoint                0644  the latest signed checkpoint alone (replaced atomically), to ship elsewhere
///   audit-signing.key         0600  Ed25519 checkpoint signing key (signed-note signer format)
///   audit.pub                 0644  its verifier key
/// ```
public struct AuditPaths: Sendable, Hashable {
    /// The `audit/` directory.
    public let directory: URL

    /// The paths under `<state>/audit/`.
    public init(state: StateDirectory) {
        self.directory = state.url.appendingPathComponent("audit", isDirectory: true)
    }

    /// The paths next to a log file given directly (as `gatehouse audit verify FILE` does).
    public init(logFile: URL) {
        self.directory = logFile.deletingLastPathComponent()
        self.explicitLog = logFile
    }

    private var explicitLog: URL?

    public var log: URL { explicitLog ?? directory.appendingPathComponent("audit.log") }
    public var checkpoints: URL { directory.appendingPathComponent("checkpoints") }
    public var latestCheckpoint: URL { directory.appendingPathComponent("checkpoint") }
    public var signingKey: URL { directory.appendingPathComponent("audit-signing.key") }
    public var publicKey: URL { directory.appendingPathComponent("audit.pub") }

    /// Creates the state root (0700) and `audit/` (0700) if missing.
    func prepare() throws -> AuditPaths {
        let state = StateDirectory(url: directory.deletingLastPathComponent())
        try state.prepare()
        try FileSystem.makeDirectory(directory, mode: 0o700)
        return self
    }
}

/// A C2SP `tlog-checkpoint` body: the log's origin, its size, and the RFC 6962 Merkle tree hash of records 1…size.
///
/// ```
/// gatehouse/audit/1a2b3c4d
/// 1234
/// <base64 of the 32-byte root hash>
/// ```
/// Signed with ``AuditSigningKey/sign(_:)`` it becomes a signed note: this body, a blank line, and
/// `— <key name> <base64(4-byte key hash || 64-byte Ed25519 signature)>`.
public struct AuditCheckpoint: Sendable, Hashable, CustomStringConvertible {
    /// The log's identity: the signing key's name.
    public let origin: String
    /// How many records the checkpoint covers.
    public let size: Int
    /// The RFC 6962 Merkle tree hash of records 1…size (SHA-256 of nothing when size is 0).
    public let rootHash: Data

    public init(origin: String, size: Int, rootHash: Data) {
        self.origin = origin
        self.size = size
        self.rootHash = rootHash
    }

    /// The note body, ending in a newline.
    public var body: String { "\(origin)\n\(size)\n\(rootHash.base64EncodedString())\n" }

    public var description: String { "\(origin) size \(size) root \(rootHash.base64EncodedString())" }

    /// Parses a body (three lines, each ending in a newline); nil if malformed or if it has extension lines.
    static func parse(body: String) -> AuditCheckpoint? {
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 4, lines[3].isEmpty, !lines[0].isEmpty,
            case let sizeText = lines[1], !sizeText.isEmpty, sizeText.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            sizeText.utf8.count <= 18, sizeText == "0" || !sizeText.hasPrefix("0"), let size = Int(sizeText),
            let root = Data(base64Encoded: String(lines[2])), root.count == 32,
            root.base64EncodedString() == lines[2]
        else { return nil }
        return AuditCheckpoint(origin: String(lines[0]), size: size, rootHash: root)
    }
}

/// A checkpoint read back from a file, with the outcome of checking its signature.
public struct AuditSignedCheckpoint: Sendable, Hashable {
    /// The parsed body, or nil when the note is not a valid checkpoint.
    public let checkpoint: AuditCheckpoint?
    /// Where it came from: `checkpoints #3`, `checkpoint`, or a path given with `--checkpoint`.
    public let source: String
    /// The whole note text.
    public let note: String

    /// Checks the note against `key`; nil when it is a valid checkpoint for `key`'s log, else the reason.
    public func problem(with key: AuditVerifierKey) -> String? {
        guard let parts = AuditNote.split(note: note) else { return "is not a signed note" }
        guard let checkpoint else { return "is not a tlog checkpoint (origin, size, base64 root hash)" }
        guard checkpoint.origin == key.name else {
            return "is for log '\(checkpoint.origin)', not '\(key.name)'"
        }
        var othersSeen: [String] = []
        for signature in parts.signatures {
            guard signature.name == key.name, signature.keyHash == key.keyHash else {
                othersSeen.append("\(signature.name)+\(signature.keyHashHex)")
                continue
            }
            guard key.isValidSignature(signature.signature, for: Data(parts.body.utf8)) else {
                return "has an invalid signature by \(key.name)+\(key.keyHashHex)"
            }
            return nil
        }
        let seen = othersSeen.isEmpty ? "no signatures" : "signatures only by " + othersSeen.joined(separator: ", ")
        return "is not signed by the audit key \(key.name)+\(key.keyHashHex) (\(seen))"
    }

    /// Reads every note in a file of concatenated signed notes; `torn` is true when the file ends inside a note
    /// (a crash while appending), whose partial text is ignored.
    static func readAll(from url: URL, label: String) throws -> (notes: [AuditSignedCheckpoint], torn: Bool)? {
        guard let data = try FileSystem.readFile(url, maxBytes: 256 * 1024 * 1024, exposure: .unchecked) else {
            return nil
        }
        let text = String(decoding: data, as: UTF8.self)
        let (notes, torn) = AuditNote.splitConcatenated(text)
        let many = notes.count > 1
        return (
            notes.enumerated().map { index, note in
                let body = AuditNote.split(note: note)?.body
                return AuditSignedCheckpoint(
                    checkpoint: body.flatMap(AuditCheckpoint.parse(body:)),
                    source: many ? "\(label) #\(index + 1)" : label, note: note)
            }, torn
        )
    }
}

/// The C2SP signed-note text format: a body of non-empty lines ending in a newline, a blank line, then signature
/// lines `— <name> <base64(key hash || signature)>`.
enum AuditNote {
    /// U+2014 EM DASH and a space.
    static let signaturePrefix = "\u{2014} "

    struct Signature {
        let name: String
        let keyHash: UInt32
        let signature: Data

        var keyHashHex: String {
            var value = keyHash.bigEndian
            return withUnsafeBytes(of: &value) { Hex.encode($0) }
        }
    }

    /// Splits one note into its body (with final newline) and signatures; nil if it is not a well-formed note.
    static func split(note: String) -> (body: String, signatures: [Signature])? {
        guard note.hasSuffix("\n"), let separator = note.range(of: "\n\n") else { return nil }
        let body = String(note[..<separator.lowerBound]) + "\n"
        // Printable text only: no control characters but newline.
        guard body.unicodeScalars.allSatisfy({ $0 == "\n" || ($0.value >= 0x20 && $0.value != 0x7F) }) else {
            return nil
        }
        var signatures: [Signature] = []
        for line in note[separator.upperBound...].split(separator: "\n") {
            guard line.hasPrefix(signaturePrefix) else { return nil }
            let rest = line.dropFirst(signaturePrefix.count)
            let fields = rest.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, !fields[0].isEmpty, let blob = Data(base64Encoded: String(fields[1])),
                blob.count >= 5
            else { return nil }
            let keyHash = blob.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            signatures.append(Signature(name: String(fields[0]), keyHash: keyHash, signature: Data(blob.dropFirst(4))))
        }
        guard !signatures.isEmpty else { return nil }
        return (body, signatures)
    }

    /// Splits a file of notes written one after another (optionally separated by blank lines). A final line without
    /// its newline, and a body with no signature line after it, are a torn append: dropped and reported.
    static func splitConcatenated(_ text: String) -> (notes: [String], torn: Bool) {
        var notes: [String] = []
        var current: [Substring] = []
        var signatureCount = 0
        var inSignatures = false
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        // split leaves "" after a final newline, or the partial last line when there is none.
        let partialLast = !(lines.last?.isEmpty ?? true)
        lines.removeLast()
        var torn = partialLast
        func finish() {
            if signatureCount > 0 {
                notes.append(current.joined(separator: "\n") + "\n")
            } else if !current.isEmpty {
                torn = true
            }
            current = []
            signatureCount = 0
            inSignatures = false
        }
        for line in lines {
            if inSignatures {
                if line.hasPrefix(signaturePrefix) {
                    current.append(line)
                    signatureCount += 1
                    continue
                }
                finish()
            }
            if line.isEmpty {
                if current.isEmpty { continue }
                inSignatures = true
            }
            current.append(line)
        }
        finish()
        return (notes, torn)
    }
}
