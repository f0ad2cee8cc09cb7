import GatehouseSecurity
import Synchronization

/// The front's audit sink. The front may not write the audit log (it holds no audit key
/// and its sandbox hides the state directory), so it queues what it witnesses — request
/// metadata, authentication refusals, blocked system calls — and hands batches to the
/// keyholder over the link, which appends them with actor `front`.
///
/// Recording never waits: `record` appends to memory under a lock. A batch leaves every
/// `interval` (or sooner once `batchSize` records wait). If the keyholder is away, records
/// wait up to `capacity`; beyond that the oldest are dropped and the loss is itself
/// recorded (`audit.dropped`) once the keyholder is back. So a crash of the front loses at
/// most one interval of records, and a crash of the keyholder what its writer had not flushed.
public final class LinkAuditForwarder: AuditSink {
    public typealias Record = (kind: AuditKind, fields: AuditFields)

    struct Queue {
        var records: [Record] = []
        /// The position, counted from the first record ever queued, of `records[0]`.
        var head = 0
        var dropped = 0
    }

    let link: KeyholderLink
    let interval: Duration
    let batchSize: Int
    let capacity: Int
    private let queue = Mutex(Queue())
    /// Set when a full batch is waiting, to cut the interval short.
    private let wake = Mutex<CheckedContinuation<Void, Never>?>(nil)

    public init(link: KeyholderLink, interval: Duration = .milliseconds(250), batchSize: Int = 512, capacity: Int = 50_000) {
        self.link = link
        self.interval = interval
        self.batchSize = batchSize
        self.capacity = capacity
    }

    public func record(_ kind: AuditKind, fields: AuditFields) {
        let full = queue.withLock { queue in
            if queue.records.count >= capacity {
                queue.records.removeFirst()
                queue.head += 1
                queue.dropped += 1
            }
            queue.records.append((kind, fields))
            return queue.records.count == batchSize
        }
        if full { wake.withLock { $0.take() }?.resume() }
    }

    /// Records waiting to be sent (for tests and metrics).
    public var pending: Int { queue.withLock { $0.records.count } }

    /// Records dropped because the queue was full, not yet reported.
    public var droppedUnreported: Int { queue.withLock { $0.dropped } }

    /// Sends batches until cancelled. Call ``flush()`` afterwards (outside the cancelled
    /// task) to send what is left.
    public func run() async {
        while !Task.isCancelled {
            await sleepOrWake()
            await flush()
        }
    }

    /// Sends everything queued now, in batches; what the keyholder does not take stays queued.
    public func flush() async {
        while true {
            let (batch, start, dropped) = queue.withLock { queue -> ([Record], Int, Int) in
                (Array(queue.records.prefix(batchSize)), queue.head, queue.dropped)
            }
            guard !batch.isEmpty || dropped > 0 else { return }
            var sending = batch
            if dropped > 0 { sending.append((.auditDropped, ["count": .int(dropped), "reason": "front_queue_full"])) }
            do {
                _ = try await link.sendRecords(sending)
            } catch {
                return
            }
            queue.withLock { queue in
                // Only what was sent leaves (some of it may have been dropped meanwhile).
                let sent = min(max(0, start + batch.count - queue.head), queue.records.count)
                queue.records.removeFirst(sent)
                queue.head += sent
                queue.dropped -= dropped
            }
            if batch.count < batchSize { return }
        }
    }

    private func sleepOrWake() async {
        let interval = self.interval
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: interval) }
            group.addTask { [self] in
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        wake.withLock { $0 = continuation }
                        if Task.isCancelled { wake.withLock { $0.take() }?.resume() }
                    }
                } onCancel: {
                    wake.withLock { $0.take() }?.resume()
                }
            }
            await group.next()
            group.cancelAll()
        }
    }
}
