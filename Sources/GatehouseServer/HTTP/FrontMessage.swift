import Foundation
import GatehouseCore
import NIOCore
import NIOHTTP1

/// One caller's request as the gateway's routes see it: the head at once, the body when
/// a route asks for it (after authentication, so an unauthenticated caller's body is
/// never waited for).
public struct FrontRequest: Sendable {
    public let method: HTTPMethod
    /// The path without its query.
    public let path: String
    public let headers: HTTPHeaders
    /// The query after `?`, as sent (empty when none).
    public var query = ""
    let body: Body

    enum Body: Sendable {
        case complete(ByteBuffer)
        /// Gathered by the connection on its event loop; fails with ``BodyTooLarge`` past the limit.
        case pending(EventLoopFuture<ByteBuffer>)
    }

    /// The body gathered past the connection's limit; the rest of it is discarded.
    struct BodyTooLarge: Error {}

    /// A request whose body is already in hand (tests, tools).
    public init(
        method: HTTPMethod, path: String, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer(), query: String = ""
    ) {
        self.init(method: method, path: path, headers: headers, body: .complete(body))
        self.query = query
    }

    /// The query's parameters, percent-decoded (`+` as a space); a repeated name keeps its last value.
    public var queryItems: [String: String] {
        var items: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            items[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return items
    }

    init(method: HTTPMethod, path: String, headers: HTTPHeaders, body: Body) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
    }

    /// A header's value (names compare case-insensitively); repeated fields are joined with ", ".
    public func header(_ name: String) -> String? {
        var values = headers[name][...]
        guard let first = values.popFirst() else { return nil }
        return values.isEmpty ? first : ([first] + values).joined(separator: ", ")
    }
}

/// The answer to a ``FrontRequest``: a complete body, or a stream written chunk by chunk.
public struct FrontResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: Body
    /// Runs once a whole (non-streamed) answer has been handed to the connection: the
    /// request's accounting (metrics, audit record), kept off the way to the caller.
    public var afterWrite: (@Sendable () -> Void)?

    public enum Body: Sendable {
        case buffer(ByteBuffer)
        /// Writes the body; each write returns once the chunk is written to the socket, so a
        /// slow caller slows the writer down.
        case stream(@Sendable (any FrontBodyWriter) async throws -> Void)
    }

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON answer.
    static func json(_ status: HTTPResponseStatus = .ok, _ body: ByteBuffer, requestID: String? = nil) -> FrontResponse {
        var headers: HTTPHeaders = ["content-type": "application/json"]
        if let requestID { headers.add(name: "x-request-id", value: requestID) }
        return FrontResponse(status: status, headers: headers, body: .buffer(body))
    }
}

/// Where a streamed answer's chunks go.
public protocol FrontBodyWriter: Sendable {
    /// Sends one chunk to the caller, returning once it is written; throws when the caller is gone.
    func write(_ buffer: ByteBuffer) async throws
}
