import GatehouseCore
import NIOCore

/// Adapter for the Anthropic Messages API.
public struct AnthropicProvider: PassThroughProvider {
    public let dialect = WireDialect.anthropic
    /// The API version sent when the caller did not choose one.
    public static let defaultVersion = "2023-06-01"

    public init() {}

    public func makeChatRequest(_ request: ChatRequest, deployment: Deployment) throws -> PreparedRequest {
        let (body, dropped) = try AnthropicRequestMapping.encode(request, deployment: deployment)
        return PreparedRequest(
            egress: EgressRequest(
                provider: deployment.provider, pathSegments: ["v1", "messages"],
                headers: [("content-type", "application/json"), ("anthropic-version", Self.defaultVersion)],
                body: body.encodedBuffer(), isStreaming: request.stream),
            droppedFields: dropped)
    }

    public func passThroughChatRequest(
        body: ByteBuffer, deployment: Deployment, stream: Bool, headers: [(name: String, value: String)]
    ) -> EgressRequest {
        var forwarded: [(name: String, value: String)] = [("content-type", "application/json")]
        let version = headers.first { $0.name == "anthropic-version" }?.value
        forwarded.append(("anthropic-version", version.flatMap(Self.safeHeaderValue) ?? Self.defaultVersion))
        if let beta = headers.first(where: { $0.name == "anthropic-beta" })?.value, let safe = Self.safeHeaderValue(beta) {
            forwarded.append(("anthropic-beta", safe))
        }
        return EgressRequest(
            provider: deployment.provider, pathSegments: ["v1", "messages"], headers: forwarded, body: body, isStreaming: stream)
    }

    /// Header values the gateway forwards must be short tokens: letters, digits, `-`, `_`, `.`, `,`.
    static func safeHeaderValue(_ value: String) -> String? {
        guard value.count <= 200, value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.,".contains($0)) })
        else { return nil }
        return value
    }

    public func decodeChatResponse(_ body: ByteBuffer, deployment: Deployment) throws -> ChatResponse {
        let value: JSONValue
        do { value = try JSONValue.decode(body) } catch { throw OpenAIProvider.malformed }
        return try AnthropicResponseMapping.decode(value, deployment: deployment)
    }

    /// The usage of a complete answer; decodes only its top-level `usage` member.
    public func usage(inResponse body: ByteBuffer) -> Usage? {
        guard let members = try? JSONTopLevel(scanning: body) else { return nil }
        return AnthropicResponseMapping.decodeUsage(members.value(of: "usage", in: body))
    }

    public func makeStreamDecoder(deployment: Deployment) -> any ProviderStreamDecoder {
        AnthropicStreamDecoder(deployment: deployment)
    }

    public func mapError(status: Int, retryAfter: String?, body: ByteBuffer) -> GatewayError {
        let message = (try? JSONValue.decode(body))?["error"]?["message"]?.stringValue
        if status == 400 || status == 413, message?.lowercased().contains("prompt is too long") == true {
            return UpstreamErrorMapping.contextWindowExceeded(provider: "Anthropic")
        }
        return UpstreamErrorMapping.map(status: status, retryAfter: retryAfter, upstreamMessage: message, provider: "Anthropic")
    }
}
