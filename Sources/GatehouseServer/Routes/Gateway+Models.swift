import GatehouseCore
import NIOCore
import NIOHTTP1

extension Gateway {
    /// `GET /v1/models`: the models this token may use, in the dialect of the caller
    /// (Anthropic when an `anthropic-version` header is present).
    func models(_ request: FrontRequest, id: String?) async -> FrontResponse {
        let dialect: IngressDialect = request.header("anthropic-version") != nil ? .anthropic : .openAI
        var exchange = Exchange(dialect: dialect)
        do {
            let principal = try authenticate(request, exchange: &exchange)
            var visible = catalog.models.filter { principal.allows(model: $0.name) }
            if let id {
                guard let model = visible.first(where: { $0.name == id }) else {
                    throw GatewayError(
                        .notFound, "The model '\(id)' does not exist on this gateway.", code: .modelNotFound,
                        param: "model")
                }
                visible = [model]
            }
            let entries: [JSONValue] = visible.map { model in
                switch dialect {
                case .openAI:
                    return .object([
                        "id": .string(model.name), "object": .string("model"), "created": .int(0),
                        "owned_by": .string(model.provider),
                    ])
                case .anthropic:
                    return .object([
                        "type": .string("model"), "id": .string(model.name),
                        "display_name": .string(model.name), "created_at": .string("1970-01-01T00:00:00Z"),
                    ])
                }
            }
            let body: JSONValue
            if id != nil, let entry = entries.first {
                body = entry
            } else if dialect == .openAI {
                body = .object(["object": .string("list"), "data": .array(entries)])
            } else {
                body = .object([
                    "data": .array(entries), "has_more": .bool(false),
                    "first_id": visible.first.map { .string($0.name) } ?? .null,
                    "last_id": visible.last.map { .string($0.name) } ?? .null,
                ])
            }
            finish(exchange, status: 200)
            return .json(.ok, body.encodedBuffer(), requestID: exchange.id)
        } catch {
            return failure(error, exchange: exchange)
        }
    }
}
