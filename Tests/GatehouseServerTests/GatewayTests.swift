import Crypto
import Foundation
import GatehouseCore
import GatehouseSecurity
import GatehouseServer
import Logging
import NIOCore
import NIOHTTP1
import Testing

/// A stand-in for the keyholder: records what the front asked for and answers from a script.
final class ScriptedEgress: EgressTransport, @unchecked Sendable {
    let lock = NSLock()
    var requests: [EgressRequest] = []
    let answer: @Sendable (EgressRequest) -> (Int, [(name: String, value: String)], String)

    init(answer: @escaping @Sendable (EgressRequest) -> (Int, [(name: String, value: String)], String)) {
        self.answer = answer
    }

    func send(_ request: EgressRequest) async throws -> EgressResponse {
        lock.withLock { requests.append(request) }
        let (status, headers, body) = answer(request)
        return EgressResponse(status: status, headers: headers, body: .single(ByteBuffer(string: body)))
    }
}

struct Harness {
    let authority = TokenAuthority(signingKey: Curve25519.Signing.PrivateKey())
    let egress: ScriptedEgress

    init(status: Int = 200, headers: [(name: String, value: String)] = [], body: String = Harness.openAIReply) {
        egress = ScriptedEgress { _ in (status, headers, body) }
    }

    static let openAIReply = #"{"id":"x","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#

    func token(models: [String] = ["*"]) throws -> String {
        try authority.mint(subject: "tester", models: models, ttl: 600).token
    }

    func gateway() -> Gateway {
        let verifier = TokenVerifier(publicKeys: [authority.keyID: authority.publicKey])
        let catalog = ModelCatalog([
            Deployment(publicName: "gpt", provider: "openai", kind: .openAI, upstreamModel: "gpt-up"),
            Deployment(publicName: "claude", provider: "anthropic", kind: .anthropic, upstreamModel: "claude-up"),
        ])
        return Gateway(
            verifier: verifier, catalog: catalog, egress: egress, limits: .init(maxBodyBytes: 2048),
            logger: Logger(label: "test"))
    }

    /// Calls the gateway's routes in process (the HTTP server is tested in FrontServerTests).
    func execute(
        uri: String, method: HTTPMethod, headers: HTTPHeaders, body: ByteBuffer, check: (TestResponse) throws -> Void
    ) async throws {
        let response = await gateway().respond(to: FrontRequest(method: method, path: uri, headers: headers, body: body))
        try check(await TestResponse(response))
    }
}

