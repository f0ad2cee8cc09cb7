import Crypto
import Foundation

/// The first thing found wrong with an audit log.
public struct AuditProblem: Sendable, Hashable, CustomStringConvertible {
    /// What kind of tampering (or damage) was detected; `rawValue` is a stable short code.
    public enum Kind: String, Sendable, Hashable {
        /// A line is not a well-formed canonical record, or its contents do not match its `hash`.
        case edited
        /// Records are missing from the middle of the log (a later sequence number appears early).
        case deleted
        /// Lines that are not part of the chain were added (a sequence number repeats).
        case inserted
        /// Records are out of order.
        case reordered
        /// A record does not link to the line before it, though both look intact: a record was altered and
        /// re-hashed, or one was substituted.
        case brokenLink = "broken_link"
        /// The log has fewer records than a signed checkpoint covers.
        case truncated
        /// The chain is internally consistent but differs from what a signed checkpoint covers: history was
        /// rewritten (re-hashed) by someone without the audit signing key.
        case rewritten
        /// A checkpoint is malformed, for another log, or not validly signed by the audit key.
        case badCheckpoint = "bad_checkpoint"
        /// The log or a checkpoint file cannot be read, or there is no key to check checkpoints with.
        case unreadable
    }

    public let kind: Kind
    /// The first record (1-based line number) affected, when the problem is in the records.
    public let record: Int?
    /// An explanation for operators.
    public let message: String

    /// The stable short code of ``kind``.
    public var code: String { kind.rawValue }

    public var description: String {
        if let record { return "\(code) at record \(record): \(message)" }
        return "\(code): \(message)"
    }
}

/// The outcome of checking an audit log.
public struct AuditVerification: Sendable {
    /// Complete lines in the log.
    public let recordCount: Int
    /// The `time` of the last record, when it parsed.
    public let lastRecordTime: String?
    /// The RFC 6962 root over all complete lines.
    public let rootHash: Data
    /// Checkpoints that are validly signed by the audit key, in the order read.
    public let validCheckpoints: [AuditSignedCheckpoint]
    /// The valid checkpoint covering the most records.
    public var latestCheckpoint: AuditCheckpoint? {
        validCheckpoints.compactMap(\.checkpoint).max { $0.size < $1.size }
    }
    /// Bytes after the last complete line: a crash during an append (never acknowledged, so not tampering by
    /// itself), with the record it follows.
    public let tornTail: (afterRecord: Int, byteCount: Int)?
    /// The first problem, or nil when the log verifies.
    public let problem: AuditProblem?
    /// Things worth knowing that are not failures (no checkpoint yet, a torn checkpoint append, …).
    public let warnings: [String]

    /// True when no problem was found.
    public var isValid: Bool { problem == nil }
}

/// Checks an audit log offline: every line, the hash chain, and every signed checkpoint.
///
/// What it detects, and where it reports it:
/// - an edited record (contents no longer match `hash`, or the line is not canonical JSON): at that record;
/// - deleted records (a later `seq` appears early): at the first missing record;
/// - inserted lines (a `seq` repeats; the original record's `prev` shows where the chain resumes): at the first
///   inserted line;
/// - reordered records (the expected `seq` appears a little later): at the first out-of-place record;
/// - a broken link (record intact, `prev` wrong): at that record;
/// - truncation below a signed checkpoint: at the first missing record;
/// - a consistently re-hashed (rewritten) history: at the record after the largest checkpoint that still matches;
/// - a checkpoint that is malformed, for another log, or not validly signed by the audit key.
///
/// Threat assumptions: the log, the checkpoints and `audit.pub` may all have been modified by an attacker. Without
/// signed checkpoints only inconsistent edits are detectable (anyone can recompute a hash chain); with them,
/// anything before the last checkpoint is. Pass a public key obtained independently of the state directory
/// (`--pubkey`) and checkpoints kept elsewhere (`--checkpoint`) to defend against an attacker who rewrote both the
/// log and the local checkpoints with a key of their own.
public enum AuditVerifier {
    /// How far ahead to look for a displaced record when telling reordering from deletion.
    static let reorderWindow = 64
    /// How many recent lines to remember when locating inserted lines.
    static let insertionWindow = 1024

