import GatehouseCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Builds the HTTP application that serves the gateway's routes.
public enum GatewayApplication {
    public static func make(
        gateway: Gateway, host: String, port: Int, unixSocket: String? = nil, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: JSONNotFoundMiddleware())
        router.get("/health") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        // Counters only (names, codes, counts): no principal, token or content appears here.
        router.get("/metrics") { _, _ in
            let text = gateway.metrics.render() + (await gateway.extraMetrics())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.post("/v1/chat/completions") { request, _ in await gateway.chat(request, dialect: .openAI) }
        router.post("/chat/completions") { request, _ in await gateway.chat(request, dialect: .openAI) }
        router.post("/v1/messages") { request, _ in await gateway.chat(request, dialect: .anthropic) }
        router.post("/v1/embeddings") { request, _ in await gateway.embeddings(request) }
        router.post("/embeddings") { request, _ in await gateway.embeddings(request) }
        router.get("/v1/models") { request, _ in await gateway.models(request, id: nil) }
        router.get("/v1/models/{id}") { request, context in
            await gateway.models(request, id: context.parameters.get("id"))
        }
        return Application(
            router: router,
            configuration: .init(
                address: unixSocket.map { .unixDomainSocket(path: $0) } ?? .hostname(host, port: port), serverName: "gatehouse"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}

/// Answers unknown routes with an OpenAI-style JSON 404 instead of an empty body.
struct JSONNotFoundMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            let body = GatewayError(.notFound, "No route for \(request.method) \(request.uri.path).", code: "route_not_found")
            return IngressDialect.openAI.errorResponse(body, requestID: "none")
        }
    }
}