func chatBody(model: String = "gpt", extra: String = "") -> ByteBuffer {
    ByteBuffer(string: #"{"model":"\#(model)","messages":[{"role":"user","content":"hello"}]\#(extra)}"#)
}

@Suite("Gateway front")
struct GatewayTests {
    @Test("refuses requests without a valid token, in each dialect's error shape", arguments: [
        ("/v1/chat/completions", nil as String?, "authentication_error"),
        ("/v1/chat/completions", "Bearer not-a-token", "authentication_error"),
        ("/v1/messages", nil, "authentication_error"),
    ])
    func unauthenticated(path: String, authorization: String?, type: String) async throws {
        let harness = Harness()
        do {
            var headers: HTTPHeaders = ["content-type": "application/json"]
            if let authorization { headers.add(name: "authorization", value: authorization) }
            try await harness.execute(uri: path, method: .POST, headers: headers, body: chatBody()) { response in
                #expect(response.status == .unauthorized)
                let body = (try? JSONValue.decode(response.body)) ?? .null
                if path == "/v1/messages" {
                    #expect(body["type"] == .string("error"))
                    #expect(body["error"]?["type"] == .string(type))
                } else {
                    #expect(body["error"]?["type"] == .string(type))
                    #expect(body["error"]?["code"] == .string(authorization == nil ? "missing_token" : "invalid_token"))
                }
            }
        }
        #expect(harness.egress.requests.isEmpty)
    }

    @Test("answers 403 for a model outside the token's scope and 404 for an unknown one")
    func scopeAndExistence() async throws {
        let harness = Harness()
        let narrow = try harness.token(models: ["gpt"])
        let wide = try harness.token()
        do {
            try await harness.execute(
                uri: "/v1/chat/completions", method: .POST, headers: ["authorization": "Bearer \(narrow)"],
                body: chatBody(model: "claude")
            ) { response in
                #expect(response.status == .forbidden)
            }
            try await harness.execute(
                uri: "/v1/chat/completions", method: .POST, headers: ["authorization": "Bearer \(narrow)"],
                body: chatBody(model: "nope")
            ) { response in
                #expect(response.status == .forbidden)
            }
            try await harness.execute(
                uri: "/v1/chat/completions", method: .POST, headers: ["authorization": "Bearer \(wide)"],
                body: chatBody(model: "nope")
            ) { response in
                #expect(response.status == .notFound)
                #expect((try? JSONValue.decode(response.body))?["error"]?["code"] == .string("model_not_found"))
            }
        }
        #expect(harness.egress.requests.isEmpty)
    }

    @Test("answers 400 for bad JSON, 413 for an oversized body, and never calls upstream")
    func badBodies() async throws {
        let harness = Harness()
        let token = try harness.token()
        do {
            try await harness.execute(
                uri: "/v1/chat/completions", method: .POST, headers: ["authorization": "Bearer \(token)"],
                body: ByteBuffer(string: "{\"model\":")
            ) { response in
                #expect(response.status == .badRequest)
                #expect((try? JSONValue.decode(response.body))?["error"]?["code"] == .string("invalid_json"))
            }
            try await harness.execute(
                uri: "/v1/chat/completions", method: .POST, headers: ["authorization": "Bearer \(token)"],
                body: chatBody(extra: #","pad":"\#(String(repeating: "x", count: 4096))""#)
            ) { response in
                #expect(response.status == .payloadTooLarge)
            }
            try await harness.execute(
                uri: "/v1/chat/completions", method: .POST, headers: ["authorization": "Bearer \(token)"],
                body: ByteBuffer(string: #"{"model":"claude","model":"gpt","messages":[]}"#)
            ) { response in
                #expect(response.status == .badRequest)
                #expect((try? JSONValue.decode(response.body))?["error"]?["code"] == .string("duplicate_field"))
            }
        }
        #expect(harness.egress.requests.isEmpty)
    }

    @Test("passes OpenAI bytes through with only the model rewritten")
    func passThrough() async throws {
        let harness = Harness()
        let token = try harness.token()
        do {
            try await harness.execute(
                uri: "/v1/chat/completions", method: .POST, headers: ["authorization": "Bearer \(token)"],
                body: chatBody(extra: #", "logit_bias": {"50256": -100}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == Harness.openAIReply)
            }
        }
        let sent = try #require(harness.egress.requests.first)
        #expect(sent.provider == "openai")
        #expect(sent.pathSegments == ["chat", "completions"])
        #expect(
            sent.body.map { String(buffer: $0) }
                == #"{"model":"gpt-up","messages":[{"role":"user","content":"hello"}], "logit_bias": {"50256": -100}}"#)
        #expect(!sent.headers.contains { $0.name.lowercased() == "authorization" })
    }

    @Test("maps an upstream 429 to 429 with retry-after, and a 401 to 502 without the upstream text")
    func upstreamErrors() async throws {
        let limited = Harness(status: 429, headers: [("retry-after", "7")], body: #"{"error":{"message":"slow down"}}"#)
        let token = try limited.token()
        do {
            try await limited.execute(
                uri: "/v1/chat/completions", method: .POST, headers: ["authorization": "Bearer \(token)"], body: chatBody()
            ) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers.first(name: "retry-after") == "7")
            }
        }
        let refused = Harness(status: 401, body: #"{"error":{"message":"Incorrect API key provided: sk-proj-FAKE...1234"}}"#)
        let token2 = try refused.token()
        do {
            try await refused.execute(
                uri: "/v1/messages", method: .POST, headers: ["authorization": "Bearer \(token2)"],
                body: ByteBuffer(string: #"{"model":"gpt","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#)
            ) { response in
                #expect(response.status == .badGateway)
                let text = String(buffer: response.body)
                #expect(!text.contains("sk-proj"))
                #expect((try? JSONValue.decode(response.body))?["type"] == .string("error"))
            }
        }
    }

    @Test("translates Anthropic ingress to an OpenAI provider and back")
    func translates() async throws {
        let harness = Harness()
        let token = try harness.token()
        do {
            try await harness.execute(
                uri: "/v1/messages", method: .POST, headers: ["x-api-key": token],
                body: ByteBuffer(string: #"{"model":"gpt","max_tokens":5,"system":"s","messages":[{"role":"user","content":"hi"}]}"#)
            ) { response in
                #expect(response.status == .ok)
                let body = (try? JSONValue.decode(response.body)) ?? .null
                #expect(body["type"] == .string("message"))
                #expect(body["model"] == .string("gpt"))
                #expect(body["content"]?.arrayValue?.first?["text"] == .string("hi"))
                #expect(body["usage"]?["input_tokens"] == .int(3))
            }
        }
        let sent = try JSONValue.decode(try #require(harness.egress.requests.first?.body))
        #expect(sent["model"] == .string("gpt-up"))
        #expect(sent["messages"]?.arrayValue?.first?["role"] == .string("system"))
        #expect(sent["max_completion_tokens"] == .int(5))
    }
}

/// A response with its body read to the end (streams included).
struct TestResponse {
    let status: HTTPResponseStatus
    let headers: HTTPHeaders
    let body: ByteBuffer

    init(_ response: FrontResponse) async {
        status = response.status
        headers = response.headers
        switch response.body {
        case .buffer(let buffer):
            body = buffer
            response.afterWrite?()
        case .stream(let write):
            let collector = CollectingWriter()
            try? await write(collector)
            body = collector.collected
        }
    }
}

final class CollectingWriter: FrontBodyWriter, @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = ByteBuffer()

    func write(_ chunk: ByteBuffer) async throws {
        lock.withLock { buffer.writeImmutableBuffer(chunk) }
    }

    var collected: ByteBuffer { lock.withLock { buffer } }
}
