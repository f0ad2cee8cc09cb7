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
/// by `metricsReport`, the keyholder's counters in the Prometheus text format) or
/// `ledgerRequest` (a question for the ledger, JSON, answered by `ledgerReply`).
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
    case ledgerRequest(ByteBuffer)
    case ledgerReply(ByteBuffer)

    enum Kind: UInt8 {
        case hello = 0x01, helloAccepted = 0x02
        case requestHead = 0x10, requestBody = 0x11, requestEnd = 0x12
        case responseHead = 0x20, responseBody = 0x21, responseEnd = 0x22, failure = 0x2F
        case records = 0x30, recordsAccepted = 0x31
        case metricsRequest = 0x40, metricsReport = 0x41
        case ledgerRequest = 0x50, ledgerReply = 0x51
    }

    /// Frames larger than this are refused by both sides.
    public static let maxPayload = 16 << 20

    /// The frame's type and payload, as written on the wire.
    var wire: (kind: Kind, payload: ByteBuffer?) {
        switch self {
        case .hello(let secret): (.hello, ByteBuffer(bytes: secret))
        case .helloAccepted: (.helloAccepted, nil)
        case .requestHead(let payload): (.requestHead, payload)
        case .requestBody(let payload): (.requestBody, payload)
        case .requestEnd: (.requestEnd, nil)
        case .responseHead(let payload): (.responseHead, payload)
        case .responseBody(let payload): (.responseBody, payload)
        case .responseEnd: (.responseEnd, nil)
        case .failure(let payload): (.failure, payload)
        case .records(let payload): (.records, payload)
        case .recordsAccepted(let payload): (.recordsAccepted, payload)
        case .metricsRequest: (.metricsRequest, nil)
        case .metricsReport(let payload): (.metricsReport, payload)
        case .ledgerRequest(let payload): (.ledgerRequest, payload)
        case .ledgerReply(let payload): (.ledgerReply, payload)
        }
    }
}

/// Reads link frames from a connection's bytes as they arrive.
///
/// Both ends' handlers use it on the buffers their socket reads, instead of NIO's generic
/// `ByteToMessageHandler`: a read's frames are taken in one loop, and each payload is a slice
/// of the bytes read, not a copy. Unknown types and oversized frames are refused.
public struct LinkFrameReader: Sendable {
    public struct InvalidFrame: Error {}

    /// Bytes read and not yet taken as frames.
    private var pending = ByteBuffer()

    public init() {}

    /// Adds the bytes of one read.
    public mutating func append(_ bytes: ByteBuffer) {
        if pending.readableBytes == 0 {
            pending = bytes
        } else {
            var bytes = bytes
            pending.writeBuffer(&bytes)
        }
    }

    /// The next complete frame, or nil until more bytes arrive.
    public mutating func next() throws -> LinkFrame? {
        guard let length = pending.getInteger(at: pending.readerIndex, as: UInt32.self) else { return nil }
        guard length >= 1, length <= LinkFrame.maxPayload + 1 else { throw InvalidFrame() }
        guard pending.readableBytes >= 4 + Int(length) else { return nil }
        pending.moveReaderIndex(forwardBy: 4)
        guard let typeByte = pending.readInteger(as: UInt8.self), let kind = LinkFrame.Kind(rawValue: typeByte),
            let payload = pending.readSlice(length: Int(length) - 1)
        else { throw InvalidFrame() }
        // An emptied buffer is let go: an idle connection holds no read's storage.
        if pending.readableBytes == 0 { pending = ByteBuffer() }
        switch kind {
        case .hello: return .hello(secret: Array(payload.readableBytesView))
        case .helloAccepted: return .helloAccepted
        case .requestHead: return .requestHead(payload)
        case .requestBody: return .requestBody(payload)
        case .requestEnd: return .requestEnd
        case .responseHead: return .responseHead(payload)
        case .responseBody: return .responseBody(payload)
        case .responseEnd: return .responseEnd
        case .failure: return .failure(payload)
        case .records: return .records(payload)
        case .recordsAccepted: return .recordsAccepted(payload)
        case .metricsRequest: return .metricsRequest
        case .metricsReport: return .metricsReport(payload)
        case .ledgerRequest: return .ledgerRequest(payload)
        case .ledgerReply: return .ledgerReply(payload)
        }
    }
}

/// Link frames encoded for one write: consecutive frames share a buffer, so a request's
/// head, body and end reach the socket as one write; a payload larger than
/// ``copyLimit`` is passed on as its own buffer (a gathering write, not a copy).
public struct LinkFrameWriter: Sendable {
    /// Payloads up to this size are copied in beside their frame header.
    public static let copyLimit = 16 << 10

    private var buffers: [ByteBuffer] = []
    private var current: ByteBuffer

