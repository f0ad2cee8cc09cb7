import GatehouseCore
import GatehouseProviders
import NIOCore
import NIOHTTP1

extension Gateway {
    /// Same-dialect path: the caller's bytes go upstream unchanged except for the model
    /// name (and, for OpenAI streams, a request for usage the gateway needs for
    /// accounting, whose extra chunk is then hidden from the caller).
    func forward(
        _ request: FrontRequest, body: ByteBuffer, members: JSONTopLevel, stream: Bool,
        deployment: Deployment, provider: any PassThroughProvider, exchange: Exchange
    ) async throws -> FrontResponse {
        var exchange = exchange
        var replacements = [(key: "model", json: JSONValue.string(deployment.upstreamModel).compactText())]
        var hideUsageChunk = false
        let streamOptions = stream ? members.value(of: "stream_options", in: body) : nil
        if stream, exchange.dialect == .openAI, streamOptions?["include_usage"]?.boolValue != true {
            hideUsageChunk = true
            var options = streamOptions?.objectValue ?? [:]
            options["include_usage"] = .bool(true)
            replacements.append(("stream_options", JSONValue.object(options).compactText()))
        }
        // One copy of the body with every rewrite, without scanning it again.
        let outbound = members.replacing(replacements, in: body)
        var callerHeaders: [(name: String, value: String)] = []
        for name in ["anthropic-version", "anthropic-beta"] {
            if let value = request.header(name) { callerHeaders.append((name, value)) }
        }
        let upstream = try await egress.send(
            provider.passThroughChatRequest(body: outbound, deployment: deployment, stream: stream, headers: callerHeaders))
        guard (200..<300).contains(upstream.status) else {
            throw await upstreamError(upstream, provider: provider)
        }
        var headers: HTTPHeaders = ["x-request-id": exchange.id]
        if !stream {
            let answer = try await readUpstreamBody(upstream)
            // Forwarded as received, but only if it is a complete JSON document: a truncated
            // answer must not reach the caller as a 200. (Validated, not decoded.)
            guard (try? JSONTopLevel.validate(answer)) != nil else {
                throw GatewayError(.upstreamFailure, "The provider returned a malformed response.", code: "upstream_malformed")
            }
            exchange.usage = provider.usage(inResponse: answer)
            headers.add(name: "content-type", value: "application/json")
            return answered(FrontResponse(status: .ok, headers: headers, body: .buffer(answer)), exchange: exchange)
        }
        headers.add(name: "content-type", value: "text/event-stream")
        headers.add(name: "cache-control", value: "no-cache")
        let decoder = provider.makeStreamDecoder(deployment: deployment)
        let encoder: any IngressStreamEncoder =
            exchange.dialect == .openAI
            ? OpenAIDialect.makeStreamEncoder(model: deployment.publicName, includeUsage: false, created: 0)
            : AnthropicDialect.makeStreamEncoder(model: deployment.publicName)
        let responseBody: FrontResponse.Body = .stream { [self, exchange, hideUsageChunk] writer in
            var exchange = exchange
            var decoder = decoder
            var parser = SSEParser()
            /// Observes an event; whether it goes to the caller (the usage chunk the gateway asked for does not).
            func forwards(_ event: SSEEvent) throws -> Bool {
                guard let usage = try decoder.observe(event) else { return true }
                exchange.usage = usage
                return !(hideUsageChunk && Self.isUsageOnlyChunk(event))
            }
            do {
                for try await chunk in upstream.body {
                    // Every event of the chunk goes out in one write; events before a bad one still do.
                    var out = ByteBuffer()
                    var failure: (any Error)?
                    do {
                        for parsed in try parser.feed(chunk) where try forwards(parsed.event) { out.writeBytes(parsed.raw) }
                    } catch {
                        failure = error
                    }
                    try await Self.emit(out, to: writer, exchange: &exchange)
                    if let failure { throw failure }
                }
                for parsed in parser.finish() where try forwards(parsed.event) {
                    try await Self.emit(ByteBuffer(bytes: parsed.raw + [10, 10]), to: writer, exchange: &exchange)
                }
                for event in try decoder.finish() {
                    if case .usage(let usage) = event { exchange.usage = usage }
                }
                finish(exchange, status: 200)
            } catch let error {
                try await reportStreamFailure(error, exchange: exchange, encoder: encoder, writer: writer)
            }
        }
        return FrontResponse(status: .ok, headers: headers, body: responseBody)
    }

    /// The trailing OpenAI chunk that carries only usage (`choices: []`); asked only of events that reported usage.
    static func isUsageOnlyChunk(_ event: SSEEvent) -> Bool {
        guard let value = JSONValue.parse(event.data) else { return false }
        return value["choices"]?.arrayValue?.isEmpty == true && value["usage"] != nil
    }
}
