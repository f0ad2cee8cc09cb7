import CGatehouseSandbox
import GatehouseLink
import GatehouseSecurity
import GatehouseServer
import Logging
import ServiceLifecycle

/// Runs the front's audit forwarder for as long as the front serves, and hands over what
/// is still queued when it stops (the keyholder outlives the front: it is stopped second).
struct AuditForwarding: Service {
    let forwarder: LinkAuditForwarder

    func run() async throws {
        await cancelWhenGracefulShutdown { await forwarder.run() }
        // The last batch, sent from a task that does not inherit the cancellation.
        await Task { await forwarder.flush() }.value
    }
}

/// Hands expired leases back to the ledger every second, and every lease at shutdown.
struct AccountingLeases: Service {
    let accounting: Accounting

    func run() async throws {
        await cancelWhenGracefulShutdown { await accounting.run() }
        await Task { await accounting.returnAll() }.value
    }
}

/// Turns the sandbox's counts of refused system calls into audit records, metrics and a
/// log line, once a second. The attempts themselves were refused by the kernel; this
/// leaves the trace.
struct SandboxWatch: Service {
    let audit: any AuditSink
    let metrics: GatewayMetrics
    let logger: Logger

    static let kinds = ["socket_inet", "socket_inet6", "socket_packet", "io_uring", "other"]

    func run() async throws {
        var reported = [UInt](repeating: 0, count: Self.kinds.count)
        while !Task.isCancelledOrShuttingDown {
            try? await Task.sleep(for: .seconds(1))
            report(since: &reported)
        }
        report(since: &reported)
    }

    func report(since reported: inout [UInt]) {
        var counts = [UInt](repeating: 0, count: Self.kinds.count)
        counts.withUnsafeMutableBufferPointer { gatehouse_sandbox_blocked_counts($0.baseAddress) }
        var fields: AuditFields = [:]
        var total = 0
        for (index, kind) in Self.kinds.enumerated() where counts[index] > reported[index] {
            let delta = Int(counts[index] - reported[index])
            fields[kind] = .int(delta)
            metrics.sandboxBlocked.add([kind], Int64(delta))
            total += delta
        }
        reported = counts
        guard total > 0 else { return }
        fields["total"] = .int(total)
        logger.warning(
            "the sandbox refused system calls in the front: code in this process tried to reach the network",
            metadata: ["gatehouse.sandbox.blocked": .stringConvertible(total)])
        audit.record(.sandboxBlocked, fields: fields)
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}
