import Dispatch
import Foundation

/// Appends records to the audit log without putting disk latency on the caller's path.
///
/// ``append(_:actor:fields:)`` checks the record and queues it in memory; it never touches the disk. A background
/// queue writes the queued records as one batch — under an exclusive `flock`, chained to whatever the file ends
/// with (another process may have appended), then one `fsync` — every ``Options/flushInterval`` (default 1 s) or as
/// soon as ``Options/maxPending`` records (default 256) are queued, and on ``flush()`` and ``close()``. After a
/// batch, if ``Options/checkpointEvery`` records or ``Options/checkpointInterval`` have passed since the last
/// checkpoint (or on ``flush()``/``close()``), it signs a checkpoint of the whole log.
///
/// **Crash-loss bound.** A crash (or dropping the writer without ``close()``) loses the records queued since the
/// last completed batch: at most those appended in the last `flushInterval`, and at most `maxPending` of them
/// unless appends outran the disk (then up to ``Options/maxBacklog``, after which `append` throws `backlog_full`).
/// Records in a completed batch were fsynced before the batch counted as done. A crash during a batch can leave a
/// partial last line; ``AuditVerifier`` reports it as a torn tail (not as tampering), and the next writer to open
/// the log cuts it off and records an `audit.recovered` record with its length and SHA-256. The chain stays
/// verifiable throughout.
///
/// Threat assumptions: the process that writes holds the audit signing key if it signs checkpoints (pass `signer:
/// nil` to a writer that should not). Fields are validated (see ``AuditRecord/validate(actor:fields:)``) but their
/// truth is the caller's responsibility; the log proves records were not changed after writing, not that they were
/// true when written. Errors name fields, never values.
public final class AuditWriter: @unchecked Sendable {
    // @unchecked: `state` is guarded by `lock`; `file`, `timer` and `lastCheckpoint` are touched only on `queue`
    // (and `timer` also in init/deinit, when nothing else can reach the writer).

    /// How often and how much the writer batches.
    public struct Options: Sendable {
        /// The longest a record waits in memory before it is written and fsynced.
        public var flushInterval: Duration
        /// Queued records that trigger an immediate background write.
        public var maxPending: Int
        /// Queued records beyond which `append` throws `backlog_full` (the disk is failing or too slow).
        public var maxBacklog: Int
        /// Records after which a background write also signs a checkpoint.
        public var checkpointEvery: Int
        /// Time after which a background write also signs a checkpoint.
        public var checkpointInterval: Duration

        public init(
            flushInterval: Duration = .seconds(1), maxPending: Int = 256, maxBacklog: Int = 65_536,
            checkpointEvery: Int = 1_000, checkpointInterval: Duration = .seconds(60)
        ) {
            self.flushInterval = flushInterval
            self.maxPending = max(1, maxPending)
            self.maxBacklog = max(self.maxPending, maxBacklog)
            self.checkpointEvery = max(1, checkpointEvery)
            self.checkpointInterval = checkpointInterval
        }
    }

    /// The actor used when ``append(_:actor:fields:)`` is given none.
    public let actor: String
    /// Where the log lives.
    public let paths: AuditPaths
    public let options: Options

    private struct State {
        var pending: [AuditPendingRecord] = []
        var isClosed = false
        var isDrainScheduled = false
        var lastError: AuditError?
    }

    private let lock = NSLock()
    private var state = State()
    private let queue = DispatchQueue(label: "gatehouse.audit.writer")
    private let file: AuditLogFile
    private let signer: AuditSigningKey?
    private let now: @Sendable () -> Date
    private var timer: (any DispatchSourceTimer)?
    private var lastCheckpoint = ContinuousClock.now

    /// Opens `<state>/audit/audit.log` for appending, loading (or creating) the audit signing key so the writer
    /// signs checkpoints.
    public static func open(state: StateDirectory, actor: String, options: Options = Options()) throws -> AuditWriter {
        let signer = try AuditSigningKey.loadOrCreate(in: state)
        return try AuditWriter(paths: AuditPaths(state: state), actor: actor, signer: signer, options: options)
    }

