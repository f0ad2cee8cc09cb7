/// Where a component sends the security-relevant events it witnesses. Recording never
/// throws into the caller's work and never waits for a disk: a sink that cannot keep a
/// record counts or logs the loss itself.
public protocol AuditSink: Sendable {
    func record(_ kind: AuditKind, fields: AuditFields)
}

extension AuditWriter: AuditSink {
    /// Appends; a record the writer refuses (closed, backlog full, invalid field) is dropped.
    public func record(_ kind: AuditKind, fields: AuditFields) {
        try? append(kind, fields: fields)
    }
}

/// A sink that keeps nothing: for gateways run without an audit log (tests, embedded use).
public struct DiscardingAuditSink: AuditSink {
    public init() {}
    public func record(_ kind: AuditKind, fields: AuditFields) {}
}
