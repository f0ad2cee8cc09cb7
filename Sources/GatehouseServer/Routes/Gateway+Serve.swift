import GatehouseCore

extension Gateway {
    /// `POST /v1/chat/completions` (OpenAI), `POST /v1/messages` (Anthropic) and
    /// `POST /v1/embeddings` (OpenAI): the request pipeline, stage by stage.
    func serve(_ request: FrontRequest, dialect: IngressDialect, operation: Call.Operation) async -> FrontResponse {
        var exchange = Exchange(dialect: dialect)
        do {
            let principal = try authenticate(request, exchange: &exchange)
            var call = try await parse(request, operation: operation, principal: principal, exchange: &exchange)
            let model = try authorize(call, exchange: exchange)
            try inputGuardrails(&call, model: model, exchange: &exchange)
            try await inputWebhooks(&call, model: model, exchange: &exchange)
            try await admit(&call, model: model, exchange: &exchange)
            var routed = try await route(&call, model: model, exchange: &exchange)
            try await outputGuardrails(&routed, call: call, exchange: &exchange)
            return respond(routed, call: call, exchange: exchange)
        } catch {
            return failure(error, exchange: exchange)
        }
    }
}
