/// Finds text a reader cannot see but a model reads: zero-width characters, bidirectional controls, Unicode tag
/// characters (the "ASCII smuggling" attack, U+E0000–U+E007F) and private-use code points. Consecutive ones are one
/// finding.
///
/// Threat assumptions: an attacker hides instructions in a document or a web page the user pastes, or reorders what a
/// reviewer sees (Trojan Source). Reported:
/// - zero-width: U+200B–U+200D, U+2060, U+FEFF (also as the first scalar: a byte-order mark inside a prompt is no
///   more legitimate than anywhere else);
/// - bidirectional controls: U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069;
/// - tags: U+E0000–U+E007F;
/// - private use: U+E000–U+F8FF, U+F0000–U+FFFFD, U+100000–U+10FFFD.
///
/// One exception: a zero-width joiner between two emoji (👨‍👩‍👧, 🏳️‍🌈) is how emoji are written, not hidden text,
/// and is neither reported nor stripped; a joiner anywhere else is. Emoji tag sequences (subdivision flags such as
/// 🏴󠁧󠁢󠁳󠁣󠁴󠁿) are reported: they are rare, and the same characters carry smuggled ASCII.
public struct InvisibleTextScanner: TextScanner {
    public init() {}

    public func scan(_ text: String) -> [Finding] {
        Self.ranges(in: text).map { Finding(.invisibleText, $0) }
    }

    /// The text without what `scan` reports.
    public static func strip(_ text: String) -> String {
        let ranges = ranges(in: text)
        guard !ranges.isEmpty else { return text }
        let removed = ranges.reduce(0) { $0 + $1.count }
        var text = text
        return text.withUTF8 { bytes in
            String(unsafeUninitializedCapacity: bytes.count - removed) { output in
                var written = 0
                var kept = 0
                for range in ranges + [bytes.count..<bytes.count] {
                    for i in kept..<range.lowerBound {
                        output[written] = bytes[i]
                        written += 1
                    }
                    kept = range.upperBound
                }
                return written
            }
        }
    }

    /// The text with each tag character turned back into the ASCII it smuggles (U+E0041 → "A"); the tags that stand
    /// for no printable character (U+E0000–U+E001F, the cancel tag U+E007F) are dropped, the rest of the text is kept.
    public static func decodeTags(_ text: String) -> String {
        guard text.utf8.contains(0xF3) else { return text }
        var decoded = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0xE0020...0xE007E: decoded.append(Unicode.Scalar(UInt8(scalar.value - 0xE0000)))
            case 0xE0000...0xE007F: continue
            default: decoded.append(scalar)
            }
        }
        return String(decoded)
    }

    /// Whether a scalar is one the scanner reports (before the emoji exception).
    static func isInvisible(_ value: UInt32) -> Bool {
        switch value {
        case 0x200B...0x200F, 0x202A...0x202E, 0x2060, 0x2066...0x2069, 0xFEFF, 0x061C: return true
        case 0xE0000...0xE007F: return true
        case 0xE000...0xF8FF, 0xF0000...0xFFFFD, 0x100000...0x10FFFD: return true
        default: return false
        }
    }

    /// The UTF-8 byte ranges of runs of invisible scalars.
    static func ranges(in text: String) -> [Range<Int>] {
        var text = text
        return text.withUTF8 { bytes in
            var found: [Range<Int>] = []
            guard let base = bytes.baseAddress else { return found }
            let n = bytes.count
            var i = 0
            while i < n {
                // Eight ASCII bytes at a time: none of them can start anything reported.
                if i + 8 <= n,
                    UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
                        & 0x8080_8080_8080_8080 == 0
                {
                    i += 8
                    continue
                }
                let lead = bytes[i]
                let length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
                // Only these lead bytes start a reported scalar (U+061C is D8 9C; U+2000s E2; U+E000–U+FFFF EE, EF;
                // planes 14 to 16 F3, F4), so everything else is skipped without decoding.
                guard lead == 0xD8 || lead == 0xE2 || lead == 0xEE || lead == 0xEF || lead >= 0xF3, i + length <= n
                else {
                    i += length
                    continue
                }
                let value = decode(bytes, at: i, length: length)
                if isInvisible(value), value != 0x200D || !isEmojiJoiner(bytes, at: i) {
                    if let last = found.last, last.upperBound == i {
                        found[found.count - 1] = last.lowerBound..<(i + length)
                    } else {
                        found.append(i..<(i + length))
                    }
                }
                i += length
            }
            return found
        }
    }

    /// Whether the zero-width joiner at `i` sits between two emoji (the first may end in VS16 or a skin tone).
    private static func isEmojiJoiner(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        guard i > 0, i + 3 < bytes.count else { return false }
        var start = i - 1
        while start > 0 && bytes[start] & 0xC0 == 0x80 { start -= 1 }
        let before = decode(bytes, at: start, length: i - start)
        let afterLength = bytes[i + 3] < 0x80 ? 1 : bytes[i + 3] < 0xE0 ? 2 : bytes[i + 3] < 0xF0 ? 3 : 4
        guard i + 3 + afterLength <= bytes.count else { return false }
        let after = decode(bytes, at: i + 3, length: afterLength)
        return (before == 0xFE0F || isEmoji(before)) && isEmoji(after)
    }

    private static func isEmoji(_ value: UInt32) -> Bool {
        value >= 0x80 && (Unicode.Scalar(value)?.properties.isEmoji ?? false)
    }

    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int, length: Int) -> UInt32 {
        var value = UInt32(bytes[i]) & (length == 1 ? 0x7F : length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
        for k in 1..<max(length, 1) { value = value << 6 | UInt32(bytes[i + k]) & 0x3F }
        return value
    }
}
