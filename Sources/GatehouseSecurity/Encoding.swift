import Crypto
import Foundation

/// Lower-case hexadecimal encoding and strict decoding.
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Array(bytes).withUnsafeBytes { encode(raw: $0) }
    }

    /// A digest in hex after `prefix` (such as `sha256:`), written into one string (no copy of the digest first).
    static func encode(_ digest: SHA256Digest, prefix: String = "") -> String {
        digest.withUnsafeBytes { encode(raw: $0, prefix: prefix) }
    }

    private static func encode(raw bytes: UnsafeRawBufferPointer, prefix: String = "") -> String {
        let lead = prefix.utf8.count
        return String(unsafeUninitializedCapacity: lead + bytes.count * 2) { out in
            var index = 0
            for byte in prefix.utf8 {
                out[index] = byte
                index += 1
            }
            for byte in bytes {
                out[index] = digits[Int(byte >> 4)]
                out[index + 1] = digits[Int(byte & 0x0F)]
                index += 2
            }
            return index
        }
    }

    /// Decodes an even-length string of hex digits (either case), or returns nil.
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count.isMultiple(of: 2) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = value(chars[index]), let low = value(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func value(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): char - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Base64url without padding (RFC 4648 §5), as JWS uses it, with strict decoding.
enum Base64URL {
    static func encode(_ bytes: some DataProtocol) -> String {
        var text = Data(bytes).base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    /// Decodes unpadded base64url; refuses padding, foreign characters and non-canonical encodings.
    static func decode(_ text: some Collection<UInt8>) -> Data? {
        guard !text.isEmpty, text.count % 4 != 1 else { return nil }
        var standard: [UInt8] = []
        standard.reserveCapacity(text.count + 3)
        for char in text {
            switch char {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                standard.append(char)
            case UInt8(ascii: "-"): standard.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): standard.append(UInt8(ascii: "/"))
            default: return nil
            }
        }
        while standard.count % 4 != 0 { standard.append(UInt8(ascii: "=")) }
        guard let data = Data(base64Encoded: Data(standard)) else { return nil }
        // Unused trailing bits must be zero, so each token has exactly one spelling.
        guard encode(data).utf8.elementsEqual(text) else { return nil }
        return data
    }
}

/// Printable-ASCII checks shared by the token and key-store validators.
enum ASCII {
    /// True when every byte is printable ASCII (space through tilde).
    static func isPrintable(_ text: String) -> Bool {
        text.utf8.allSatisfy { (0x20...0x7E).contains($0) }
    }
}

/// ISO 8601 timestamps with second precision in UTC, e.g. `2025-01-31T12:00:00Z`.
enum Timestamp {
    static func format(_ date: Date) -> String {
        UTCTime.format(date, fraction: false) ?? date.formatted(Date.ISO8601FormatStyle())
    }

    static func parse(_ text: String) -> Date? {
        if let seconds = UTCTime.parseSeconds(text) { return Date(timeIntervalSince1970: Double(seconds)) }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// Truncates to whole seconds, matching what ``format(_:)`` can represent.
    static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }
}
