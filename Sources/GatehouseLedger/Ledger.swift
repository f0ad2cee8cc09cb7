import Dispatch
import Foundation
import GatehouseCore
import GatehousePolicy
import GatehouseSecurity
import Logging

/// The ledger: grants budget and rate-limit leases to the front, and writes each request's
/// usage row. It runs in the keyholder process, on one thread of its own, with one connection
/// to the store; the front reaches it only through the link (`ledgerRequest` frames).
///
/// Usage rows come from the request records the front forwards to the audit log, so a request
/// that is in the audit log is in the usage store: rows are queued and written in batches;
/// while the database is unreachable they stay queued (up to ``maxQueuedRows``) and are written
/// when it returns.
public final class Ledger: @unchecked Sendable {
    /// Rows held while the store is unreachable, at most.
    public static let maxQueuedRows = 1_000_000

    private let queue = DispatchQueue(label: "gatehouse.ledger")
    // Touched only on `queue`.
    private var store: LedgerStore?
    private let open: () throws -> LedgerStore
    private var pending: [UsageRow] = []
    private var timer: (any DispatchSourceTimer)?
    private var lastFailure: String?
    private let retention: Int64?
    private var lastPrune: Int64 = 0
    let logger: Logger
    /// Records a store failure in the audit log (once per outage).
    private let onOutage: @Sendable (String) -> Void

    /// `open` connects and migrates; it is called again after a failure.
    public init(
        retentionMilliseconds: Int64? = nil, logger: Logger, onOutage: @escaping @Sendable (String) -> Void = { _ in },
        open: @escaping () throws -> LedgerStore
    ) {
        self.open = open
        self.logger = logger
        self.retention = retentionMilliseconds
        self.onOutage = onOutage
    }

