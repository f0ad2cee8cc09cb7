import Hummingbird

/// Gemini routes under `/v1beta/models`: generate, stream, embed and list.
struct GeminiRoutes: Sendable {
    static let models: [(name: String, methods: [String])] = [
        ("sim-gemini", ["generateContent", "streamGenerateContent", "countTokens"]),
        ("sim-embedding", ["embedContent", "batchEmbedContents"]),
    ]

    let simulation: Simulation

    func register(on router: Router<BasicRequestContext>) {
        router.get("/v1beta/models") { request, _ in try await listModels(request) }
        router.get("/v1beta/models/:target") { request, context in
            try await getModel(request, name: context.parameters.get("target") ?? "")
        }
        // The segment is `{model}:{action}`; the model name may itself contain ':' so split at the last one.
        router.post("/v1beta/models/:target") { request, context in
            let target = context.parameters.get("target") ?? ""
            guard let colon = target.lastIndex(of: ":") else {
                return SimulatedError.notFound("Method not found: \(target)").response(in: .gemini)
            }
            let model = String(target[..<colon])
            switch target[target.index(after: colon)...] {
            case "generateContent": return try await generate(request, model: model, streaming: false)
            case "streamGenerateContent": return try await generate(request, model: model, streaming: true)
            case "embedContent": return try await embed(request, batch: false)
            case "batchEmbedContents": return try await embed(request, batch: true)
            case "countTokens": return try await countTokens(request, model: model)
            default: return SimulatedError.notFound("Method not found: \(target)").response(in: .gemini)
            }
        }
    }

    private func admit(_ request: Request) async throws -> Result<JSON, Rejection> {
        switch try await simulation.admit(request, dialect: .gemini) {
        case .rejected(let response): .failure(Rejection(response: response))
        case .accepted(let body): .success(body)
        }
    }

    private func generate(_ request: Request, model: String, streaming: Bool) async throws -> Response {
        let input: ReplyInput
        do {
            let body = try await admit(request).get()
            input = try GeminiContent.parse(body, model: model)
                .mapError { Rejection(response: $0.response(in: .gemini)) }.get()
        } catch let rejection as Rejection {
            return rejection.response
        }
        if let tooLong = simulation.contextWindowError(input, dialect: .gemini) { return tooLong }
        let fault: SimulatorFault?
        switch try await simulation.applyFault(request, echo: input.echo, dialect: .gemini) {
        case .respond(let response): return response
        case .proceed(let proceeding): fault = proceeding
        }
        let plan = Script.plan(input, replyWords: simulation.options.replyWords)
        let id = "sim-\(simulation.nextSerial())"
        guard streaming else {
            return try await simulation.deliver(GeminiContent.complete(plan, model: model, id: id), fault: fault)
        }
        let framing: StreamFraming =
            request.queryValue("alt") == "sse" ? .serverSentEvents(lineEnding: "\r\n") : .jsonArray
        return simulation.stream(
            GeminiContent.events(plan, model: model, id: id), framing: framing,
            malformedEvent: StreamEvent(rawData: "{not json"), fault: fault)
    }

    private func embed(_ request: Request, batch: Bool) async throws -> Response {
        let body: JSON
        switch try await admit(request) {
        case .failure(let rejection): return rejection.response
        case .success(let accepted): body = accepted
        }
        let requests = batch ? (body["requests"]?.arrayValue ?? []) : [body]
        guard !requests.isEmpty, requests.allSatisfy({ $0["content"]?.objectValue != nil }) else {
            return SimulatedError.invalidRequest("* EmbedContentRequest.content: content is not specified")
                .response(in: .gemini)
        }
        var vectors: [JSON] = []
        var texts: [String] = []
        for item in requests {
            let text = GeminiContent.text(of: item["content"] ?? .null)
            let dimensions = item.field("outputDimensionality")?.intValue ?? Embeddings.defaultDimensions
            guard (1...Embeddings.maximumDimensions).contains(dimensions) else {
                return SimulatedError.invalidRequest("outputDimensionality must be between 1 and 8192")
                    .response(in: .gemini)
            }
            texts.append(text)
            vectors.append(["values": Embeddings.json(Embeddings.vector(for: text, dimensions: dimensions))])
        }
        let fault: SimulatorFault?
        switch try await simulation.applyFault(request, echo: texts.joined(separator: " "), dialect: .gemini) {
        case .respond(let response): return response
        case .proceed(let proceeding): fault = proceeding
        }
        let response: JSON = batch ? ["embeddings": .array(vectors)] : ["embedding": vectors[0]]
        return try await simulation.deliver(response, fault: fault)
    }

    private func countTokens(_ request: Request, model: String) async throws -> Response {
        let body: JSON
        switch try await admit(request) {
        case .failure(let rejection): return rejection.response
        case .success(let accepted): body = accepted
        }
        switch GeminiContent.parse(body, model: model) {
        case .failure(let error): return error.response(in: .gemini)
        case .success(let input): return HTTPOutput.json(["totalTokens": .int(max(1, input.promptWords))])
        }
    }

    private func listModels(_ request: Request) async throws -> Response {
        if let error = simulation.credentials.check(request, dialect: .gemini) {
            return error.response(in: .gemini)
        }
        let fault: SimulatorFault?
        switch try await simulation.applyFault(request, echo: "", dialect: .gemini) {
        case .respond(let response): return response
        case .proceed(let proceeding): fault = proceeding
        }
        let list: JSON = ["models": .array(Self.models.map { Self.model($0.name, methods: $0.methods) })]
        return try await simulation.deliver(list, fault: fault)
    }

    private func getModel(_ request: Request, name: String) async throws -> Response {
        if let error = simulation.credentials.check(request, dialect: .gemini) {
            return error.response(in: .gemini)
        }
        let methods = Self.models.first { $0.name == name }?.methods ?? Self.models[0].methods
        return try await simulation.deliver(Self.model(name, methods: methods), fault: nil)
    }

    private static func model(_ name: String, methods: [String]) -> JSON {
        [
            "name": .string("models/\(name)"), "version": "001", "displayName": .string(name),
            "description": "Gatehouse provider simulator model", "inputTokenLimit": 1_048_576,
            "outputTokenLimit": 8192, "supportedGenerationMethods": .array(methods.map(JSON.string)),
        ]
    }
}
