import GatehouseCore
import GatehouseSecurity
import NIOCore

/// One frame of the link between the front and the keyholder (a Unix stream socket).
///
/// Wire form: a 4-byte big-endian length (of type + payload), a 1-byte type, the payload.
/// A connection carries one exchange: `hello` → `helloAccepted`, then the request
/// (`requestHead`, `requestBody`*, `requestEnd`), then the response (`responseHead`,
/// `responseBody`*, `responseEnd`) or a `failure`. Closing the connection early cancels
/// the upstream request. Instead of a request, the front may send `records` (audit
/// records it witnessed, answered by `recordsAccepted`) or `metricsRequest` (answered
/// by `metricsReport`, the keyholder's counters in the Prometheus text format).
public enum LinkFrame: Sendable, Equatable {
    case hello(secret: [UInt8])
    case helloAccepted
    case requestHead(ByteBuffer)
    case requestBody(ByteBuffer)
    case requestEnd
    case responseHead(ByteBuffer)
    case responseBody(ByteBuffer)
    case responseEnd
    case failure(ByteBuffer)
    case records(ByteBuffer)
    case recordsAccepted(ByteBuffer)
    case metricsRequest
    case metricsReport(ByteBuffer)

    enum Kind: UInt8 {
        case hello = 0x01, helloAccepted = 0x02
        case requestHead = 0x10, requestBody = 0x11, requestEnd = 0x12
        case responseHead = 0x20, responseBody = 0x21, responseEnd = 0x22, failure = 0x2F
        case records = 0x30, recordsAccepted = 0x31
        case metricsRequest = 0x40, metricsReport = 0x41
    }

    /// Frames larger than this are refused by both sides.
    public static let maxPayload = 16 << 20
}

/// Decodes link frames; refuses unknown types and oversized frames.
public struct LinkFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = LinkFrame

    public struct InvalidFrame: Error {}

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard length >= 1, length <= LinkFrame.maxPayload + 1 else { throw InvalidFrame() }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        guard let typeByte = buffer.readInteger(as: UInt8.self), let kind = LinkFrame.Kind(rawValue: typeByte),
            let payload = buffer.readSlice(length: Int(length) - 1)
        else { throw InvalidFrame() }
        let frame: LinkFrame
        switch kind {
        case .hello: frame = .hello(secret: Array(payload.readableBytesView))
        case .helloAccepted: frame = .helloAccepted
        case .requestHead: frame = .requestHead(payload)
        case .requestBody: frame = .requestBody(payload)
        case .requestEnd: frame = .requestEnd
        case .responseHead: frame = .responseHead(payload)
        case .responseBody: frame = .responseBody(payload)
        case .responseEnd: frame = .responseEnd
        case .failure: frame = .failure(payload)
        case .records: frame = .records(payload)
        case .recordsAccepted: frame = .recordsAccepted(payload)
        case .metricsRequest: frame = .metricsRequest
        case .metricsReport: frame = .metricsReport(payload)
        }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Encodes link frames.
public struct LinkFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = LinkFrame

    public init() {}

    public func encode(data: LinkFrame, out: inout ByteBuffer) throws {
        func write(_ kind: LinkFrame.Kind, _ payload: ByteBuffer?) {
            out.writeInteger(UInt32(1 + (payload?.readableBytes ?? 0)))
            out.writeInteger(kind.rawValue)
            if var payload { out.writeBuffer(&payload) }
        }
        switch data {
        case .hello(let secret): write(.hello, ByteBuffer(bytes: secret))
        case .helloAccepted: write(.helloAccepted, nil)
        case .requestHead(let payload): write(.requestHead, payload)
        case .requestBody(let payload): write(.requestBody, payload)
        case .requestEnd: write(.requestEnd, nil)
        case .responseHead(let payload): write(.responseHead, payload)
        case .responseBody(let payload): write(.responseBody, payload)
        case .responseEnd: write(.responseEnd, nil)
        case .failure(let payload): write(.failure, payload)
        case .records(let payload): write(.records, payload)
        case .recordsAccepted(let payload): write(.recordsAccepted, payload)
        case .metricsRequest: write(.metricsRequest, nil)
        case .metricsReport(let payload): write(.metricsReport, payload)
        }
    }
}

/// The JSON payloads of head and failure frames.
public enum LinkMessages {
    public static func encodeRequestHead(_ request: EgressRequest) -> ByteBuffer {
        JSONValue.object([
            "provider": .string(request.provider), "method": .string(request.method),
            "path": .array(request.pathSegments.map(JSONValue.string)),
            "query": .array(request.query.map { .array([.string($0.name), .string($0.value)]) }),
            "headers": .array(request.headers.map { .array([.string($0.name), .string($0.value)]) }),
            "streaming": .bool(request.isStreaming),
        ]).encodedBuffer()
    }

