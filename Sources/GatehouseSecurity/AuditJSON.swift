import Foundation

/// The JSON subset audit records use: objects, strings and 64-bit integers, with one canonical encoding.
///
/// The canonical form is the RFC 8785 (JCS) form restricted to this subset: members sorted by key, no whitespace,
/// strings escaped with `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t` and `\u00xx` (lower-case) for the other control
/// characters, everything else (including `/` and non-ASCII) written as UTF-8. Keys are sorted by their UTF-8 bytes,
/// which equals JCS's UTF-16 order for the ASCII keys records use.
///
/// The parser is strict and small on purpose: no whitespace, floats, booleans, nulls or arrays, no duplicate keys,
/// nesting at most 4 deep. It takes untrusted lines (the log may have been tampered with) and never traps.
enum AuditJSON: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case object([String: AuditJSON])

    /// The canonical UTF-8 encoding.
    var canonical: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        Self.write(self, into: &out)
        return out
    }

    static func write(_ value: AuditJSON, into out: inout [UInt8]) {
        switch value {
        case .string(let text):
            writeString(text, into: &out)
        case .int(let number):
            out.append(contentsOf: String(number).utf8)
        case .object(let members):
            writeObject(members, into: &out, value: { $0 }, write: write)
        }
    }

    /// Writes an object's members sorted by key; `write` writes each member's value.
    static func writeObject<Value>(
        _ members: [String: Value], into out: inout [UInt8], value: (Value) -> AuditJSON,
        write: (AuditJSON, inout [UInt8]) -> Void
    ) {
        let keys = Array(members.keys)
        let values = Array(members.values)
        writeMembers(count: keys.count, key: { keys[$0] }, into: &out) { position, out in
            write(value(values[position]), &out)
        }
    }

    /// Writes a record's fields sorted by key.
    static func writeFields(_ fields: AuditFields, into out: inout [UInt8]) {
        let members = fields.members
        writeMembers(count: members.count, key: { members[$0].key }, into: &out) { position, out in
            switch members[position].value {
            case .string(let text): writeString(text, into: &out)
            case .int(let number): out.append(contentsOf: String(number).utf8)
            }
        }
    }

    /// Writes `{"key":value,...}` for `count` members in canonical key order; `key` gives the name at a
    /// position and `value` writes the value there.
    private static func writeMembers(
        count: Int, key: (Int) -> String, into out: inout [UInt8], value: (Int, inout [UInt8]) -> Void
    ) {
        out.append(UInt8(ascii: "{"))
        for (rank, position) in canonicalOrder(count: count, key: key).enumerated() {
            if rank > 0 { out.append(UInt8(ascii: ",")) }
            writeString(key(position), into: &out)
            out.append(UInt8(ascii: ":"))
            value(position, &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The positions of `keys` in canonical order (see ``precedes(_:_:)``).
    ///
    /// Each key's first eight bytes, read once as a big-endian integer, settle nearly every comparison; only keys
    /// that share them are compared in full. A record's few fields are put in order by insertion; a larger object
    /// (only ever met when verifying a log) by the standard sort, so a hostile line cannot make it quadratic.
    static func canonicalOrder(of keys: [String]) -> [Int] {
        canonicalOrder(count: keys.count) { keys[$0] }
    }

    /// The positions `0..<count` in the canonical order of the names `key` gives for them.
    static func canonicalOrder(count: Int, key: (Int) -> String) -> [Int] {
        var order: [(prefix: UInt64, position: Int)] = []
        order.reserveCapacity(count)
        for position in 0..<count { order.append((prefix(of: key(position)), position)) }
        func before(_ a: (prefix: UInt64, position: Int), _ b: (prefix: UInt64, position: Int)) -> Bool {
            a.prefix != b.prefix ? a.prefix < b.prefix : precedes(key(a.position), key(b.position))
        }
        if order.count > 32 {
            order.sort(by: before)
        } else if order.count > 1 {
            for next in 1..<order.count {
                let item = order[next]
                var slot = next
                while slot > 0, before(item, order[slot - 1]) {
                    order[slot] = order[slot - 1]
                    slot -= 1
                }
                order[slot] = item
            }
        }
        return order.map(\.position)
    }

    /// The first eight UTF-8 bytes of `key` as a big-endian integer, zero-padded: integers compare as the bytes
    /// do, and keys that tie are compared in full.
    static func prefix(of key: String) -> UInt64 {
        var value: UInt64 = 0
        var count = 0
        for byte in key.utf8 {
            guard count < 8 else { break }
            value = value << 8 | UInt64(byte)
            count += 1
        }
        return value << (8 * (8 - count))
    }

    /// Whether `a` sorts before `b` byte by byte in UTF-8, the order of canonical JSON's keys.
    static func precedes(_ a: String, _ b: String) -> Bool {
        var a = a
        var b = b
        return a.withUTF8 { left in
            b.withUTF8 { right in
                let common = min(left.count, right.count)
                if common > 0, let l = left.baseAddress, let r = right.baseAddress {
                    let order = memcmp(l, r, common)
                    if order != 0 { return order < 0 }
                }
                return left.count < right.count
            }
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Writes a string in canonical form. Runs of bytes that need no escape are copied whole.
    static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                start = index + 1
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                default:
                    out.append(contentsOf: "u00".utf8)
                    out.append(hexDigits[Int(byte >> 4)])
                    out.append(hexDigits[Int(byte & 0x0F)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<bytes.count]))
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: - Parsing

    /// Parses exactly one value filling all of `bytes`, or returns nil.
    static func parse(_ bytes: [UInt8]) -> AuditJSON? {
        var parser = Parser(bytes: bytes)
        guard let value = parser.value(depth: 0), parser.index == bytes.count else { return nil }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func value(depth: Int) -> AuditJSON? {
            guard index < bytes.count, depth <= 4 else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "{"): return object(depth: depth)
            case UInt8(ascii: "\""): return string().map(AuditJSON.string)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return integer().map(AuditJSON.int)
            default: return nil
            }
        }

        mutating func object(depth: Int) -> AuditJSON? {
            index += 1  // {
            var members: [String: AuditJSON] = [:]
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
                index += 1
                guard members[key] == nil, let member = value(depth: depth + 1) else { return nil }
                members[key] = member
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                } else if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                } else {
                    return nil
                }
            }
        }

        mutating func integer() -> Int64? {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            let digitsStart = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            let digitCount = index - digitsStart
            guard digitCount > 0, digitCount <= 19 else { return nil }
            // No leading zeros (except "0" itself), as in JSON.
            guard bytes[digitsStart] != UInt8(ascii: "0") || digitCount == 1 else { return nil }
            return Int64(String(decoding: bytes[start..<index], as: UTF8.self))
        }

        mutating func string() -> String? {
            index += 1  // opening quote
            var out: [UInt8] = []
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return String(validating: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { return nil }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        guard let scalar = unicodeEscape() else { return nil }
                        out.append(contentsOf: String(Character(scalar)).utf8)
                    default: return nil
                    }
                case 0x00..<0x20:
                    return nil
                default:
                    out.append(byte)
                    index += 1
                }
            }
            return nil
        }

        /// Reads `XXXX` (after `\u`), combining a surrogate pair; nil for lone surrogates.
        private mutating func unicodeEscape() -> Unicode.Scalar? {
            guard let high = hex4() else { return nil }
            if (0xD800..<0xDC00).contains(high) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                else { return nil }
                index += 2
                guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            }
            return Unicode.Scalar(high)
        }

        private mutating func hex4() -> UInt32? {
            guard index + 4 <= bytes.count,
                let digits = Hex.decode(String(decoding: bytes[index..<index + 4], as: UTF8.self))
            else { return nil }
            index += 4
            return UInt32(digits[0]) << 8 | UInt32(digits[1])
        }
    }
}
