import Foundation
import Hummingbird

/// State and policy shared by every route of one simulator instance.
final class Simulation: Sendable {
    let options: SimulatorOptions
    let credentials: Credentials
    let faults: FaultPlanner
    let log = RequestLog()
    private let counter = Locked(0)

    init(options: SimulatorOptions) {
        self.options = options
        self.credentials = Credentials(acceptedKeys: options.apiKeys)
        self.faults = FaultPlanner(options: options)
    }

    /// A process-wide increasing number for response ids.
    func nextSerial() -> Int {
        counter.withLock { value in
            value += 1
            return value
        }
    }

    var unixTime: Int { Int(Date().timeIntervalSince1970) }

    /// Authenticates and parses the JSON body: the body, or the error response to send instead.
    func admit(_ request: Request, dialect: Dialect) async throws -> Admission {
        if let error = credentials.check(request, dialect: dialect) {
            return .rejected(error.response(in: dialect))
        }
        guard let body = try await request.jsonObjectBody() else {
            return .rejected(
                SimulatedError.invalidRequest("The request body is not a valid JSON object.").response(in: dialect))
        }
        return .accepted(body)
    }

    /// The provider's "prompt is too long" error when the prompt exceeds ``SimulatorOptions/contextWindow``.
    func contextWindowError(_ input: ReplyInput, dialect: Dialect) -> Response? {
        guard let limit = options.contextWindow, input.promptTokens > limit else { return nil }
        return SimulatedError.contextLengthExceeded(tokens: input.promptTokens, limit: limit).response(in: dialect)
    }

    /// Picks the request's fault (noting it in the request log); answers status faults at once and waits
    /// out `slow`.
    func applyFault(_ request: Request, echo: String, dialect: Dialect) async throws -> FaultOutcome {
        let fault = faults.fault(header: request.header(FaultPlanner.headerName), echo: echo)
        guard let fault else { return .proceed(nil) }
        log.noteFault(fault)
        if let error = SimulatedError(fault: fault, retryAfterSeconds: options.retryAfterSeconds) {
            return .respond(error.response(in: dialect))
        }
        if fault == .slow {
            try await Task.sleep(for: options.slow)
        }
        return .proceed(fault)
    }

    /// A stream of `events` paced and damaged according to the options and `fault`.
    func stream(
        _ events: [StreamEvent], framing: StreamFraming, malformedEvent: StreamEvent, fault: SimulatorFault?
    ) -> Response {
        EventStream(
            events: events, framing: framing, malformedEvent: malformedEvent, fault: fault,
            resetAfterEvents: options.resetAfterEvents, timeToFirstToken: options.effectiveTimeToFirstToken,
            tokensPerSecond: options.tokensPerSecond
        ).response()
    }

    func deliver(_ json: JSON, fault: SimulatorFault?) async throws -> Response {
        try await HTTPOutput.deliver(json, fault: fault, latency: options.latency)
    }
}

enum Admission {
    case accepted(JSON)
    case rejected(Response)
}

enum FaultOutcome {
    /// Go on, applying this stream/body fault (`reset`, `malformed`) if any.
    case proceed(SimulatorFault?)
    case respond(Response)
}
