/// Byte-level looks into JSON text already validated by a scan, for the stream fast paths.
enum JSONBytes {
    /// Whether the value at `range` is the literal `null`.
    static func isNull(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        range.count == 4 && bytes[range.lowerBound] == UInt8(ascii: "n")
    }

    /// Whether a member named `key` appears anywhere within `range` with a value other than
    /// `null`. (Matches the key wherever it appears as a JSON string followed by a colon;
    /// an escaped quote inside a string value cannot start such a match.)
    static func hasNonNullMember(_ key: StaticString, in bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        let pattern = UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
        var index = range.lowerBound
        let end = range.upperBound
        while index < end {
            guard bytes[index] == UInt8(ascii: "\"") else {
                index += 1
                continue
            }
            let start = index + 1
            guard start + pattern.count < end,
                bytes[start + pattern.count] == UInt8(ascii: "\""),
                (0..<pattern.count).allSatisfy({ bytes[start + $0] == pattern[$0] })
            else {
                index += 1
                continue
            }
            var cursor = skipWhitespace(bytes, from: start + pattern.count + 1, to: end)
            guard cursor < end, bytes[cursor] == UInt8(ascii: ":") else {
                index = cursor
                continue
            }
            cursor = skipWhitespace(bytes, from: cursor + 1, to: end)
            return !(cursor < end && bytes[cursor] == UInt8(ascii: "n"))
        }
        return false
    }

    private static func skipWhitespace(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Int {
        var cursor = start
        while cursor < end {
            switch bytes[cursor] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): cursor += 1
            default: return cursor
            }
        }
        return cursor
    }
}
