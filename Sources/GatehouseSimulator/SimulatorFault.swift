/// A fault the simulator can inject into a response.
public enum SimulatorFault: String, Sendable, CaseIterable {
    /// HTTP 401 with the provider's authentication error body, as for a revoked or wrong key.
    case unauthorized = "401"
    /// HTTP 429 with `retry-after` and `retry-after-ms` headers and the provider's rate-limit error body.
    case rateLimit = "429"
    /// HTTP 500 with the provider's server-error body.
    case serverError = "500"
    /// HTTP 503 with the provider's unavailable/overloaded body.
    case unavailable = "503"
    /// Waits ``SimulatorOptions/slow`` before answering normally.
    case slow
    /// Drops the connection: mid-stream after ``SimulatorOptions/resetAfterEvents`` content events, or
    /// mid-body for non-streams.
    case reset
    /// Emits an event that is not JSON mid-stream, or a truncated JSON body for non-streams.
    case malformed
}

/// One fault kind of ``SimulatorOptions/faults`` and how often it applies.
public struct SimulatorFaultRule: Sendable, Equatable, CustomStringConvertible {
    public var kind: SimulatorFault
    /// Probability in 0...1 that a request gets this kind; nil means ``SimulatorOptions/faultRate``.
    public var rate: Double?

    public init(_ kind: SimulatorFault, rate: Double? = nil) {
        self.kind = kind
        self.rate = rate
    }

    /// The CLI spelling: `KIND` or `KIND:RATE`.
    public var description: String {
        rate.map { "\(kind.rawValue):\($0)" } ?? kind.rawValue
    }
}