    /// Verifies the log at `paths.log` against `paths.checkpoints`, `paths.latestCheckpoint` and any `extra`
    /// checkpoint files, with `publicKey` (default: `paths.publicKey`).
    public static func verify(
        paths: AuditPaths, publicKey: AuditVerifierKey? = nil, extraCheckpoints: [URL] = []
    ) -> AuditVerification {
        func failure(_ message: String, kind: AuditProblem.Kind = .unreadable) -> AuditVerification {
            AuditVerification(
                recordCount: 0, lastRecordTime: nil, rootHash: Data(), validCheckpoints: [], tornTail: nil,
                problem: AuditProblem(kind: kind, record: nil, message: message), warnings: [])
        }
        let key: AuditVerifierKey?
        do {
            key = try publicKey ?? AuditVerifierKey.load(from: paths.publicKey)
        } catch {
            return failure("cannot read the audit public key: \(error)")
        }
        var checkpoints: [AuditSignedCheckpoint] = []
        var warnings: [String] = []
        let sources =
            [(paths.checkpoints, "checkpoints"), (paths.latestCheckpoint, "checkpoint")]
            + extraCheckpoints.map { ($0, $0.path) }
        for (url, label) in sources {
            do {
                guard let (notes, torn) = try AuditSignedCheckpoint.readAll(from: url, label: label) else {
                    if extraCheckpoints.contains(url) { return failure("no checkpoint file at '\(url.path)'") }
                    continue
                }
                if torn {
                    warnings.append("'\(url.path)' ends in an incomplete checkpoint (a crash while appending); ignored")
                }
                checkpoints += notes
            } catch {
                return failure("cannot read '\(url.path)': \(error)")
            }
        }
        let data: Data
        do {
            guard FileManager.default.fileExists(atPath: paths.log.path) else {
                return failure("there is no audit log at '\(paths.log.path)'")
            }
            data = try Data(contentsOf: paths.log, options: .alwaysMapped)
        } catch {
            return failure("cannot read '\(paths.log.path)': \(error)")
        }
        return verify(log: data, checkpoints: checkpoints, publicKey: key, warnings: warnings)
    }

    /// Verifies log bytes against already-read checkpoints.
    public static func verify(
        log data: Data, checkpoints: [AuditSignedCheckpoint], publicKey: AuditVerifierKey?, warnings: [String] = []
    ) -> AuditVerification {
        var warnings = warnings
        // 1. Which checkpoints can be trusted at all.
        var checkpointProblem: AuditProblem?
        var valid: [AuditSignedCheckpoint] = []
        if !checkpoints.isEmpty, publicKey == nil {
            checkpointProblem = AuditProblem(
                kind: .unreadable, record: nil,
                message: "there are checkpoints but no audit public key to check them with (give --pubkey)")
        } else if let publicKey {
            for signed in checkpoints {
                if let reason = signed.problem(with: publicKey) {
                    checkpointProblem =
                        checkpointProblem
                        ?? AuditProblem(kind: .badCheckpoint, record: nil, message: "\(signed.source) \(reason)")
                } else {
                    valid.append(signed)
                }
            }
        }
        if checkpoints.isEmpty {
            warnings.append("no signed checkpoint: a truncated or consistently rewritten log cannot be detected")
        }
        let wanted = Set(valid.compactMap { $0.checkpoint?.size })

        // 2. Every line: the Merkle tree over all of them, the chain until the first problem.
        let scan = data.withUnsafeBytes { raw in
            var pass = LineScan(raw: raw, wanted: wanted)
            return pass.run()
        }

        // 3. Checkpoints against the lines.
        var rewritten: AuditProblem?
        var truncated: AuditProblem?
        let chainRecord = scan.chainProblem?.record ?? Int.max
        let sorted = valid.compactMap { signed in signed.checkpoint.map { (signed, $0) } }.sorted {
            $0.1.size < $1.1.size
        }
        var largestMatching = 0
        for (signed, checkpoint) in sorted {
            if checkpoint.size > scan.lineCount {
                truncated =
                    truncated
                    ?? AuditProblem(
                        kind: .truncated, record: scan.lineCount + 1,
                        message: "the log ends after record \(scan.lineCount), but \(signed.source) covers "
                            + "\(checkpoint.size) records: \(span(scan.lineCount + 1, checkpoint.size)) missing")
                continue
            }
            if scan.roots[checkpoint.size] == checkpoint.rootHash {
                largestMatching = max(largestMatching, checkpoint.size)
            } else if rewritten == nil, checkpoint.size < chainRecord {
                rewritten = AuditProblem(
                    kind: .rewritten, record: largestMatching + 1,
                    message: "\(span(largestMatching + 1, checkpoint.size)) not what \(signed.source) signed for "
                        + "\(checkpoint.size) records, though the chain is consistent: history was rewritten after "
                        + "record \(largestMatching)")
            }
        }
        let problem =
            checkpointProblem ?? rewritten ?? scan.chainProblem ?? truncated
        if let torn = scan.tornTail, problem == nil {
            warnings.append(
                "the log ends in a partial line of \(torn.byteCount) bytes after record \(torn.afterRecord): a crash "
                    + "while appending (those records were never flushed); the next writer cuts it off")
        }
        return AuditVerification(
            recordCount: scan.lineCount, lastRecordTime: scan.lastTime, rootHash: scan.root,
            validCheckpoints: valid, tornTail: scan.tornTail, problem: problem, warnings: warnings)
    }

    /// "record 3 is" or "records 3…5 are".
    static func span(_ first: Int, _ last: Int) -> String {
        first == last ? "record \(first) is" : "records \(first)…\(last) are"
    }

    /// What one pass over the log found.
    private struct ScanResult {
        var lineCount = 0
        var roots: [Int: Data] = [:]
        var root = Data()
        var chainProblem: AuditProblem?
        var tornTail: (afterRecord: Int, byteCount: Int)?
        var lastTime: String?
    }

