import NIOCore

/// Finds the top-level members of a JSON object without decoding it, so that a
/// pass-through can rewrite one member (the model name) and forward every other
/// byte unchanged. Rejects duplicate top-level keys: a body whose `model` or
/// `stream` appears twice could be read one way by the gateway and another way by
/// the provider, which would bypass the model scope check.
public struct JSONTopLevel: Sendable {
    public struct Member: Sendable {
        public var key: String
        /// Byte range of the value within the buffer's readable bytes.
        public var valueRange: Range<Int>
    }

    public let members: [Member]

    public enum ScanError: Error, Equatable {
        case notAnObject
        case malformed
        case duplicateKey(String)
    }

    public init(scanning bytes: some Collection<UInt8>) throws(ScanError) {
        var scanner = Scanner(bytes: Array(bytes))
        members = try scanner.scanObject()
    }

    public func member(_ key: String) -> Member? { members.first { $0.key == key } }

    /// Returns a copy of `buffer` with the value of top-level `key` replaced by `json`
    /// (already-encoded JSON text), or with the member appended if absent.
    public func replacing(_ key: String, with json: String, in buffer: ByteBuffer) -> ByteBuffer {
        let bytes = Array(buffer.readableBytesView)
        var output = ByteBuffer()
        output.reserveCapacity(bytes.count + json.utf8.count + key.utf8.count + 4)
        if let member = member(key) {
            output.writeBytes(bytes[..<member.valueRange.lowerBound])
            output.writeString(json)
            output.writeBytes(bytes[member.valueRange.upperBound...])
        } else if let close = bytes.lastIndex(of: UInt8(ascii: "}")) {
            output.writeBytes(bytes[..<close])
            output.writeString(members.isEmpty ? "" : ",")
            output.writeString("\"\(key)\":\(json)")
            output.writeBytes(bytes[close...])
        }
        return output
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func scanObject() throws(ScanError) -> [Member] {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { throw .notAnObject }
            index += 1
            var members: [Member] = []
            var seen = Set<String>()
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { return [] }
            while true {
                skipWhitespace()
                let keyStart = index
                try skipString()
                let key = try decodeKey(bytes[keyStart..<index])
                guard seen.insert(key).inserted else { throw .duplicateKey(key) }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw .malformed }
                index += 1
                skipWhitespace()
                let valueStart = index
                try skipValue(depth: 0)
                members.append(Member(key: key, valueRange: valueStart..<index))
                skipWhitespace()
                guard index < bytes.count else { throw .malformed }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard bytes[index] == UInt8(ascii: "}") else { throw .malformed }
                return members
            }
        }

        func decodeKey(_ raw: ArraySlice<UInt8>) throws(ScanError) -> String {
            let inner = raw.dropFirst().dropLast()
            if !inner.contains(UInt8(ascii: "\\")) { return String(decoding: inner, as: UTF8.self) }
            guard let value = JSONValue.parse(String(decoding: raw, as: UTF8.self)), let key = value.stringValue else {
                throw .malformed
            }
            return key
        }

        mutating func skipString() throws(ScanError) {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw .malformed }
            index += 1
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\\"): index += 2
                case UInt8(ascii: "\""):
                    index += 1
                    return
                default: index += 1
                }
            }
            throw .malformed
        }

        mutating func skipValue(depth: Int) throws(ScanError) {
            guard depth < 512, index < bytes.count else { throw .malformed }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                try skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = bytes[index] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                index += 1
                while true {
                    skipWhitespace()
                    guard index < bytes.count else { throw .malformed }
                    if bytes[index] == close {
                        index += 1
                        return
                    }
                    if bytes[index] == UInt8(ascii: ",") || bytes[index] == UInt8(ascii: ":") {
                        index += 1
                        continue
                    }
                    try skipValue(depth: depth + 1)
                }
            default:
                let start = index
                while index < bytes.count,
                    ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(bytes[index])
                {
                    index += 1
                }
                guard index > start else { throw .malformed }
            }
        }
    }
}
