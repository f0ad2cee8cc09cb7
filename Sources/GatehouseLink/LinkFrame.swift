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

/// The payloads of head, records and failure frames.
///
/// Heads and records are binary — they travel with every request, and a JSON codec cost
/// the front and the keyholder more than the rest of the link together. Strings are a
/// 4-byte big-endian length and UTF-8 bytes; counts are 4-byte big-endian; a decoder
/// refuses a length beyond the payload and any trailing byte. Failure frames (rare) are JSON.
public enum LinkMessages {
    static let malformed = GatewayError(.internalError, "Malformed link message.", code: "link_malformed")

    public static func encodeRequestHead(_ request: EgressRequest) -> ByteBuffer {
        var out = ByteBuffer()
        out.writeLinkString(request.provider)
        out.writeLinkString(request.method)
        out.writeInteger(UInt32(request.pathSegments.count))
        for segment in request.pathSegments { out.writeLinkString(segment) }
        out.writeLinkPairs(request.query)
        out.writeLinkPairs(request.headers)
        out.writeInteger(UInt8(request.isStreaming ? 1 : 0))
        return out
    }

    /// Decodes a request head; the body is attached by the caller.
    public static func decodeRequestHead(_ buffer: ByteBuffer) throws -> EgressRequest {
        var input = buffer
        guard let provider = input.readLinkString(), let method = input.readLinkString(),
            let segmentCount = input.readInteger(as: UInt32.self), Int(segmentCount) <= input.readableBytes / 4
        else { throw malformed }
        var segments: [String] = []
        segments.reserveCapacity(Int(segmentCount))
        for _ in 0..<segmentCount {
            guard let segment = input.readLinkString() else { throw malformed }
            segments.append(segment)
        }
        guard let query = input.readLinkPairs(), let headers = input.readLinkPairs(),
            let streaming = input.readInteger(as: UInt8.self), streaming <= 1, input.readableBytes == 0
        else { throw malformed }
        return EgressRequest(
            provider: provider, method: method, pathSegments: segments, query: query, headers: headers, body: nil,
            isStreaming: streaming == 1)
    }

    public static func encodeResponseHead(status: Int, headers: [(name: String, value: String)]) -> ByteBuffer {
        var out = ByteBuffer()
        out.writeInteger(UInt16(clamping: status))
        out.writeLinkPairs(headers)
        return out
    }

    public static func decodeResponseHead(_ buffer: ByteBuffer) throws -> (Int, [(name: String, value: String)]) {
        var input = buffer
        guard let status = input.readInteger(as: UInt16.self), let headers = input.readLinkPairs(), input.readableBytes == 0
        else { throw malformed }
        return (Int(status), headers)
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

    /// The records a front forwards: a count, then for each its kind and its fields, each a
    /// name, a tag (0 string, 1 integer) and the value.
    public static func encodeRecords(_ records: [(kind: AuditKind, fields: AuditFields)]) -> ByteBuffer {
        var out = ByteBuffer()
        out.writeInteger(UInt32(records.count))
        for record in records {
            out.writeLinkString(record.kind.rawValue)
            out.writeInteger(UInt32(record.fields.count))
            for (name, value) in record.fields {
                out.writeLinkString(name)
                switch value {
                case .string(let text):
                    out.writeInteger(UInt8(0))
                    out.writeLinkString(text)
                case .int(let number):
                    out.writeInteger(UInt8(1))
                    out.writeInteger(number)
                }
            }
        }
        return out
    }

    /// Decodes forwarded records. A malformed payload is refused whole: its framing cannot be trusted past the fault.
    public static func decodeRecords(_ buffer: ByteBuffer) throws -> [(kind: String, fields: AuditFields)] {
        var input = buffer
        guard let count = input.readInteger(as: UInt32.self), Int(count) <= input.readableBytes / 8 else { throw malformed }
        var records: [(kind: String, fields: AuditFields)] = []
        records.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let kind = input.readLinkString(), let fieldCount = input.readInteger(as: UInt32.self),
                Int(fieldCount) <= input.readableBytes / 5
            else { throw malformed }
            var fields = AuditFields(capacity: min(Int(fieldCount), AuditRecord.maximumFieldCount + 1))
            for _ in 0..<fieldCount {
                guard let name = input.readLinkString(), let tag = input.readInteger(as: UInt8.self) else { throw malformed }
                let value: AuditValue
                switch tag {
                case 0:
                    guard let text = input.readLinkString() else { throw malformed }
                    value = .string(text)
                case 1:
                    guard let number = input.readInteger(as: Int64.self) else { throw malformed }
                    value = .int(number)
                default: throw malformed
                }
                // One name more than a record may have gets it refused whole (by the writer's check); names
                // past that are read but not looked up or kept, so decoding stays linear in the payload.
                if fields.count <= AuditRecord.maximumFieldCount { fields[name] = value }
            }
            records.append((kind, fields))
        }
        guard input.readableBytes == 0 else { throw malformed }
        return records
    }
}

extension ByteBuffer {
    mutating func writeLinkString(_ text: String) {
        let length = writeInteger(UInt32(0))
        let written = writeString(text)
        setInteger(UInt32(written), at: writerIndex - written - length)
    }

    mutating func readLinkString() -> String? {
        guard let length = readInteger(as: UInt32.self), Int(length) <= readableBytes else { return nil }
        return readString(length: Int(length))
    }

    mutating func writeLinkPairs(_ pairs: [(name: String, value: String)]) {
        writeInteger(UInt32(pairs.count))
        for pair in pairs {
            writeLinkString(pair.name)
            writeLinkString(pair.value)
        }
    }

    mutating func readLinkPairs() -> [(name: String, value: String)]? {
        guard let count = readInteger(as: UInt32.self), Int(count) <= readableBytes / 8 else { return nil }
        var pairs: [(name: String, value: String)] = []
        pairs.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let name = readLinkString(), let value = readLinkString() else { return nil }
            pairs.append((name, value))
        }
        return pairs
    }
}