    /// One pass over the log's bytes; lives only inside `withUnsafeBytes`.
    private struct LineScan {
        let raw: UnsafeRawBufferPointer
        let wanted: Set<Int>
        private var lineCount = 0
        private var roots: [Int: Data] = [:]
        private var chainProblem: AuditProblem?
        private var lastTime: String?
        private var tree = AuditMerkleTree()
        private var expectedPrev = AuditRecord.genesis
        /// Line number by line hash for the last lines seen; the genesis value stands for line 0.
        private var recent: [String: Int] = [AuditRecord.genesis: 0]
        private var recentOrder: [String] = []

        init(raw: UnsafeRawBufferPointer, wanted: Set<Int>) {
            self.raw = raw
            self.wanted = wanted
        }

        /// The line starting at `start` (without its newline), or nil at the end or before a partial last line.
        func line(at start: Int) -> Range<Int>? {
            guard start < raw.count, let base = raw.baseAddress else { return nil }
            guard let found = memchr(base + start, 0x0A, raw.count - start) else { return nil }
            return start..<(base.distance(to: UnsafeRawPointer(found)))
        }

        mutating func run() -> ScanResult {
            var offset = 0
            while let range = line(at: offset) {
                lineCount += 1
                let bytes = UnsafeRawBufferPointer(rebasing: raw[range])
                tree.append(line: bytes)
                if wanted.contains(lineCount) { roots[lineCount] = Data(tree.root) }
                let lineHash = Hex.encode(SHA256.hash(data: bytes))
                if chainProblem == nil { check(bytes, number: lineCount, next: range.upperBound + 1) }
                remember(lineHash, line: lineCount)
                expectedPrev = lineHash
                offset = range.upperBound + 1
            }
            return ScanResult(
                lineCount: lineCount, roots: roots, root: Data(tree.root), chainProblem: chainProblem,
                tornTail: offset < raw.count ? (lineCount, raw.count - offset) : nil, lastTime: lastTime)
        }

        /// Remembers which line has `hash`, forgetting lines older than the insertion window.
        private mutating func remember(_ hash: String, line: Int) {
            let slot = (line - 1) % AuditVerifier.insertionWindow
            if recentOrder.count < AuditVerifier.insertionWindow {
                recentOrder.append(hash)
            } else {
                let old = recentOrder[slot]
                if recent[old] == line - AuditVerifier.insertionWindow { recent[old] = nil }
                recentOrder[slot] = hash
            }
            recent[hash] = line
        }

        private mutating func check(_ bytes: UnsafeRawBufferPointer, number i: Int, next: Int) {
            guard let record = AuditRecord.parse(line: bytes), record.line.elementsEqual(bytes) else {
                chainProblem = AuditProblem(
                    kind: .edited, record: i, message: "line \(i) is not a well-formed canonical audit record")
                return
            }
            guard record.computedHash == record.hash else {
                chainProblem = AuditProblem(
                    kind: .edited, record: i, message: "record \(i) was edited: its contents do not match its hash")
                return
            }
            if record.seq > i {
                if let later = find(seq: i, from: next, firstLine: i + 1) {
                    chainProblem = AuditProblem(
                        kind: .reordered, record: i,
                        message: "line \(i) holds record \(record.seq) and record \(i) is at line \(later): records "
                            + "are out of order")
                } else {
                    chainProblem = AuditProblem(
                        kind: .deleted, record: i,
                        message: "\(span(i, record.seq - 1)) missing: line \(i) holds record \(record.seq)")
                }
                return
            }
            if record.seq < i {
                if let resumesAfter = recent[record.prev], resumesAfter < i - 1 {
                    let lines =
                        resumesAfter + 1 == i - 1 ? "line \(i - 1) is" : "lines \(resumesAfter + 1)…\(i - 1) are"
                    chainProblem = AuditProblem(
                        kind: .inserted, record: resumesAfter + 1,
                        message: "\(lines) not part of the chain: record \(record.seq) at line \(i) follows line "
                            + "\(resumesAfter)")
                } else {
                    chainProblem = AuditProblem(
                        kind: .inserted, record: i,
                        message: "line \(i) repeats record number \(record.seq): a record was inserted or duplicated")
                }
                return
            }
            guard record.prev == expectedPrev else {
                chainProblem = AuditProblem(
                    kind: .brokenLink, record: i,
                    message: "record \(i) does not follow line \(i - 1) (its prev is not that line's hash): record "
                        + "\(i - 1) was altered and re-hashed, or record \(i) was substituted")
                return
            }
            lastTime = record.time
        }

        /// The line number, within the reorder window, of a record numbered `seq`.
        private func find(seq: Int, from start: Int, firstLine: Int) -> Int? {
            var offset = start
            var number = firstLine
            while number < firstLine + AuditVerifier.reorderWindow, let range = line(at: offset) {
                if let record = AuditRecord.parse(line: UnsafeRawBufferPointer(rebasing: raw[range])),
                    record.seq == seq
                {
                    return number
                }
                offset = range.upperBound + 1
                number += 1
            }
            return nil
        }
    }
}
