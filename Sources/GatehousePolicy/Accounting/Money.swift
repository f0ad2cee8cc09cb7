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
    /// Parses what ``description`` writes: decimal dollars, up to nine places.
    public init?(parsing text: some StringProtocol) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let wholeText = parts.first, !wholeText.isEmpty, wholeText.count <= 10,
            wholeText.allSatisfy({ $0.isASCII && $0.isNumber }), let whole = Int64(wholeText)
        else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = Int64(digits + String(repeating: "0", count: 9 - digits.count))
            else { return nil }
            fraction = value
        }
        self.init(whole * 1_000_000_000 + fraction)
    }
}
