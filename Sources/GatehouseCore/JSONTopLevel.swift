import NIOCore

/// Finds the top-level members of a JSON object without decoding it, so that a
/// pass-through can rewrite one member (the model name) and forward every other
/// byte unchanged. Rejects duplicate top-level keys: a body whose `model` or
/// `stream` appears twice could be read one way by the gateway and another way by
/// the provider, which would bypass the model scope check.
///
/// The scan is a full RFC 8259 validation (structure, strings and their escapes,
/// UTF-8, numbers, literals, nothing after the object) that builds no values: a body
/// that passes is one any JSON parser reads, so what goes upstream is well-formed and
/// the gateway and the provider see the same members.
public struct JSONTopLevel: Sendable {
    public struct Member: Sendable {
        public var key: String
        /// Byte range of the value within the buffer's readable bytes.
        public var valueRange: Range<Int>
    }

    public let members: [Member]

    public enum ScanError: Error, Equatable {
        case notAnObject
        /// Not JSON; `offset` is the byte at which the scan gave up.
        case malformed(offset: Int)
        case duplicateKey(String)
    }

    public init(scanning bytes: some Collection<UInt8>) throws(ScanError) {
        let scanned: Result<[Member], ScanError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(ScanError) in try Self.scan(UnsafeRawBufferPointer(buffer)) }
        }
        if let scanned {
            members = try scanned.get()
        } else {
            members = try Array(bytes).withUnsafeBytes { buffer in
                Result { () throws(ScanError) in try Self.scan(buffer) }
            }.get()
        }
    }

    public init(scanning buffer: ByteBuffer) throws(ScanError) {
        members = try buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(ScanError) in try Self.scan(bytes) }
        }.get()
    }

    static func scan(_ bytes: UnsafeRawBufferPointer) throws(ScanError) -> [Member] {
        var scanner = Scanner(bytes: bytes)
        let members = try scanner.scanTopLevelObject()
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else { throw .malformed(offset: scanner.index) }
        return members
    }

    /// Checks that `bytes` is exactly one JSON document (any value), without building it.
    public static func validate(_ buffer: ByteBuffer) throws(ScanError) {
        try buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(ScanError) in
                var scanner = Scanner(bytes: bytes)
                scanner.skipWhitespace()
                try scanner.skipValue(depth: 0)
                scanner.skipWhitespace()
                guard scanner.index == bytes.count else { throw ScanError.malformed(offset: scanner.index) }
            }
        }.get()
    }

    public func member(_ key: String) -> Member? { members.first { $0.key == key } }

    /// The decoded value of one top-level member (a small parse of just its bytes), or nil if absent.
    public func value(of key: String, in buffer: ByteBuffer) -> JSONValue? {
        guard let member = member(key),
            let slice = buffer.getSlice(at: buffer.readerIndex + member.valueRange.lowerBound, length: member.valueRange.count)
        else { return nil }
        // The common small cases without a parser: literals and strings without escapes.
        let simple: JSONValue? = slice.withUnsafeReadableBytes { bytes in
            switch bytes.first {
            case UInt8(ascii: "t"): return .bool(true)
            case UInt8(ascii: "f"): return .bool(false)
            case UInt8(ascii: "n"): return .null
            case UInt8(ascii: "\""):
                let inner = UnsafeRawBufferPointer(rebasing: bytes[1..<(bytes.count - 1)])
                return inner.contains(UInt8(ascii: "\\")) ? nil : .string(String(decoding: inner, as: UTF8.self))
            default: return nil
            }
        }
        return simple ?? (try? JSONValue.decode(slice))
    }

    /// Returns a copy of `buffer` with the value of top-level `key` replaced by `json`
    /// (already-encoded JSON text), or with the member appended if absent.
    public func replacing(_ key: String, with json: String, in buffer: ByteBuffer) -> ByteBuffer {
        replacing([(key, json)], in: buffer)
    }

    /// Returns a copy of `buffer` with each top-level `key`'s value replaced by its `json`
    /// (already-encoded JSON text), and the members that are absent appended, in one copy.
    public func replacing(_ replacements: [(key: String, json: String)], in buffer: ByteBuffer) -> ByteBuffer {
        var present: [(range: Range<Int>, json: String)] = []
        var absent: [(key: String, json: String)] = []
        var extra = 0
        for (key, json) in replacements {
            if let member = member(key) {
                present.append((member.valueRange, json))
                extra += json.utf8.count
            } else {
                absent.append((key, json))
                extra += key.utf8.count + json.utf8.count + 4
            }
        }
        present.sort { $0.range.lowerBound < $1.range.lowerBound }
        var output = ByteBuffer()
        output.reserveCapacity(buffer.readableBytes + extra)
        let start = buffer.readerIndex
        // Everything up to the object's closing brace, with the present values replaced.
        let close = absent.isEmpty ? nil : buffer.readableBytesView.lastIndex(of: UInt8(ascii: "}"))
        let end = close.map { $0 - start } ?? buffer.readableBytes
        var copied = 0
        for (range, json) in present {
            output.writeImmutableBuffer(buffer.getSlice(at: start + copied, length: range.lowerBound - copied)!)
            output.writeString(json)
            copied = range.upperBound
        }
        output.writeImmutableBuffer(buffer.getSlice(at: start + copied, length: end - copied)!)
        if close != nil {
            var needsComma = !members.isEmpty
            for (key, json) in absent {
                if needsComma { output.writeString(",") }
                output.writeString("\"\(key)\":\(json)")
                needsComma = true
            }
            output.writeImmutableBuffer(buffer.getSlice(at: start + end, length: buffer.readableBytes - end)!)
        }
        return output
    }

    struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        static let maximumDepth = 512

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        var malformed: ScanError { .malformed(offset: index) }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        /// Expects `byte` after optional whitespace and steps over it.
        mutating func expect(_ byte: UInt8) throws(ScanError) {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == byte else { throw malformed }
            index += 1
        }

        mutating func scanTopLevelObject() throws(ScanError) -> [Member] {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { throw .notAnObject }
            index += 1
            var members: [Member] = []
            members.reserveCapacity(8)
            // Repeated keys: a linear search while the object is small (hashing every key cost more
            // than it saved on the few-member objects of requests and stream events), a set past that.
            var seen = Set<String>()
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return []
            }
            while true {
                skipWhitespace()
                let keyStart = index
                try skipString()
                let key = try decodeKey(keyStart..<index)
                if members.count < 16 {
                    if members.contains(where: { $0.key == key }) { throw .duplicateKey(key) }
                } else {
                    if seen.isEmpty { seen = Set(members.map(\.key)) }
                    guard seen.insert(key).inserted else { throw .duplicateKey(key) }
                }
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                let valueStart = index
                try skipValue(depth: 1)
                members.append(Member(key: key, valueRange: valueStart..<index))
                skipWhitespace()
                guard index < bytes.count else { throw malformed }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard bytes[index] == UInt8(ascii: "}") else { throw malformed }
                index += 1
                return members
            }
        }

        func decodeKey(_ range: Range<Int>) throws(ScanError) -> String {
            let inner = UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound + 1)..<(range.upperBound - 1)])
            if !inner.contains(UInt8(ascii: "\\")) { return String(decoding: inner, as: UTF8.self) }
            guard let value = JSONValue.parse(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)),
                let key = value.stringValue
            else { throw .malformed(offset: range.lowerBound) }
            return key
        }

        mutating func skipValue(depth: Int) throws(ScanError) {
            guard depth < Self.maximumDepth, index < bytes.count else { throw malformed }
            switch bytes[index] {
            case UInt8(ascii: "\""): try skipString()
            case UInt8(ascii: "{"): try skipObject(depth: depth + 1)
            case UInt8(ascii: "["): try skipArray(depth: depth + 1)
            case UInt8(ascii: "t"): try skipLiteral("true")
            case UInt8(ascii: "f"): try skipLiteral("false")
            case UInt8(ascii: "n"): try skipLiteral("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try skipNumber()
            default: throw malformed
            }
        }

        mutating func skipObject(depth: Int) throws(ScanError) {
            index += 1
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                try skipString()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                try skipValue(depth: depth)
                skipWhitespace()
                guard index < bytes.count else { throw malformed }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return
                default: throw malformed
                }
            }
        }

        mutating func skipArray(depth: Int) throws(ScanError) {
            index += 1
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                try skipValue(depth: depth)
                skipWhitespace()
                guard index < bytes.count else { throw malformed }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return
                default: throw malformed
                }
            }
        }

        mutating func skipLiteral(_ literal: StaticString) throws(ScanError) {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw malformed }
            for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] { throw malformed }
            index += count
        }

        mutating func skipDigits() throws(ScanError) {
            let start = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard index > start else { throw malformed }
        }

        mutating func skipNumber() throws(ScanError) {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count else { throw malformed }
            let integerStart = index
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else {
                try skipDigits()
            }
            let integerDigits = index - integerStart
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                try skipDigits()
            }
            var hasExponent = false
            if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
                hasExponent = true
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                try skipDigits()
            }
            // A number beyond a double's range (1e309) is refused, as the gateway's JSON reader and
            // Foundation's refuse it: only one with an exponent or over 308 integer digits can be.
            if hasExponent || integerDigits > 308 {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                guard let value = Double(text), value.isFinite else { throw .malformed(offset: start) }
            }
        }

        /// A string: escapes must be JSON's, no raw control characters, valid UTF-8.
        ///
        /// Runs of plain bytes (printable ASCII but the quote and the backslash, most of a
        /// prompt) are skipped eight at a time; the bytes around anything else are checked
        /// one by one.
        mutating func skipString() throws(ScanError) {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw malformed }
            index += 1
            while true {
                while index + 8 <= bytes.count, Self.isPlain(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                    index += 8
                }
                guard index < bytes.count else { throw malformed }
                let stop = min(index + 8, bytes.count)
                repeat {
                    let byte = bytes[index]
                    switch byte {
                    case UInt8(ascii: "\""):
                        index += 1
                        return
                    case UInt8(ascii: "\\"):
                        try skipEscape()
                    case 0x00..<0x20:
                        throw malformed
                    case 0x20..<0x80:
                        index += 1
                    default:
                        try skipUTF8Sequence(lead: byte)
                    }
                } while index < stop
            }
        }

        /// Whether all eight bytes of `word` are plain string content: none below 0x20, none
        /// from 0x80, no quote and no backslash. (Each test may flag a plain byte that follows
        /// a flagged one, which only sends the word to the byte-by-byte check; none misses one.)
        @inline(__always)
        static func isPlain(_ word: UInt64) -> Bool {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let control = (word &- ones &* 0x20) & ~word
            let quotes = (quote &- ones) & ~quote
            let backslashes = (backslash &- ones) & ~backslash
            return (control | quotes | backslashes | word) & highs == 0
        }

        mutating func skipEscape() throws(ScanError) {
            index += 1
            guard index < bytes.count else { throw malformed }
            switch bytes[index] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                index += 1
            case UInt8(ascii: "u"):
                // A UTF-16 code unit; a surrogate only as the first of a pair (the gateway's JSON
                // reader and Foundation's refuse a lone one, so a body holding one is not passed on).
                let unit = try codeUnit(at: index + 1)
                index += 5
                if (0xDC00...0xDFFF).contains(unit) { throw malformed }
                if (0xD800...0xDBFF).contains(unit) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u"),
                        (0xDC00...0xDFFF).contains(try codeUnit(at: index + 2))
                    else { throw malformed }
                    index += 6
                }
            default:
                throw malformed
            }
        }

        /// The four hex digits at `offset`.
        func codeUnit(at offset: Int) throws(ScanError) -> UInt32 {
            guard offset + 4 <= bytes.count else { throw malformed }
            var unit: UInt32 = 0
            for k in 0..<4 {
                let byte = bytes[offset + k]
                guard Self.isHexDigit(byte) else { throw malformed }
                unit = unit << 4 | UInt32(byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : (byte | 0x20) - UInt8(ascii: "a") + 10)
            }
            return unit
        }

        static func isHexDigit(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): true
            default: false
            }
        }

        /// One multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
        mutating func skipUTF8Sequence(lead: UInt8) throws(ScanError) {
            let length: Int
            var secondRange: ClosedRange<UInt8> = 0x80...0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                secondRange = 0xA0...0xBF
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                secondRange = 0x80...0x9F
            case 0xF0:
                length = 4
                secondRange = 0x90...0xBF
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                secondRange = 0x80...0x8F
            default: throw malformed
            }
            guard index + length <= bytes.count, secondRange.contains(bytes[index + 1]) else { throw malformed }
            for offset in 2..<length where !(0x80...0xBF).contains(bytes[index + offset]) { throw malformed }
            index += length
        }
    }
}
