import Crypto
import Foundation

/// A failure writing, reading or verifying the audit log.
///
/// Messages name files, record numbers, field names and error codes, never field values: a refused value may be the
/// very secret the check exists to keep out of the log.
public struct AuditError: Error, Sendable, Hashable, CustomStringConvertible, LocalizedError {
    /// A stable short code: `invalid_kind`, `invalid_actor`, `invalid_field`, `credential_shaped_value`, `closed`,
    /// `backlog_full`, `io_failed`, `invalid_log`, `invalid_signing_key`, `invalid_public_key` or
    /// `invalid_checkpoint`.
    public let code: String
    /// A human-readable explanation for operators.
    public let message: String

    init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
    public var errorDescription: String? { message }

    static func io(_ action: String, _ path: String, errno code: Int32) -> AuditError {
        AuditError(code: "io_failed", message: "cannot \(action) '\(path)': \(String(cString: strerror(code)))")
    }
}

/// What happened: the `kind` of an audit record, a dotted lower-case name such as `token.minted`.
///
/// The well-known kinds are constants; others may be made with ``init(_:)``, which checks the shape
/// `[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*`, at most 64 characters.
public struct AuditKind: Sendable, Hashable, CustomStringConvertible {
    /// The dotted name written into the record.
    public let rawValue: String

    /// A kind with a checked name; throws `invalid_kind` for any other shape.
    public init(_ rawValue: String) throws {
        guard Self.isValid(rawValue) else {
            throw AuditError(
                code: "invalid_kind", message: "audit kind must match [a-z][a-z0-9_]*(.[a-z][a-z0-9_]*)*, 1-64 bytes")
        }
        self.rawValue = rawValue
    }

    private init(known: String) { self.rawValue = known }

    public var description: String { rawValue }

    /// The token authority minted a caller token.
    public static let tokenMinted = AuditKind(known: "token.minted")
    /// A token (by id or subject) was revoked.
    public static let tokenRevoked = AuditKind(known: "token.revoked")
    /// A provider key was sealed.
    public static let keyAdded = AuditKind(known: "key.added")
    /// A provider key was replaced.
    public static let keyRotated = AuditKind(known: "key.rotated")
    /// A provider key was deleted.
    public static let keyRemoved = AuditKind(known: "key.removed")
    /// A configuration was loaded (give its SHA-256, not its text).
    public static let configLoaded = AuditKind(known: "config.loaded")
    /// One gateway request's metadata.
    public static let request = AuditKind(known: "request")
    /// A caller was refused authentication or authorization.
    public static let authRefused = AuditKind(known: "auth.refused")
    /// The keyholder opened (or failed to open) a TCP connection to a provider.
    public static let egressConnect = AuditKind(known: "egress.connect")
    /// The keyholder sent a request to a provider and got an answer (one per request; connections are pooled).
    public static let egressRequest = AuditKind(known: "egress.request")
    /// The keyholder refused a connection.
    public static let egressRefused = AuditKind(known: "egress.refused")
    /// The ledger lost its database (once per outage; usage rows are queued until it returns).
    public static let ledgerUnavailable = AuditKind(known: "ledger.unavailable")
    /// The supervisor restarted the keyholder.
    public static let keyholderRestarted = AuditKind(known: "keyholder.restarted")
    /// The front's sandbox refused a system call (a network socket or io_uring): counts per kind since the last record.
    public static let sandboxBlocked = AuditKind(known: "sandbox.blocked")
    /// Records were lost before they reached the log (the front's buffer overflowed while the keyholder was away).
    public static let auditDropped = AuditKind(known: "audit.dropped")
    /// A writer found a torn final line left by a crash and cut it off before appending (written by the log itself).
    public static let auditRecovered = AuditKind(known: "audit.recovered")

