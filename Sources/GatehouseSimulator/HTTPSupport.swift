import Hummingbird

/// Largest request body the simulator reads.
let maximumRequestBodyBytes = 32 * 1024 * 1024

extension Request {
    /// The value of a header by lowercase name; repeated fields are joined with ", ".
    func header(_ lowercaseName: String) -> String? {
        let values = headers.filter { $0.name.canonicalName == lowercaseName }.map(\.value)
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    /// A percent-decoded query parameter.
    func queryValue(_ name: String) -> String? {
        uri.queryParameters[name[...]].map(String.init)
    }

    /// The body parsed as JSON, or nil when it is not a JSON object.
    func jsonObjectBody() async throws -> JSON? {
        let buffer = try await body.collect(upTo: maximumRequestBodyBytes)
        guard let document = try? JSONParser.parse(Array(buffer.readableBytesView)),
            document.objectValue != nil
        else { return nil }
        return document
    }
}

/// Builds the simulator's HTTP responses.
enum HTTPOutput {
    static func json(_ json: JSON, status: HTTPResponse.Status = .ok, headers: HTTPFields = HTTPFields()) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(
            status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: json.serialized())))
    }

    static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// A successful non-streamed answer after `latency`, damaged as `fault` asks.
    ///
    /// `reset` announces the full length, sends half the body and drops the connection;
    /// `malformed` sends a complete response whose JSON body is cut in half.
    static func deliver(_ json: JSON, fault: SimulatorFault?, latency: Duration) async throws -> Response {
        if latency > .zero {
            try await Task.sleep(for: latency)
        }
        let bytes = Array(json.serialized().utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        switch fault {
        case .reset:
            let half = ByteBuffer(bytes: bytes.prefix(bytes.count / 2))
            let body = ResponseBody(contentLength: bytes.count) { writer in
                try await writer.write(half)
                throw SimulatedConnectionReset()
            }
            return Response(status: .ok, headers: headers, body: body)
        case .malformed:
            let half = ByteBuffer(bytes: bytes.prefix(bytes.count / 2))
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: half))
        default:
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }
}
