import NIOCore

/// A request for the egress keyholder. It names a configured provider and a path
/// under that provider's base URL — never a host, a scheme or a credential. The
/// keyholder alone decides where it goes and which key it carries.
public struct EgressRequest: Sendable {
    public var provider: String
    public var method: String
    /// Path segments below the provider's base URL, each percent-encoded by the egress.
    public var pathSegments: [String]
    public var query: [(name: String, value: String)]
    public var headers: [(name: String, value: String)]
    public var body: ByteBuffer?
    /// Whether the response is a stream (affects the read timeout).
    public var isStreaming: Bool
    /// Limits of this attempt (the model's); the connect limit is the keyholder's to apply, the
    /// others the front's link enforces, closing the connection (which cancels the upstream request).
    public var timeouts = RouteTimeouts()

    public init(
        provider: String, method: String = "POST", pathSegments: [String], query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], body: ByteBuffer? = nil, isStreaming: Bool = false
    ) {
        self.provider = provider
        self.method = method
        self.pathSegments = pathSegments
        self.query = query
        self.headers = headers
        self.body = body
        self.isStreaming = isStreaming
    }
}

/// The response head and a body that arrives chunk by chunk.
public struct EgressResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: ByteStream

    public init(status: Int, headers: [(name: String, value: String)], body: ByteStream) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name }?.value
    }
}

/// A type-erased asynchronous sequence of body chunks.
public struct ByteStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    private let makeNext: @Sendable () -> (@Sendable () async throws -> ByteBuffer?)

    public init<S: AsyncSequence & Sendable>(_ sequence: S) where S.Element == ByteBuffer {
        makeNext = {
            let box = IteratorBox(sequence.makeAsyncIterator())
            return { try await box.next() }
        }
    }

    public static func single(_ buffer: ByteBuffer) -> ByteStream {
        ByteStream(SingleChunk(buffer: buffer))
    }

    public struct AsyncIterator: AsyncIteratorProtocol, Sendable {
        let nextChunk: @Sendable () async throws -> ByteBuffer?
        public mutating func next() async throws -> ByteBuffer? { try await nextChunk() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(nextChunk: makeNext()) }

    /// Reads the whole body, refusing more than `limit` bytes.
    public func collect(upTo limit: Int) async throws -> ByteBuffer {
        var result = ByteBuffer()
        for try await chunk in self {
            guard result.readableBytes + chunk.readableBytes <= limit else {
                throw GatewayError(.upstreamFailure, "The upstream response exceeded \(limit) bytes.", code: .upstreamTooLarge)
            }
            var chunk = chunk
            result.writeBuffer(&chunk)
        }
        return result
    }
}

/// Holds a non-Sendable iterator; a body is consumed by one task at a time.
private final class IteratorBox<I: AsyncIteratorProtocol>: @unchecked Sendable where I.Element == ByteBuffer {
    var iterator: I
    init(_ iterator: I) { self.iterator = iterator }
    func next() async throws -> ByteBuffer? { try await iterator.next() }
}

private struct SingleChunk: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let buffer: ByteBuffer
    struct AsyncIterator: AsyncIteratorProtocol {
        var buffer: ByteBuffer?
        mutating func next() async -> ByteBuffer? {
            defer { buffer = nil }
            return buffer
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}

/// The one road out of the front: sends a request to a configured provider.
/// Implementations inject credentials and enforce the allowlist; callers cannot.
public protocol EgressTransport: Sendable {
    func send(_ request: EgressRequest) async throws -> EgressResponse
}