    static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 64 else { return false }
        var atSegmentStart = true
        for byte in bytes {
            if atSegmentStart {
                guard (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) else { return false }
                atSegmentStart = false
            } else if byte == UInt8(ascii: ".") {
                atSegmentStart = true
            } else {
                let ok =
                    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
                guard ok else { return false }
            }
        }
        return !atSegmentStart
    }
}

/// One value in a record's `fields`: a string or a 64-bit integer.
///
/// Fields are metadata. Never pass prompt or completion text, provider keys, tokens or other credentials: pass a
/// digest with ``sha256(_:)`` or ``sha256(utf8:)`` instead. Writers refuse credential-shaped strings (see
/// ``isCredentialShaped(_:)``) as a backstop, not as the primary defence.
public enum AuditValue: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral,
    ExpressibleByIntegerLiteral
{
    case string(String)
    case int(Int64)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }

    /// An integer value.
    public static func int(_ value: Int) -> AuditValue { .int(Int64(value)) }

    /// `sha256:` + the lower-case hex SHA-256 of `content`: how prompts, completions and configurations are recorded.
    public static func sha256(_ content: some DataProtocol) -> AuditValue {
        .string("sha256:" + Hex.encode(SHA256.hash(data: content)))
    }

    /// `sha256:` + the lower-case hex SHA-256 of the UTF-8 bytes of `text`.
    public static func sha256(utf8 text: String) -> AuditValue {
        sha256(Data(text.utf8))
    }

    /// A string value, refused with `credential_shaped_value` if it looks like a key, token or other credential.
    public static func checked(_ text: String) throws -> AuditValue {
        guard !AuditCredentialShape.matches(text) else { throw AuditError.credentialShaped(what: "value") }
        return .string(text)
    }

    /// True when `text` has the shape of a credential (see ``AuditCredentialShape``).
    public static func isCredentialShaped(_ text: String) -> Bool {
        AuditCredentialShape.matches(text)
    }

    public var description: String {
        switch self {
        case .string(let text): text
        case .int(let number): String(number)
        }
    }

    var json: AuditJSON {
        switch self {
        case .string(let text): .string(text)
        case .int(let number): .int(number)
        }
    }
}

/// One line of the audit log.
///
/// The line is the canonical JSON (sorted keys, no whitespace; see ``AuditJSON``) of
/// `{"actor","fields","hash","kind","prev","seq","time"}` where
/// - `seq` counts records from 1, so record N is line N and a checkpoint of tree size N covers records 1…N;
/// - `prev` is the hex SHA-256 of the previous record's whole line (without its newline), or 64 zeros for record 1;
/// - `hash` is the hex SHA-256 of the canonical JSON of the record without its `hash` member.
///
/// Verification requires each line to be byte-for-byte the canonical encoding of what it parses to, so no byte of a
/// line lies outside what the chain commits to.
public struct AuditRecord: Sendable, Hashable {
    /// The position in the log, from 1.
    public let seq: Int
    /// When the record was appended: RFC 3339 in UTC with milliseconds, e.g. `2025-01-31T12:00:00.123Z`.
    public let time: String
    /// What happened.
    public let kind: String
    /// Who did it: a process role (`gateway`, `keyholder`) or an operator (`cli:alice`).
    public let actor: String
    /// Caller-provided metadata.
    public let fields: [String: AuditValue]
    /// Hex SHA-256 of the previous record's line (``AuditRecord/genesis`` for the first record).
    public let prev: String
    /// Hex SHA-256 of this record's canonical form without `hash`.
    public let hash: String

    /// The `prev` of record 1: 64 zeros.
    public static let genesis = String(repeating: "0", count: 64)

    /// Limits that keep every line small: a key is 1-64 bytes of `[a-z0-9_.-]` starting with a letter or digit.
    public static let maximumFieldCount = 32
    public static let maximumValueBytes = 512
    public static let maximumActorBytes = 128
    /// The longest line verification accepts.
    static let maximumLineBytes = 64 * 1024

