/// Gatehouse's own JSON reader and writer for ``JSONValue``.
///
/// Every request and answer the gateway translates goes through these, so they work on
/// bytes and allocate only what the value itself needs (Foundation's `JSONDecoder`, through
/// `Codable`, cost several times more). The reader accepts exactly RFC 8259 JSON — the
/// grammar `JSONTopLevel`'s scanner validates — with nesting up to 512 levels; the writer
/// sorts object keys and escapes only what JSON requires.
enum JSONReader {
    struct Invalid: Error {
        let offset: Int
        let reason: String
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) throws(Invalid) -> JSONValue {
        var reader = Reader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.index == bytes.count else { throw Invalid(offset: reader.index, reason: "unexpected data after the value") }
        return value
    }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        func fail(_ reason: String) -> Invalid { Invalid(offset: index, reason: reason) }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws(Invalid) -> JSONValue {
            guard depth < JSONTopLevel.Scanner.maximumDepth else { throw fail("nested too deeply") }
            guard index < bytes.count else { throw fail("unexpected end of data") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw fail("unexpected character")
            }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws(Invalid) {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == byte else { throw fail("expected \(what)") }
            index += 1
        }

        mutating func object(depth: Int) throws(Invalid) -> JSONValue {
            index += 1
            var members: [String: JSONValue] = [:]
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
                let key = try string()
                try expect(UInt8(ascii: ":"), "':'")
                skipWhitespace()
                members[key] = try value(depth: depth)
                skipWhitespace()
                guard index < bytes.count else { throw fail("unterminated object") }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return .object(members)
                default: throw fail("expected ',' or '}'")
                }
            }
        }

        mutating func array(depth: Int) throws(Invalid) -> JSONValue {
            index += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth))
                skipWhitespace()
                guard index < bytes.count else { throw fail("unterminated array") }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return .array(elements)
                default: throw fail("expected ',' or ']'")
                }
            }
        }

        mutating func literal(_ word: StaticString) throws(Invalid) {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw fail("invalid literal") }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { throw fail("invalid literal") }
            index += count
        }

        mutating func number() throws(Invalid) -> JSONValue {
            let start = index
            var scanner = JSONTopLevel.Scanner(bytes: bytes)
            scanner.index = index
            do {
                try scanner.skipNumber()
            } catch {
                index = scanner.index
                throw fail("invalid number")
            }
            index = scanner.index
            let text = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
            if !text.contains(where: { $0 == UInt8(ascii: ".") || $0 | 0x20 == UInt8(ascii: "e") }) {
                var magnitude: UInt64 = 0
                var overflow = false
                let negative = text[0] == UInt8(ascii: "-")
                for digit in text.dropFirst(negative ? 1 : 0) {
                    let (times, o1) = magnitude.multipliedReportingOverflow(by: 10)
                    let (plus, o2) = times.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
                    magnitude = plus
                    overflow = overflow || o1 || o2
                }
                if !overflow {
                    if negative, magnitude <= UInt64(Int64.max) + 1 {
                        return .int(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
                    }
                    if !negative, magnitude <= UInt64(Int64.max) { return .int(Int64(magnitude)) }
                }
            }
            guard let double = Double(String(decoding: text, as: UTF8.self)), double.isFinite else {
                throw fail("number out of range")
            }
            return .double(double)
        }

        /// A string's value; `index` is at its opening quote.
        mutating func string() throws(Invalid) -> String {
            index += 1
            let start = index
            // Fast path: no escapes (the usual case) — validate and take the bytes as they are.
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    index += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw fail("control character in string") }
                if byte < 0x80 {
                    index += 1
                } else {
                    var scanner = JSONTopLevel.Scanner(bytes: bytes)
                    scanner.index = index
                    do { try scanner.skipUTF8Sequence(lead: byte) } catch { throw fail("invalid UTF-8") }
                    index = scanner.index
                }
            }
            guard index < bytes.count else { throw fail("unterminated string") }
            // Slow path: unescape into a buffer.
            var out = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { throw fail("unterminated escape") }
                    let escaped = bytes[index]
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                            else { throw fail("unpaired surrogate") }
                            index += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw fail("unpaired surrogate")
                        }
                        out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                    default: throw fail("invalid escape")
                    }
                case 0x00..<0x20: throw fail("control character in string")
                case 0x20..<0x80:
                    out.append(byte)
                    index += 1
                default:
                    var scanner = JSONTopLevel.Scanner(bytes: bytes)
                    scanner.index = index
                    do { try scanner.skipUTF8Sequence(lead: byte) } catch { throw fail("invalid UTF-8") }
                    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<scanner.index]))
                    index = scanner.index
                }
            }
            throw fail("unterminated string")
        }

        mutating func hex4() throws(Invalid) -> UInt32 {
            guard index + 4 <= bytes.count else { throw fail("invalid \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw fail("invalid \\u escape")
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }
    }
}

enum JSONWriter {
    /// Compact JSON with object keys sorted by their UTF-8 bytes.
    static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .int(let number): out.append(contentsOf: String(number).utf8)
        case .double(let number):
            // Not finite has no JSON form; the reader never produces one.
            out.append(contentsOf: (number.isFinite ? "\(number)" : "null").utf8)
        case .string(let text): writeString(text, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                write(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (position, key) in keys.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(members[key]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x00..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
