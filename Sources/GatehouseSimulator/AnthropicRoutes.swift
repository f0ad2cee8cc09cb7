import Hummingbird

/// Anthropic routes: `POST /v1/messages` (and `/v1/messages/count_tokens`).
struct AnthropicRoutes: Sendable {
    let simulation: Simulation

    func register(on router: Router<BasicRequestContext>) {
        router.post("/v1/messages") { request, _ in try await messages(request) }
        router.post("/v1/messages/count_tokens") { request, _ in try await countTokens(request) }
    }

    /// Authenticates, requires `anthropic-version`, parses: the request or the error response.
    private func admit(_ request: Request) async throws -> Result<AnthropicMessages.MessagesRequest, Rejection> {
        let body: JSON
        switch try await simulation.admit(request, dialect: .anthropic) {
        case .rejected(let response): return .failure(Rejection(response: response))
        case .accepted(let accepted): body = accepted
        }
        guard request.header("anthropic-version") != nil else {
            let error = SimulatedError.invalidRequest("anthropic-version: header is required")
            return .failure(Rejection(response: error.response(in: .anthropic)))
        }
        return AnthropicMessages.parse(body).mapError { Rejection(response: $0.response(in: .anthropic)) }
    }

    private func messages(_ request: Request) async throws -> Response {
        let messages: AnthropicMessages.MessagesRequest
        switch try await admit(request) {
        case .failure(let rejection): return rejection.response
        case .success(let parsed): messages = parsed
        }
        if let tooLong = simulation.contextWindowError(messages.input, dialect: .anthropic) { return tooLong }
        let fault: SimulatorFault?
        switch try await simulation.applyFault(request, echo: messages.input.echo, dialect: .anthropic) {
        case .respond(let response): return response
        case .proceed(let proceeding): fault = proceeding
        }
        let plan = Script.plan(messages.input, replyWords: simulation.options.replyWords)
        let id = "msg_sim_\(simulation.nextSerial())"
        let model = messages.input.model
        if messages.stream {
            return simulation.stream(
                AnthropicMessages.events(plan, model: model, id: id), framing: .serverSentEvents(lineEnding: "\n"),
                malformedEvent: StreamEvent(name: "content_block_delta", rawData: "{not json"), fault: fault)
        }
        return try await simulation.deliver(AnthropicMessages.message(plan, model: model, id: id), fault: fault)
    }

    private func countTokens(_ request: Request) async throws -> Response {
        var body: JSON
        switch try await simulation.admit(request, dialect: .anthropic) {
        case .rejected(let response): return response
        case .accepted(let accepted): body = accepted
        }
        // count_tokens does not take max_tokens; supply it so the shared parser accepts the body.
        if body["max_tokens"] == nil, case .object(var members) = body {
            members.append((key: "max_tokens", value: 1))
            body = .object(members)
        }
        switch AnthropicMessages.parse(body) {
        case .failure(let error): return error.response(in: .anthropic)
        case .success(let parsed):
            return HTTPOutput.json(["input_tokens": .int(max(1, parsed.input.promptWords))])
        }
    }
}

/// An error response that ends request handling early.
struct Rejection: Error {
    let response: Response
}
