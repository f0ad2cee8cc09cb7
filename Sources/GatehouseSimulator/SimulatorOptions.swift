/// How the provider simulator listens, paces its answers and misbehaves.
///
/// The API keys are fake credentials that the simulator compares against; they are never logged,
/// echoed or printed (``description`` shows only how many there are).
public struct SimulatorOptions: Sendable, CustomStringConvertible {
    /// Address to bind; loopback by default.
    public var host: String
    /// Port to bind; 0 picks an ephemeral port (reported through `onListening`).
    public var port: Int
    /// Delay before a non-streamed response.
    public var latency: Duration
    /// Delay before the first event of a stream; nil means ``latency``.
    public var timeToFirstToken: Duration?
    /// Pace of content events after the first one in a stream; 0 sends them without pause.
    public var tokensPerSecond: Double
    /// Pads text replies with filler words `w1 w2 …` up to this many words.
    public var replyWords: Int?
    /// Faults injected into API responses, each with its own probability; the rates add up.
    ///
    /// One draw per request picks the first kind whose cumulative rate covers it (docs/simulator.md, Faults).
    public var faults: [SimulatorFaultRule]
    /// Probability in 0...1 of a rule in ``faults`` that has no rate of its own.
    public var faultRate: Double
    /// Value of the `retry-after` header sent with simulated 429s (`retry-after-ms` carries it in ms).
    public var retryAfterSeconds: Int
    /// How long the `slow` fault waits.
    public var slow: Duration
    /// Accepted API keys; empty accepts any non-empty key.
    public var apiKeys: [String]
    /// Seed of the generator that decides when ``faults`` apply.
    public var seed: UInt64
    /// Largest prompt, in prompt tokens (words), a chat request may have; nil accepts any.
    public var contextWindow: Int?
    /// Content events a stream sends before the `reset` fault drops the connection.
    public var resetAfterEvents: Int

    /// `fault` (at ``faultRate``), when given, becomes the first rule, followed by `faults`.
    public init(
        host: String = "127.0.0.1",
        port: Int = 4010,
        latency: Duration = .zero,
        timeToFirstToken: Duration? = nil,
        tokensPerSecond: Double = 0,
        replyWords: Int? = nil,
        fault: SimulatorFault? = nil,
        faultRate: Double = 1.0,
        faults: [SimulatorFaultRule] = [],
        retryAfterSeconds: Int = 1,
        slow: Duration = .milliseconds(5000),
        apiKeys: [String] = [],
        seed: UInt64 = 0,
        contextWindow: Int? = nil,
        resetAfterEvents: Int = 2
    ) {
        self.host = host
        self.port = port
        self.latency = latency
        self.timeToFirstToken = timeToFirstToken
        self.tokensPerSecond = tokensPerSecond
        self.replyWords = replyWords
        self.faults = (fault.map { [SimulatorFaultRule($0)] } ?? []) + faults
        self.faultRate = faultRate
        self.retryAfterSeconds = retryAfterSeconds
        self.slow = slow
        self.apiKeys = apiKeys
        self.seed = seed
        self.contextWindow = contextWindow
        self.resetAfterEvents = resetAfterEvents
    }

    /// The first kind in ``faults``; setting it replaces ``faults`` with that one kind at ``faultRate``.
    ///
    /// Kept for callers written when the simulator had a single configured fault.
    public var fault: SimulatorFault? {
        get { faults.first?.kind }
        set { faults = newValue.map { [SimulatorFaultRule($0)] } ?? [] }
    }

    /// Each rule of ``faults`` with its rate resolved (``faultRate`` where it has none).
    public var resolvedFaultRates: [(kind: SimulatorFault, rate: Double)] {
        faults.map { (kind: $0.kind, rate: $0.rate ?? faultRate) }
    }

    /// The delay before the first event of a stream.
    public var effectiveTimeToFirstToken: Duration { timeToFirstToken ?? latency }

    public var description: String {
        let words = replyWords.map(String.init) ?? "nil"
        let window = contextWindow.map(String.init) ?? "nil"
        let pacing =
            "latency: \(latency), timeToFirstToken: \(effectiveTimeToFirstToken), tokensPerSecond: \(tokensPerSecond)"
        let faultText = "faults: \(faults.map(\.description)), faultRate: \(faultRate)"
        return "SimulatorOptions(host: \(host), port: \(port), \(pacing), replyWords: \(words), \(faultText), "
            + "retryAfterSeconds: \(retryAfterSeconds), slow: \(slow), apiKeys: \(apiKeys.count) configured, "
            + "seed: \(seed), contextWindow: \(window), resetAfterEvents: \(resetAfterEvents))"
    }
}
