import GatehouseCore

/// Encodes gateway stream events in the caller's dialect. A pure state machine.
public protocol IngressStreamEncoder: Sendable {
    /// Wire text for one event; may be empty when the event is held for the end.
    mutating func encode(_ event: StreamEvent) -> String
    /// Wire text that closes a completed stream.
    mutating func finish() -> String
    /// Wire text that reports a failure mid-stream, in the dialect's error shape.
    func encodeError(_ error: GatewayError) -> String
}
