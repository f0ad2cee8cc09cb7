import Foundation
import Hummingbird

/// The last API requests the simulator received, credentials redacted, for tests to inspect.
final class RequestLog: Sendable {
    static let capacity = 200
    static let redacted = "<redacted>"
    /// Headers whose values are credentials.
    static let credentialHeaders: Set<String> = [
        "authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie",
    ]
    /// Query parameters whose values are credentials.
    static let credentialQueryParameters: Set<String> = ["key", "api_key", "access_token"]

    struct Entry: Sendable {
        var method: String
        var path: String
        var query: String
        var headers: [(name: String, value: String)]
        var body: JSON?

        var json: JSON {
            [
                "method": .string(method),
                "path": .string(path),
                "query": .string(query),
                "headers": .object(headers.map { (key: $0.name, value: .string($0.value)) }),
                "body": body ?? .null,
            ]
        }
    }

    private let entries = Locked<[Entry]>([])

    func record(_ request: Request, body: ByteBuffer) {
        var headers: [(name: String, value: String)] = []
        if let authority = request.head.authority {
            headers.append((name: "host", value: authority))
        }
        for field in request.headers {
            let name = field.name.canonicalName
            let value = Self.credentialHeaders.contains(name) ? Self.redacted : field.value
            if let index = headers.firstIndex(where: { $0.name == name }) {
                headers[index].value += ", " + value
            } else {
                headers.append((name: name, value: value))
            }
        }
        let entry = Entry(
            method: request.method.rawValue,
            path: request.uri.path,
            query: Self.redactedQuery(request.uri.query ?? ""),
            headers: headers,
            body: try? JSONParser.parse(Array(body.readableBytesView))
        )
        entries.withLock { entries in
            entries.append(entry)
            if entries.count > Self.capacity {
                entries.removeFirst(entries.count - Self.capacity)
            }
        }
    }

    /// The newest `limit` entries (all when nil), oldest first.
    func recent(limit: Int?) -> [Entry] {
        entries.withLock { entries in
            guard let limit else { return entries }
            return Array(entries.suffix(max(0, limit)))
        }
    }

    func clear() {
        entries.withLock { $0.removeAll() }
    }

    static func redactedQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        return query.split(separator: "&", omittingEmptySubsequences: false).map { pair in
            let name = pair.prefix { $0 != "=" }
            let decoded = name.removingPercentEncoding ?? String(name)
            return credentialQueryParameters.contains(decoded.lowercased()) ? "\(name)=\(redacted)" : String(pair)
        }.joined(separator: "&")
    }
}

/// Records every API request (not `/health` or `/_sim/…`) before it is routed.
struct RequestRecorder<Context: RequestContext>: RouterMiddleware {
    let log: RequestLog

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let path = request.uri.path
        guard path != "/health", !path.hasPrefix("/_sim/"), path != "/_sim" else {
            return try await next(request, context)
        }
        var request = request
        let body = try await request.collectBody(upTo: maximumRequestBodyBytes)
        log.record(request, body: body)
        return try await next(request, context)
    }
}