    init(seq: Int, time: String, kind: String, actor: String, fields: AuditFields, prev: String) {
        self = Self.chained(seq: seq, time: time, kind: kind, actor: actor, fields: fields, prev: prev).record
    }

    /// A new record and its line, encoding the record once.
    static func chained(
        seq: Int, time: String, kind: String, actor: String, fields: AuditFields, prev: String
    ) -> (record: AuditRecord, line: [UInt8]) {
        let parts = Self.encodeParts(seq, time, kind, actor, fields, prev)
        let hash = Self.hash(parts)
        let record = AuditRecord(
            seq: seq, time: time, kind: kind, actor: actor, fields: fields.dictionary, prev: prev, hash: hash)
        return (record, Self.line(parts, hash: hash))
    }

    /// A new record's line, and nothing else (the writer's path: no record value, no dictionary).
    static func chainedLine(
        seq: Int, time: String, kind: String, actor: String, fields: AuditFields, prev: String
    ) -> [UInt8] {
        let parts = Self.encodeParts(seq, time, kind, actor, fields, prev)
        return Self.line(parts, hash: Self.hash(parts))
    }

    private init(
        seq: Int, time: String, kind: String, actor: String, fields: [String: AuditValue], prev: String, hash: String
    ) {
        self.seq = seq
        self.time = time
        self.kind = kind
        self.actor = actor
        self.fields = fields
        self.prev = prev
        self.hash = hash
    }

    /// The record's line: canonical JSON including `hash`, without the trailing newline.
    public var line: [UInt8] {
        Self.line(Self.encodeParts(seq, time, kind, actor, AuditFields(fields), prev), hash: hash)
    }

    /// The hash this record's contents should have; differs from ``hash`` when the record was edited.
    public var computedHash: String { Self.hash(Self.encodeParts(seq, time, kind, actor, AuditFields(fields), prev)) }

    /// Parses one line; nil unless it is a JSON object with exactly the record's members, of the right types.
    ///
    /// Parsing does not check the hash or the canonical form; ``AuditVerifier`` does.
    public static func parse(line: some Collection<UInt8>) -> AuditRecord? {
        guard line.count <= maximumLineBytes, case .object(let object)? = AuditJSON.parse(Array(line)),
            object.count == 7,
            case .int(let seq)? = object["seq"], seq >= 1, seq <= Int64(Int.max),
            case .string(let time)? = object["time"],
            case .string(let kind)? = object["kind"],
            case .string(let actor)? = object["actor"],
            case .object(let rawFields)? = object["fields"],
            case .string(let prev)? = object["prev"],
            case .string(let hash)? = object["hash"]
        else { return nil }
        var fields: [String: AuditValue] = [:]
        for (key, value) in rawFields {
            switch value {
            case .string(let text): fields[key] = .string(text)
            case .int(let number): fields[key] = .int(number)
            case .object: return nil
            }
        }
        return AuditRecord(
            seq: Int(seq), time: time, kind: kind, actor: actor, fields: fields, prev: prev, hash: hash)
    }