    /// Opens the store at start: a failure here stops the start (a newer schema, a bad path).
    public func start() throws {
        try queue.sync {
            store = try open()
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now() + .milliseconds(200), repeating: .milliseconds(200))
            timer.setEventHandler { [weak self] in self?.flush() }
            timer.resume()
            self.timer = timer
        }
    }

    /// Writes what is queued and stops.
    public func stop() {
        queue.sync {
            timer?.cancel()
            timer = nil
            flush()
        }
    }

    /// Rows queued and not yet written (for tests and the metrics).
    public var queuedRows: Int { queue.sync { pending.count } }

    // MARK: Usage rows

    /// Takes a request record's fields (as forwarded to the audit log) into the usage store.
    public func observe(request fields: AuditFields) {
        guard let row = Self.row(from: fields, at: Int64(Date().timeIntervalSince1970 * 1000)) else { return }
        queue.async {
            if self.pending.count >= Self.maxQueuedRows {
                self.pending.removeFirst(self.pending.count / 100 + 1)
                self.logger.error("ledger queue full: oldest usage rows dropped (the audit log still has them)")
            }
            self.pending.append(row)
            if self.pending.count >= 512 { self.flush() }
        }
    }

    static func row(from fields: AuditFields, at milliseconds: Int64) -> UsageRow? {
        var values: [String: AuditValue] = [:]
        for (key, value) in fields { values[key] = value }
        func text(_ key: String) -> String? {
            if case .string(let value)? = values[key] { return value }
            return nil
        }
        func int(_ key: String) -> Int64? {
            if case .int(let value)? = values[key] { return value }
            return nil
        }
        // Requests for a model only (not operator views such as this report itself).
        guard let id = text("request_id"), let status = int("status"), text("model") != nil else { return nil }
        return UsageRow(
            requestID: id, atMilliseconds: milliseconds, principal: text("principal"), team: text("team"),
            tokenID: text("token_id"), model: text("model"), deployment: text("deployment"), status: Int(status),
            promptTokens: int("prompt_tokens") ?? 0, completionTokens: int("completion_tokens") ?? 0,
            cachedTokens: int("cached_tokens") ?? 0, cost: text("cost_usd").flatMap(Nanodollars.init(parsing:)) ?? .zero,
            durationMilliseconds: int("duration_ms") ?? 0, firstByteMilliseconds: int("ttfb_ms"))
    }

    /// On `queue`: writes the queued rows, reconnecting first if the store was lost.
    private func flush() {
        guard !pending.isEmpty || retention != nil else { return }
        do {
            let store = try connected()
            while !pending.isEmpty {
                let batch = Array(pending.prefix(2048))
                try store.insert(batch)
                pending.removeFirst(batch.count)
            }
            try pruneIfDue(store)
        } catch {
            lost(error)
        }
    }

    private func pruneIfDue(_ store: LedgerStore) throws {
        guard let retention else { return }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        guard now - lastPrune > 600_000 else { return }
        lastPrune = now
        try store.prune(before: now - retention)
    }

    private func connected() throws -> LedgerStore {
        if let store { return store }
        let reopened = try open()
        store = reopened
        if lastFailure != nil {
            logger.notice("ledger store reachable again", metadata: ["gatehouse.ledger.queued": .stringConvertible(pending.count)])
            lastFailure = nil
        }
        return reopened
    }

    private func lost(_ error: any Error) {
        store = nil
        let message = (error as? LedgerStoreError)?.description ?? "\(type(of: error))"
        if lastFailure == nil {
            logger.error("ledger store unreachable; usage rows queued", metadata: ["gatehouse.ledger.error": .string(message)])
            onOutage(message)
        }
        lastFailure = message
    }

    // MARK: Questions from the front

    /// Answers one ledger question (see ``LedgerQuestion``); `{"error": …}` when the store is unreachable.
    public func answer(_ question: JSONValue) async -> JSONValue {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: self.answerNow(question)) }
        }
    }

    private func answerNow(_ question: JSONValue) -> JSONValue {
        do {
            let store = try connected()
            // A report includes every row the ledger has taken.
            if question["op"]?.stringValue == "usage", !pending.isEmpty {
                try store.insert(pending)
                pending.removeAll()
            }
            return try Self.answer(question, store: store, now: Self.nowNanoseconds())
        } catch let error as LedgerQuestion.Invalid {
            return .object(["error": .string("invalid"), "message": .string(error.message)])
        } catch {
            lost(error)
            return .object(["error": .string("unavailable")])
        }
    }

    static func nowNanoseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }

    static func answer(_ question: JSONValue, store: LedgerStore, now: Int64) throws -> JSONValue {
        let q = LedgerQuestion(question)
        switch try q.string("op") {
        case "lease_budget":
            let result = try store.leaseBudget(
                key: try q.string("key"), period: try q.string("period"), limit: try q.int("limit"),
                need: try q.int("need"), ask: try q.int("ask"))
            return .object(["granted": .int(result.granted), "consumed": .int(result.consumed)])
        case "return_budget":
            try store.returnBudget(key: try q.string("key"), period: try q.string("period"), amount: try q.int("amount"))
            return .object(["ok": .bool(true)])
        case "lease_rate":
            let window = RateWindow(limit: try q.int("limit"), window: try q.int("window_ns"))
            let grant = try store.leaseRate(key: try q.string("key"), window: window, ask: try q.int("ask"), now: now)
            return .object([
                "granted": .int(grant.granted), "remaining": .int(grant.remaining),
                "retry_after_ns": .int(grant.retryAfter), "reset_ns": .int(grant.reset),
            ])
        case "return_rate":
            let window = RateWindow(limit: try q.int("limit"), window: try q.int("window_ns"))
            try store.returnRate(key: try q.string("key"), window: window, units: try q.int("amount"), now: now)
            return .object(["ok": .bool(true)])
        case "usage":
            guard let grouping = UsageGrouping(rawValue: try q.string("group_by")) else {
                throw LedgerQuestion.Invalid(message: "unknown group_by")
            }
            let groups = try store.usage(groupBy: grouping, from: try q.int("from_ms"), to: try q.int("to_ms"))
            return .object(["groups": .array(groups.map(Self.json))])
        default:
            throw LedgerQuestion.Invalid(message: "unknown op")
        }
    }

    public static func json(_ group: UsageGroup) -> JSONValue {
        .object([
            "key": .string(group.key), "requests": .int(group.requests), "prompt_tokens": .int(group.promptTokens),
            "completion_tokens": .int(group.completionTokens), "cached_tokens": .int(group.cachedTokens),
            "cost_usd": .string(group.cost.description),
        ])
    }

    /// Writes the queued rows now (before a usage report, and in tests).
    public func flushNow() {
        queue.sync { flush() }
    }
}

/// Reads a question's members.
struct LedgerQuestion {
    struct Invalid: Error {
        let message: String
    }

    let value: JSONValue
    init(_ value: JSONValue) { self.value = value }

    func string(_ key: String) throws -> String {
        guard let text = value[key]?.stringValue, !text.isEmpty, text.utf8.count <= 512 else {
            throw Invalid(message: "'\(key)' must be a string")
        }
        return text
    }

    func int(_ key: String) throws -> Int64 {
        guard let number = value[key]?.intValue else { throw Invalid(message: "'\(key)' must be an integer") }
        return Int64(number)
    }
}
