/// A model-name glob from a token's `models` claim.
///
/// `*` matches any run of characters (including none); every other character matches itself, case-sensitively.
/// The match is anchored at both ends: `gpt-4o*` matches `gpt-4o-mini` but not `openai/gpt-4o`.
/// Patterns are 1–128 characters from `[A-Za-z0-9._:/@*-]`, so no escaping is ever needed.
public struct ModelPattern: Sendable, Hashable, CustomStringConvertible {
    /// The longest accepted pattern, in characters.
    public static let maximumLength = 128

    /// The pattern as written.
    public let text: String
    private let bytes: [UInt8]

    /// Parses a pattern, or returns nil when it is empty, too long or has a character outside `[A-Za-z0-9._:/@*-]`.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= Self.maximumLength, bytes.allSatisfy(Self.isAllowed) else { return nil }
        self.text = text
        self.bytes = bytes
    }

    /// True when `model` matches the whole pattern.
    public func matches(_ model: String) -> Bool {
        let subject = Array(model.utf8)
        let star = UInt8(ascii: "*")
        var p = 0
        var s = 0
        // Position of the last `*` seen and the subject index it is currently absorbing up to.
        var lastStar: Int?
        var absorbed = 0
        while s < subject.count {
            if p < bytes.count, bytes[p] == star {
                lastStar = p
                absorbed = s
                p += 1
            } else if p < bytes.count, bytes[p] == subject[s] {
                p += 1
                s += 1
            } else if let starIndex = lastStar {
                // Let the last star absorb one more character and retry the rest.
                p = starIndex + 1
                absorbed += 1
                s = absorbed
            } else {
                return false
            }
        }
        while p < bytes.count, bytes[p] == star { p += 1 }
        return p == bytes.count
    }

    public var description: String { text }

    private static func isAllowed(_ char: UInt8) -> Bool {
        switch char {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "@"),
            UInt8(ascii: "*"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}
