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

    /// The log entry of the request being handled, set by ``RequestRecorder`` for ``noteFault(_:)``.
    @TaskLocal static var currentEntry: Int?

    struct Entry: Sendable {
        /// Increases by one per recorded request; finds the entry again once its fault is known.
        var serial: Int
        var method: String
        var path: String
        var query: String
        var headers: [(name: String, value: String)]
        var body: JSON?
        /// The fault the request was answered with, once the route has decided it.
        var fault: SimulatorFault?

        var json: JSON {
            [
                "method": .string(method),
                "path": .string(path),
                "query": .string(query),
                "headers": .object(headers.map { (key: $0.name, value: .string($0.value)) }),
                "body": body ?? .null,
                "fault": fault.map { .string($0.rawValue) } ?? .null,
            ]
        }
    }

    private let entries = Locked<(serial: Int, entries: [Entry])>((serial: 0, entries: []))

    /// Appends the request to the log; returns the entry's serial.
    func record(_ request: Request, body: ByteBuffer) -> Int {
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
        var entry = Entry(
            serial: 0,
            method: request.method.rawValue,
            path: request.uri.path,
            query: Self.redactedQuery(request.uri.query ?? ""),
            headers: headers,
            body: try? JSONParser.parse(Array(body.readableBytesView))
        )
        return entries.withLock { log in
            log.serial += 1
            entry.serial = log.serial
            log.entries.append(entry)
            if log.entries.count > Self.capacity {
                log.entries.removeFirst(log.entries.count - Self.capacity)
            }
            return log.serial
        }
    }

    /// Notes `fault` on the entry of the request being handled (``currentEntry``), if it is still logged.
    func noteFault(_ fault: SimulatorFault) {
        guard let serial = Self.currentEntry else { return }
        entries.withLock { log in
            // Serials increase along the array and the request is recent: search from the end.
            if let index = log.entries.lastIndex(where: { $0.serial == serial }) {
                log.entries[index].fault = fault
            }
        }
    }

    /// The newest `limit` entries (all when nil), oldest first.
    func recent(limit: Int?) -> [Entry] {
        entries.withLock { log in
            guard let limit else { return log.entries }
            return Array(log.entries.suffix(max(0, limit)))
        }
    }

    func clear() {
        entries.withLock { $0.entries.removeAll() }
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
        let serial = log.record(request, body: body)
        return try await RequestLog.$currentEntry.withValue(serial) {
            try await next(request, context)
        }
    }
}