    /// `capacity`: the bytes the frames to come will take in the shared buffer (headers of 5
    /// bytes, and payloads up to ``copyLimit``), so the buffer is allocated once.
    public init(capacity: Int = 0) {
        current = capacity > 0 ? ByteBufferAllocator().buffer(capacity: capacity) : ByteBuffer()
    }

    /// The capacity for a head, a body of `bodySize` bytes and one closing frame (end or
    /// failure; a failure's payload may grow the buffer).
    public static func capacity(head: ByteBuffer, bodySize: Int) -> Int {
        3 * 5 + head.readableBytes + copied(bodySize)
    }

    /// The bytes of a payload of `size` that go into the shared buffer.
    static func copied(_ size: Int) -> Int { size <= copyLimit ? size : 0 }

    public mutating func append(_ frame: LinkFrame) {
        let (kind, payload) = frame.wire
        let size = payload?.readableBytes ?? 0
        current.writeInteger(UInt32(1 + size))
        current.writeInteger(kind.rawValue)
        guard var payload, size > 0 else { return }
        if size <= Self.copyLimit {
            current.writeBuffer(&payload)
        } else {
            buffers.append(current)
            buffers.append(payload)
            current = ByteBuffer()
        }
    }

    /// The encoded frames, in order, as buffers to write.
    public mutating func take() -> [ByteBuffer] {
        if current.readableBytes > 0 { buffers.append(current) }
        defer {
            buffers = []
            current = ByteBuffer()
        }
        return buffers
    }

    /// The wire form of `frames`, in one buffer.
    public static func encode(_ frames: [LinkFrame]) -> ByteBuffer {
        var writer = LinkFrameWriter()
        for frame in frames { writer.append(frame) }
        var out = ByteBuffer()
        for var buffer in writer.take() { out.writeBuffer(&buffer) }
        return out
    }
}

extension ChannelHandlerContext {
    /// Writes encoded link frames; the last write carries `promise`, and `flush` follows it.
    public func writeLinkFrames(_ writer: inout LinkFrameWriter, flush: Bool, promise: EventLoopPromise<Void>? = nil) {
        let buffers = writer.take()
        for (index, buffer) in buffers.enumerated() {
            write(NIOAny(buffer), promise: index == buffers.count - 1 ? promise : nil)
        }
        if buffers.isEmpty { promise?.succeed() }
        if flush { self.flush() }
    }

    /// Writes one link frame.
    public func writeLinkFrame(_ frame: LinkFrame, flush: Bool, promise: EventLoopPromise<Void>? = nil) {
        var writer = LinkFrameWriter(capacity: 5 + LinkFrameWriter.copied(frame.wire.payload?.readableBytes ?? 0))
        writer.append(frame)
        writeLinkFrames(&writer, flush: flush, promise: promise)
    }
}

/// The payloads of head, records and failure frames.
///
/// Heads and records are binary — they travel with every request, and a JSON codec cost
/// the front and the keyholder more than the rest of the link together. Strings are a
/// 4-byte big-endian length and UTF-8 bytes; counts are 4-byte big-endian; a decoder
/// refuses a length beyond the payload and any trailing byte. Failure frames (rare) are JSON.
public enum LinkMessages {
    static let malformed = GatewayError(.internalError, "Malformed link message.", code: .linkMalformed)

    public static func encodeRequestHead(_ request: EgressRequest) -> ByteBuffer {
        var out = ByteBuffer()
        out.writeLinkString(request.provider)
        out.writeLinkString(request.method)
        out.writeInteger(UInt32(request.pathSegments.count))
        for segment in request.pathSegments { out.writeLinkString(segment) }
        out.writeLinkPairs(request.query)
        out.writeLinkPairs(request.headers)
        out.writeInteger(UInt8(request.isStreaming ? 1 : 0))
        // The connect limit in milliseconds; 0 leaves the keyholder's.
        out.writeInteger(UInt32(clamping: request.timeouts.connect.map { $0.wholeMilliseconds } ?? 0))
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
            let streaming = input.readInteger(as: UInt8.self), streaming <= 1,
            let connectMilliseconds = input.readInteger(as: UInt32.self), input.readableBytes == 0
        else { throw malformed }
        var request = EgressRequest(
            provider: provider, method: method, pathSegments: segments, query: query, headers: headers, body: nil,
            isStreaming: streaming == 1)
        if connectMilliseconds > 0 { request.timeouts.connect = .milliseconds(Int64(connectMilliseconds)) }
        return request
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
        else { return GatewayError(.upstreamFailure, "The keyholder failed.", code: .linkFailure) }
        // A code outside the closed set is not taken from the wire: the kind's own code stands in.
        return GatewayError(
            kind, message, code: value["code"]?.stringValue.flatMap(GatewayError.Code.init(rawValue:)),
            param: value["param"]?.stringValue,
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
