import Foundation
import GatehouseCore
import GatehouseProviders
import NIOCore
import NIOHTTP1

extension Gateway {
    /// `POST /v1/chat/completions` (OpenAI) and `POST /v1/messages` (Anthropic).
    func chat(_ request: FrontRequest, dialect: IngressDialect) async -> FrontResponse {
        var exchange = Exchange(id: Self.makeRequestID(), dialect: dialect, started: .now)
        do {
            let principal = try authenticate(request, exchange: &exchange)
            let body = try await readBody(request)
            exchange.received(body)
            // Scanned, not decoded: a pass-through needs only the model and the stream flags,
            // and a translation decodes the body itself.
            let members = try Self.scanBody(body)
            try refuseRoutingOverrides(request, members: members)
            let model = try Self.model(in: members, body: body)
            exchange.model = model
            let stream: Bool
            switch members.value(of: "stream", in: body) {
            case nil, .null?: stream = false
            case .bool(let flag)?: stream = flag
            default: throw GatewayError.invalidField("stream", "expected a boolean")
            }
            let deployment = try authorize(model: model, principal: principal, exchange: exchange)
            exchange.deployment = deployment
            let provider = ProviderRegistry.chatProvider(for: deployment.kind)
            if provider.dialect == dialect.wire, let passThrough = provider as? any PassThroughProvider {
                exchange.mode = "pass-through"
                return try await forward(
                    request, body: body, members: members, stream: stream, deployment: deployment,
                    provider: passThrough, exchange: exchange)
            }
            let chat: ChatRequest
            switch dialect {
            case .openAI: chat = try OpenAIDialect.decodeChatRequest(body)
            case .anthropic: chat = try AnthropicDialect.decodeChatRequest(body)
            }
            return try await translate(chat, deployment: deployment, provider: provider, exchange: exchange)
        } catch {
            return failure(error, exchange: exchange)
        }
    }

    // MARK: Translated path

    func translate(_ chat: ChatRequest, deployment: Deployment, provider: any ChatProvider, exchange: Exchange) async throws -> FrontResponse {
        var exchange = exchange
        let prepared = try provider.makeChatRequest(chat, deployment: deployment)
        let upstream = try await egress.send(prepared.egress)
        guard (200..<300).contains(upstream.status) else {
            throw await upstreamError(upstream, provider: provider)
        }
        var headers: HTTPHeaders = ["x-request-id": exchange.id]
        if !prepared.droppedFields.isEmpty { headers.add(name: "x-gatehouse-dropped-params", value: prepared.droppedFields.joined(separator: ",")) }
        if !chat.stream {
            let body = try await readUpstreamBody(upstream)
            let response = try provider.decodeChatResponse(body, deployment: deployment)
            exchange.usage = response.usage
            headers.add(name: "content-type", value: "application/json")
            let encoded: ByteBuffer
            switch exchange.dialect {
            case .openAI:
                var response = response
                if response.created == 0 { response.created = Int(Date().timeIntervalSince1970) }
                encoded = OpenAIDialect.encodeChatResponse(response, model: deployment.publicName)
            case .anthropic:
                encoded = AnthropicDialect.encodeChatResponse(response, model: deployment.publicName)
            }
            return answered(FrontResponse(status: .ok, headers: headers, body: .buffer(encoded)), exchange: exchange)
        }
        headers.add(name: "content-type", value: "text/event-stream")
        headers.add(name: "cache-control", value: "no-cache")
        let decoder = provider.makeStreamDecoder(deployment: deployment)
        let encoder: any IngressStreamEncoder
        switch exchange.dialect {
        case .openAI:
            encoder = OpenAIDialect.makeStreamEncoder(
                model: deployment.publicName, includeUsage: chat.includeUsage, created: Int(Date().timeIntervalSince1970))
        case .anthropic:
            encoder = AnthropicDialect.makeStreamEncoder(model: deployment.publicName)
        }
        let body: FrontResponse.Body = .stream { [self, exchange] writer in
            var exchange = exchange
            var decoder = decoder
            var encoder = encoder
            var parser = SSEParser()
            do {
                for try await chunk in upstream.body {
                    var out = ""
                    for parsed in try parser.feed(chunk) {
                        for event in try decoder.decode(parsed.event) {
                            if case .usage(let value) = event { exchange.usage = value }
                            out += encoder.encode(event)
                        }
                    }
                    try await Self.emit(out, to: writer, exchange: &exchange)
                }
                var out = ""
                for parsed in parser.finish() {
                    for event in try decoder.decode(parsed.event) { out += encoder.encode(event) }
                }
                for event in try decoder.finish() {
                    if case .usage(let value) = event { exchange.usage = value }
                    out += encoder.encode(event)
                }
                try await Self.emit(out + encoder.finish(), to: writer, exchange: &exchange)
                finish(exchange, status: 200)
            } catch let error {
                try await reportStreamFailure(error, exchange: exchange, encoder: encoder, writer: writer)
            }
        }
        return FrontResponse(status: .ok, headers: headers, body: body)
    }

    /// Ends a failed stream: an error event in the caller's dialect if the caller is still
    /// there, otherwise a log line and a rethrow (nothing more can be written).
    func reportStreamFailure(
        _ error: any Error, exchange: Exchange, encoder: some IngressStreamEncoder, writer: any FrontBodyWriter
    ) async throws {
        var exchange = exchange
        guard let failure = Self.streamFailure(error) else {
            finish(exchange, status: 499, error: GatewayError(.invalidRequest, "client went away", code: "client_disconnected"))
            throw error
        }
        try await Self.emit(encoder.encodeError(failure), to: writer, exchange: &exchange)
        finish(exchange, status: 200, error: failure)
    }

    /// Thrown when writing to the caller fails: the caller has gone, so the upstream is abandoned.
    struct CallerDisconnected: Error {}

    static func emit(_ text: String, to writer: any FrontBodyWriter, exchange: inout Exchange) async throws {
        guard !text.isEmpty else { return }
        try await emit(ByteBuffer(string: text), to: writer, exchange: &exchange)
    }

    /// Sends bytes to the caller, then adds them to the answer's digest (and, after the first
    /// chunk, digests the prompt): hashing waits until the bytes are on their way.
    static func emit(_ buffer: ByteBuffer, to writer: any FrontBodyWriter, exchange: inout Exchange) async throws {
        guard buffer.readableBytes > 0 else { return }
        do {
            try await writer.write(buffer)
        } catch {
            throw CallerDisconnected()
        }
        exchange.sent(buffer)
        exchange.digestPrompt()
    }

    /// The error to report in-stream for a failure, or `nil` when the caller is gone
    /// (or the task was cancelled) and nothing more can be written.
    static func streamFailure(_ error: any Error) -> GatewayError? {
        switch error {
        case is CallerDisconnected, is CancellationError: return nil
        case let error as GatewayError: return error
        case is SSEParser.EventTooLarge:
            return GatewayError(.upstreamFailure, "The provider sent an oversized stream event.", code: "upstream_malformed")
        default:
            return GatewayError(.upstreamFailure, "The connection to the provider was lost mid-stream.", code: "upstream_stream_lost")
        }
    }
}