    /// `time` for `date`: RFC 3339, UTC, truncated to the millisecond.
    ///
    /// Built by integer arithmetic (the writer stamps every record with it); the format of Foundation's
    /// `ISO8601FormatStyle(includingFractionalSeconds: true)`, which dates outside 1970–2199 still use. (That
    /// style truncates to the millisecond on this toolchain; newer ones round.)
    static func formatTime(_ date: Date) -> String {
        UTCTime.format(date, fraction: true) ?? date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// Checks an actor and fields before they enter the log; throws `invalid_actor`, `invalid_field` or
    /// `credential_shaped_value`.
    public static func validate(actor: String, fields: AuditFields) throws {
        guard !actor.isEmpty, actor.utf8.count <= maximumActorBytes, ASCII.isPrintable(actor) else {
            throw AuditError(code: "invalid_actor", message: "audit actor must be 1-128 printable ASCII characters")
        }
        guard !AuditCredentialShape.matches(actor) else { throw AuditError.credentialShaped(what: "actor") }
        guard fields.count <= maximumFieldCount else {
            throw AuditError(code: "invalid_field", message: "an audit record takes at most 32 fields")
        }
        for (key, value) in fields.members {
            guard isValidFieldKey(key) else {
                let shown = ASCII.isPrintable(key) && key.utf8.count <= 64 ? " '\(key)'" : ""
                throw AuditError(
                    code: "invalid_field",
                    message: "audit field name\(shown) must be 1-64 characters from [a-z0-9_.-], starting with a "
                        + "letter or digit")
            }
            guard case .string(let text) = value else { continue }
            guard text.utf8.count <= maximumValueBytes else {
                throw AuditError(
                    code: "invalid_field", message: "audit field '\(key)' is longer than \(maximumValueBytes) bytes")
            }
            guard !AuditCredentialShape.matches(text) else { throw AuditError.credentialShaped(what: "field '\(key)'") }
        }
    }

    static func isValidFieldKey(_ key: String) -> Bool {
        let bytes = key.utf8
        guard let first = bytes.first, bytes.count <= 64 else { return false }
        func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        guard isLowerAlphanumeric(first) else { return false }
        return bytes.allSatisfy {
            isLowerAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
    }

    /// The canonical encoding, written directly, in two parts: the members before `hash`
    /// (`{"actor":…,"fields":{…}`) and after it (`,"kind":…,"prev":…,"seq":…,"time":…}`). The hashed
    /// content is the two joined; the line has `,"hash":"…"` between them. Members in sorted order (`actor`,
    /// `fields`, `hash`, `kind`, `prev`, `seq`, `time`): the same bytes `AuditJSON.object(...).canonical` gives.
    private static func encodeParts(
        _ seq: Int, _ time: String, _ kind: String, _ actor: String, _ fields: AuditFields, _ prev: String
    ) -> (head: [UInt8], tail: [UInt8]) {
        var head: [UInt8] = []
        head.reserveCapacity(64 + fields.count * 48)
        head.append(contentsOf: #"{"actor":"#.utf8)
        AuditJSON.writeString(actor, into: &head)
        head.append(contentsOf: #","fields":"#.utf8)
        AuditJSON.writeFields(fields, into: &head)
        var tail: [UInt8] = []
        tail.reserveCapacity(160)
        tail.append(contentsOf: #","kind":"#.utf8)
        AuditJSON.writeString(kind, into: &tail)
        tail.append(contentsOf: #","prev":"#.utf8)
        AuditJSON.writeString(prev, into: &tail)
        tail.append(contentsOf: #","seq":"#.utf8)
        tail.append(contentsOf: String(seq).utf8)
        tail.append(contentsOf: #","time":"#.utf8)
        AuditJSON.writeString(time, into: &tail)
        tail.append(UInt8(ascii: "}"))
        return (head, tail)
    }

    private static func hash(_ parts: (head: [UInt8], tail: [UInt8])) -> String {
        var hasher = SHA256()
        hasher.update(data: parts.head)
        hasher.update(data: parts.tail)
        return Hex.encode(hasher.finalize())
    }

    private static func line(_ parts: (head: [UInt8], tail: [UInt8]), hash: String) -> [UInt8] {
        var line = parts.head
        line.reserveCapacity(parts.head.count + parts.tail.count + hash.utf8.count + 10)
        line.append(contentsOf: #","hash":"#.utf8)
        AuditJSON.writeString(hash, into: &line)
        line.append(contentsOf: parts.tail)
        return line
    }
}

extension AuditError {
    static func credentialShaped(what: String) -> AuditError {
        AuditError(
            code: "credential_shaped_value",
            message: "refusing to write audit \(what): it looks like a key, token or other credential "
                + "(record a digest with AuditValue.sha256 instead)")
    }
}