    /// Opens the log at `paths` for appending; `signer` nil writes records but no checkpoints.
    ///
    /// Catches up with the file under the lock first, so a corrupt or unreadable log fails here rather than on the
    /// request path; a torn last line left by a crash is cut off and an `audit.recovered` record written at once.
    public init(
        paths: AuditPaths, actor: String, signer: AuditSigningKey?, options: Options = Options(),
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        try AuditRecord.validate(actor: actor, fields: [:])
        self.actor = actor
        self.paths = paths
        self.options = options
        self.signer = signer
        self.now = now
        self.file = try AuditLogFile.openForAppending(paths)
        let file = self.file
        let time = AuditRecord.formatTime(now())
        try file.withLock {
            if let torn = try file.catchUp() {
                try file.append([Self.recovery(torn, actor: actor, time: time)])
            }
        }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = Self.dispatchInterval(options.flushInterval)
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(50))
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            try? self.drain(force: false)
        }
        timer.resume()
        self.timer = timer
    }

    deinit {
        timer?.cancel()
    }

    /// Queues a record; never waits for the disk.
    ///
    /// Throws `closed` after ``close()``, `backlog_full` when ``Options/maxBacklog`` records are already queued,
    /// and `invalid_kind`/`invalid_actor`/`invalid_field`/`credential_shaped_value` for a record that may not be
    /// written (nothing is queued then).
    public func append(_ kind: AuditKind, actor: String? = nil, fields: AuditFields = [:]) throws {
        let who = actor ?? self.actor
        try AuditRecord.validate(actor: who, fields: fields)
        let record = AuditPendingRecord(
            time: AuditRecord.formatTime(now()), kind: kind.rawValue, actor: who, fields: fields)
        let shouldSchedule: Bool = try withState { state in
            guard !state.isClosed else {
                throw AuditError(code: "closed", message: "the audit writer for '\(paths.log.path)' is closed")
            }
            guard state.pending.count < options.maxBacklog else {
                throw AuditError(
                    code: "backlog_full",
                    message: "\(state.pending.count) audit records are waiting for the disk"
                        + (state.lastError.map { " (last error: \($0.code))" } ?? ""))
            }
            state.pending.append(record)
            guard state.pending.count >= options.maxPending, !state.isDrainScheduled else { return false }
            state.isDrainScheduled = true
            return true
        }
        if shouldSchedule {
            queue.async { [weak self] in
                try? self?.drain(force: false)
            }
        }
    }

    /// Writes and fsyncs every queued record, then signs a checkpoint; returns when they are on disk.
    public func flush() throws {
        try queue.sync { try drain(force: true) }
    }

    /// Flushes, signs a final checkpoint, and stops the writer; later appends throw `closed`. Idempotent.
    public func close() throws {
        withState { $0.isClosed = true }
        try queue.sync {
            timer?.cancel()
            try drain(force: true)
        }
    }

    /// Records queued and not yet written.
    public var pendingCount: Int { withState { $0.pending.count } }

    /// The error of the last background write, cleared by the next one that succeeds.
    public var lastError: AuditError? { withState { $0.lastError } }

    // MARK: - Writing (on `queue`)

    private func drain(force: Bool) throws {
        let batch = withState { state in
            state.isDrainScheduled = false
            let taken = state.pending
            state.pending.removeAll(keepingCapacity: true)
            return taken
        }
        guard !batch.isEmpty || force else { return }
        let time = AuditRecord.formatTime(now())
        do {
            try file.withLock {
                var records = batch
                if let torn = try file.catchUp() {
                    records.insert(Self.recovery(torn, actor: actor, time: time), at: 0)
                }
                do {
                    try file.append(records)
                } catch {
                    // Nothing of the batch stayed in the file; keep it (and any recovery record) for the next try.
                    withState { $0.pending.insert(contentsOf: records, at: 0) }
                    throw error
                }
                let unsigned = file.recordCount - file.lastCheckpointSize
                let isDue =
                    force || unsigned >= options.checkpointEvery
                    || ContinuousClock.now - lastCheckpoint >= options.checkpointInterval
                if let signer, unsigned > 0, isDue {
                    try file.writeCheckpoint(signer: signer)
                    lastCheckpoint = ContinuousClock.now
                }
            }
            withState { $0.lastError = nil }
        } catch {
            let failure =
                error as? AuditError ?? AuditError(code: "io_failed", message: "audit log write failed: \(error)")
            withState { $0.lastError = failure }
            throw failure
        }
    }

    private static func recovery(_ torn: AuditLogFile.TornTail, actor: String, time: String) -> AuditPendingRecord {
        AuditPendingRecord(
            time: time, kind: AuditKind.auditRecovered.rawValue, actor: actor,
            fields: ["discarded_bytes": .int(torn.byteCount), "discarded_sha256": .string("sha256:" + torn.sha256)])
    }

    private func withState<R>(_ body: (inout State) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&state)
    }

    private static func dispatchInterval(_ duration: Duration) -> DispatchTimeInterval {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return .milliseconds(Int(max(10, min(milliseconds, Int64(Int32.max)))))
    }
}