    /// Decodes a request head; the body is attached by the caller.
    public static func decodeRequestHead(_ buffer: ByteBuffer) throws -> EgressRequest {
        let value = try JSONValue.decode(buffer)
        guard let provider = value["provider"]?.stringValue, let method = value["method"]?.stringValue,
            let path = value["path"]?.arrayValue?.compactMap(\.stringValue)
        else { throw GatewayError(.internalError, "Malformed link request.", code: "link_malformed") }
        return EgressRequest(
            provider: provider, method: method, pathSegments: path, query: pairs(value["query"]),
            headers: pairs(value["headers"]), body: nil, isStreaming: value["streaming"]?.boolValue ?? false)
    }

    public static func encodeResponseHead(status: Int, headers: [(name: String, value: String)]) -> ByteBuffer {
        JSONValue.object([
            "status": .int(Int64(status)),
            "headers": .array(headers.map { .array([.string($0.name), .string($0.value)]) }),
        ]).encodedBuffer()
    }

    public static func decodeResponseHead(_ buffer: ByteBuffer) throws -> (Int, [(name: String, value: String)]) {
        let value = try JSONValue.decode(buffer)
        guard let status = value["status"]?.intValue else {
            throw GatewayError(.internalError, "Malformed link response.", code: "link_malformed")
        }
        return (status, pairs(value["headers"]))
    }

    public static func encodeFailure(_ error: GatewayError) -> ByteBuffer {
        var object: [String: JSONValue] = [
            "kind": .string(error.kind.rawValue), "message": .string(error.message), "code": .string(error.code),
        ]
        if let param = error.param { object["param"] = .string(param) }
        if let retryAfter = error.retryAfter { object["retry_after"] = .string(retryAfter) }
        return JSONValue.object(object).encodedBuffer()
    }

    public static func decodeFailure(_ buffer: ByteBuffer) -> GatewayError {
        guard let value = try? JSONValue.decode(buffer), let kindName = value["kind"]?.stringValue,
            let kind = GatewayError.Kind(rawValue: kindName), let message = value["message"]?.stringValue
        else { return GatewayError(.upstreamFailure, "The keyholder failed.", code: "link_failure") }
        return GatewayError(
            kind, message, code: value["code"]?.stringValue, param: value["param"]?.stringValue,
            retryAfter: value["retry_after"]?.stringValue)
    }

    /// The records a front forwards: `[{"kind": …, "fields": {name: string | int}}]`.
    public static func encodeRecords(_ records: [(kind: AuditKind, fields: [String: AuditValue])]) -> ByteBuffer {
        JSONValue.array(records.map { record in
            var fields: [String: JSONValue] = [:]
            for (name, value) in record.fields {
                switch value {
                case .string(let text): fields[name] = .string(text)
                case .int(let number): fields[name] = .int(number)
                }
            }
            return .object(["kind": .string(record.kind.rawValue), "fields": .object(fields)])
        }).encodedBuffer()
    }

    /// Decodes forwarded records; a malformed entry is skipped and counted in `malformed`.
    public static func decodeRecords(_ buffer: ByteBuffer) throws -> (records: [(kind: String, fields: [String: AuditValue])], malformed: Int) {
        guard let entries = try JSONValue.decode(buffer).arrayValue else {
            throw GatewayError(.internalError, "Malformed link records.", code: "link_malformed")
        }
        var records: [(kind: String, fields: [String: AuditValue])] = []
        var malformed = 0
        for entry in entries {
            guard let kind = entry["kind"]?.stringValue, let object = entry["fields"]?.objectValue else {
                malformed += 1
                continue
            }
            var fields: [String: AuditValue] = [:]
            var valid = true
            for (name, value) in object {
                switch value {
                case .string(let text): fields[name] = .string(text)
                case .int(let number): fields[name] = .int(number)
                default: valid = false
                }
            }
            if valid { records.append((kind, fields)) } else { malformed += 1 }
        }
        return (records, malformed)
    }

    static func pairs(_ value: JSONValue?) -> [(name: String, value: String)] {
        (value?.arrayValue ?? []).compactMap { pair in
            guard let items = pair.arrayValue, items.count == 2, let name = items[0].stringValue,
                let value = items[1].stringValue
            else { return nil }
            return (name, value)
        }
    }
}
