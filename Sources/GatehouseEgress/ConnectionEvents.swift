import GatehouseCore
import GatehouseSecurity
import Logging

/// Sees every TCP connection the HTTP client opens or fails to open, and records it.
///
/// AsyncHTTPClient reports its connection pool's life cycle only through its background
/// activity logger, so the keyholder installs this handler as that logger: it turns the
/// pool's "created" and "failed" events into `egress.connect` audit records (with the
/// pool's target — scheme, the address actually dialled, and the TLS name when the address
/// is pinned) and counts opened, failed and closed connections. Every other pool message is
/// ignored. The messages are those of the pinned AsyncHTTPClient version (see
/// DEPENDENCIES.md); `tests/e2e/test_audit_requests.py` checks that they are still seen.
struct ConnectionEventHandler: LogHandler {
    let metrics: EgressMetrics
    let record: @Sendable (AuditKind, [String: AuditValue]) -> Void

    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let outcome: String
        switch event.message.description {
        case "successfully created connection": outcome = "opened"
        case "connection attempt failed": outcome = "failed"
        case "connection closed":
            metrics.connections.add(["closed"])
            return
        default: return
        }
        metrics.connections.add([outcome])
        var fields: [String: AuditValue] = ["event": .string(outcome)]
        if let key = metadata["ahc-pool-key"]?.description {
            // "http://127.0.0.1:4010 TLS-hash: …" or "https://203.0.113.7:443 SNI: api.example.com TLS-hash: …"
            let target = key.components(separatedBy: " TLS-hash:").first ?? key
            fields["target"] = .string(String(target.prefix(300)))
        }
        record(.egressConnect, fields)
    }
}
