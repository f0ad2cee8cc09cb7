/// An amount of US dollars in whole nanodollars (10⁻⁹ USD): sums are exact, and one token of the
/// cheapest priced model (an embedding at $0.02 per million) is still 20 of them. Int64 holds
/// budgets up to about 9.2 billion dollars.
public struct Nanodollars: Sendable, Hashable, Comparable, AdditiveArithmetic, CustomStringConvertible {
    public var value: Int64

    public init(_ value: Int64) { self.value = value }

    public static let zero = Nanodollars(0)

    /// Dollars as written by an operator (`0.25`), rounded to the nearest nanodollar; nil for
    /// negatives, non-finite values and amounts too large to hold.
    public init?(usd: Double) {
        guard usd.isFinite, usd >= 0, usd < 9e9 else { return nil }
        self.value = Int64((usd * 1e9).rounded())
    }

    public var usd: Double { Double(value) / 1e9 }

    /// Decimal dollars with up to nine places and no trailing zeros (`0.000123`, `2`).
    public var description: String {
        let sign = value < 0 ? "-" : ""
        let magnitude = value.magnitude
        let whole = magnitude / 1_000_000_000
        var fraction = String(magnitude % 1_000_000_000)
        guard fraction != "0" else { return sign + String(whole) }
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return sign + String(whole) + "." + fraction
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }
    public static func + (lhs: Self, rhs: Self) -> Self { Self(lhs.value &+ rhs.value) }
    public static func - (lhs: Self, rhs: Self) -> Self { Self(lhs.value &- rhs.value) }
}

extension Nanodollars {
    /// Parses what ``description`` writes: decimal dollars, up to ten digits, a point and up to
    /// nine places. Byte by byte (a token's budget is read on every request it makes).
    public init?(parsing text: some StringProtocol) {
        var whole: Int64 = 0
        var fraction: Int64 = 0
        var wholeDigits = 0
        var places = -1
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard places < 0, wholeDigits > 0 else { return nil }
                places = 0
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int64(byte - UInt8(ascii: "0"))
            if places < 0 {
                wholeDigits += 1
                guard wholeDigits <= 10 else { return nil }
                whole = whole * 10 + digit
            } else {
                places += 1
                guard places <= 9 else { return nil }
                fraction = fraction * 10 + digit
            }
        }
        guard wholeDigits > 0, places != 0 else { return nil }
        for _ in 0..<(9 - max(0, places)) { fraction *= 10 }
        self.init(whole * 1_000_000_000 + fraction)
    }
}
