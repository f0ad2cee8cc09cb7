import Foundation
import GatehouseCore
import Logging
import NIOCore
import NIOHTTP1

/// Builds the HTTP server that serves the gateway's routes.
public enum GatewayApplication {
    public static func make(
        gateway: Gateway, host: String, port: Int, unixSocket: String? = nil, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> FrontServer {
        FrontServer(
            address: unixSocket.map { .unix(path: $0) } ?? .tcp(host: host, port: port),
            maxBodyBytes: gateway.limits.maxBodyBytes, logger: logger, onListening: onListening
        ) { request in
            await gateway.respond(to: request)
        }
    }
}

extension Gateway {
    /// The routes. Unknown routes get an OpenAI-style JSON 404 instead of an empty body.
    public func respond(to request: FrontRequest) async -> FrontResponse {
        var path = Substring(request.path)
        if path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        switch (request.method, path) {
        case (.POST, "/v1/chat/completions"), (.POST, "/chat/completions"):
            return await serve(request, dialect: .openAI, operation: .chat)
        case (.POST, "/v1/messages"):
            return await serve(request, dialect: .anthropic, operation: .chat)
        case (.POST, "/v1/embeddings"), (.POST, "/embeddings"):
            return await serve(request, dialect: .openAI, operation: .embeddings)
        case (.GET, "/v1/gatehouse/routes"):
            return await routes(request)
        case (.GET, "/v1/gatehouse/usage"):
            return await usage(request)
        case (.GET, "/v1/models"):
            return await models(request, id: nil)
        case (.GET, "/health"):
            return .json(.ok, ByteBuffer(string: #"{"status":"ok"}"#))
        case (.GET, "/metrics"):
            // Counters only (names, codes, counts): no principal, token or content appears here.
            let text = metrics.render() + (await extraMetrics())
            return FrontResponse(
                status: .ok, headers: ["content-type": "text/plain; version=0.0.4; charset=utf-8"],
                body: .buffer(ByteBuffer(string: text)))
        default:
            let prefix = "/v1/models/"
            if request.method == .GET, path.hasPrefix(prefix) {
                let id = path.dropFirst(prefix.count)
                if !id.isEmpty, !id.contains("/") {
                    return await models(request, id: String(id).removingPercentEncoding ?? String(id))
                }
            }
            let error = GatewayError(.notFound, "No route for \(request.method.rawValue) \(request.path.prefix(200)).", code: .routeNotFound)
            return IngressDialect.openAI.errorResponse(error, requestID: "none")
        }
    }
}
