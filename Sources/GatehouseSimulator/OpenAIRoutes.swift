import Hummingbird

/// OpenAI routes: chat completions, embeddings and models.
struct OpenAIRoutes: Sendable {
    static let modelIDs = ["sim-gpt", "sim-claude", "sim-gemini", "sim-embedding"]
    static let modelsCreated = 1_700_000_000

    let simulation: Simulation

    func register(on router: Router<BasicRequestContext>) {
        for path in ["/v1/chat/completions", "/chat/completions"] {
            router.post(RouterPath(path)) { request, _ in try await chat(request) }
        }
        for path in ["/v1/embeddings", "/embeddings"] {
            router.post(RouterPath(path)) { request, _ in try await embeddings(request) }
        }
        for path in ["/v1/models", "/models"] {
            router.get(RouterPath(path)) { request, _ in try await models(request, id: nil) }
            router.get(RouterPath(path + "/:id")) { request, context in
                try await models(request, id: context.parameters.get("id"))
            }
        }
    }

    private func chat(_ request: Request) async throws -> Response {
        let body: JSON
        switch try await simulation.admit(request, dialect: .openAI) {
        case .rejected(let response): return response
        case .accepted(let accepted): body = accepted
        }
        let chat: OpenAIChat.ChatRequest
        switch OpenAIChat.parse(body) {
        case .failure(let error): return error.response(in: .openAI)
        case .success(let parsed): chat = parsed
        }
        if let tooLong = simulation.contextWindowError(chat.input, dialect: .openAI) { return tooLong }
        let fault: SimulatorFault?
        switch try await simulation.applyFault(request, echo: chat.input.echo, dialect: .openAI) {
        case .respond(let response): return response
        case .proceed(let proceeding): fault = proceeding
        }
        let plan = Script.plan(chat.input, replyWords: simulation.options.replyWords)
        let id = "chatcmpl-sim-\(simulation.nextSerial())"
        let created = simulation.unixTime
        let model = chat.input.model
        if chat.stream {
            let events = OpenAIChat.chunks(
                plan, model: model, id: id, created: created, includeUsage: chat.includeUsage)
            return simulation.stream(
                events, framing: .serverSentEvents(lineEnding: "\n"),
                malformedEvent: StreamEvent(rawData: "{not json"), fault: fault)
        }
        return try await simulation.deliver(
            OpenAIChat.completion(plan, model: model, id: id, created: created), fault: fault)
    }

    private func embeddings(_ request: Request) async throws -> Response {
        let body: JSON
        switch try await simulation.admit(request, dialect: .openAI) {
        case .rejected(let response): return response
        case .accepted(let accepted): body = accepted
        }
        guard let model = body["model"]?.stringValue, !model.isEmpty else {
            return SimulatedError.invalidRequest("you must provide a model parameter").response(in: .openAI)
        }
        guard let inputs = Self.embeddingInputs(body["input"]), !inputs.isEmpty else {
            return SimulatedError.invalidRequest("'input' must be a string, an array of strings or token arrays")
                .response(in: .openAI)
        }
        let dimensions = body["dimensions"]?.intValue ?? Embeddings.defaultDimensions
        guard (1...Embeddings.maximumDimensions).contains(dimensions) else {
            return SimulatedError.invalidRequest("'dimensions' must be between 1 and \(Embeddings.maximumDimensions)")
                .response(in: .openAI)
        }
        let format = body["encoding_format"]?.stringValue ?? "float"
        guard format == "float" || format == "base64" else {
            return SimulatedError.invalidRequest("'encoding_format' must be 'float' or 'base64'").response(in: .openAI)
        }
        let fault: SimulatorFault?
        switch try await simulation.applyFault(request, echo: inputs.joined(separator: " "), dialect: .openAI) {
        case .respond(let response): return response
        case .proceed(let proceeding): fault = proceeding
        }
        let data = inputs.enumerated().map { index, text -> JSON in
            let vector = Embeddings.vector(for: text, dimensions: dimensions)
            let embedding = format == "base64" ? .string(Embeddings.base64(vector)) : Embeddings.json(vector)
            return ["object": "embedding", "index": .int(index), "embedding": embedding]
        }
        let tokens = max(1, inputs.map(Script.wordCount).reduce(0, +))
        let response: JSON = [
            "object": "list", "data": .array(data), "model": .string(model),
            "usage": ["prompt_tokens": .int(tokens), "total_tokens": .int(tokens)],
        ]
        return try await simulation.deliver(response, fault: fault)
    }

    /// A string, strings, a token array (one input) or token arrays; tokens become their decimal text.
    static func embeddingInputs(_ input: JSON?) -> [String]? {
        if let text = input?.stringValue { return [text] }
        guard let elements = input?.arrayValue else { return nil }
        if elements.allSatisfy({ $0.stringValue != nil }) {
            return elements.compactMap(\.stringValue)
        }
        if elements.allSatisfy({ $0.intValue != nil }) {
            return [tokenText(elements)]
        }
        var inputs: [String] = []
        for element in elements {
            guard let tokens = element.arrayValue, tokens.allSatisfy({ $0.intValue != nil }) else { return nil }
            inputs.append(tokenText(tokens))
        }
        return inputs
    }

    private static func tokenText(_ tokens: [JSON]) -> String {
        tokens.compactMap(\.intValue).map(String.init).joined(separator: " ")
    }

    private func models(_ request: Request, id: String?) async throws -> Response {
        if let error = simulation.credentials.check(request, dialect: .openAI) {
            return error.response(in: .openAI)
        }
        let fault: SimulatorFault?
        switch try await simulation.applyFault(request, echo: "", dialect: .openAI) {
        case .respond(let response): return response
        case .proceed(let proceeding): fault = proceeding
        }
        if let id {
            return try await simulation.deliver(Self.model(id), fault: fault)
        }
        let list: JSON = ["object": "list", "data": .array(Self.modelIDs.map(Self.model))]
        return try await simulation.deliver(list, fault: fault)
    }

    private static func model(_ id: String) -> JSON {
        ["id": .string(id), "object": "model", "created": .int(modelsCreated), "owned_by": "gatehouse-simulator"]
    }
}
