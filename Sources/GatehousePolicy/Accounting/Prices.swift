import GatehouseCore

/// What one model costs, in US dollars per million tokens.
public struct ModelPrice: Sendable, Equatable {
    public var inputPerMTok: Double
    public var outputPerMTok: Double
    /// Input read from the provider's prompt cache (the input price when the provider has none).
    public var cachedInputPerMTok: Double
    /// Input written to the provider's prompt cache (the input price when the provider has none).
    public var cacheWritePerMTok: Double
    /// The model's context window in tokens, when known.
    public var contextWindow: Int?

    public init(
        inputPerMTok: Double, outputPerMTok: Double, cachedInputPerMTok: Double? = nil,
        cacheWritePerMTok: Double? = nil, contextWindow: Int? = nil
    ) {
        self.inputPerMTok = inputPerMTok
        self.outputPerMTok = outputPerMTok
        self.cachedInputPerMTok = cachedInputPerMTok ?? inputPerMTok
        self.cacheWritePerMTok = cacheWritePerMTok ?? inputPerMTok
        self.contextWindow = contextWindow
    }

    /// The cost of what a provider reported: cached input at the cached price, cache writes at
    /// the write price, the rest of the input and all output at theirs. Rounded up to the nanodollar.
    public func cost(of usage: Usage) -> Nanodollars {
        let cached = max(0, min(usage.cachedPromptTokens, usage.promptTokens))
        let written = max(0, min(usage.cacheWriteTokens, usage.promptTokens - cached))
        let plain = max(0, usage.promptTokens - cached - written)
        // Dollars per million tokens are nanodollars per thousandth of a token: 1e9 / 1e6.
        let nanodollars =
            Double(plain) * inputPerMTok * 1000 + Double(cached) * cachedInputPerMTok * 1000
            + Double(written) * cacheWritePerMTok * 1000 + Double(max(0, usage.completionTokens)) * outputPerMTok * 1000
        return Nanodollars(Int64(min(nanodollars.rounded(.up), 9e18)))
    }

    /// The most a request can cost: every input token at the dearest input price, and the
    /// largest answer it allows.
    public func worstCase(promptTokens: Int, maxOutputTokens: Int) -> Nanodollars {
        let input = max(inputPerMTok, cachedInputPerMTok, cacheWritePerMTok)
        let nanodollars = Double(max(0, promptTokens)) * input * 1000 + Double(max(0, maxOutputTokens)) * outputPerMTok * 1000
        return Nanodollars(Int64(min(nanodollars.rounded(.up), 9e18)))
    }
}

/// The prices the gateway charges by: the operator's (`prices:` in the config) over the table
/// shipped with the binary (``ShippedPrices``).
///
/// A deployment is priced by, in order: the operator's price for its public model name, the
/// operator's price for the provider's model name, the shipped price for the provider's model
/// name. A provider's model name with a date after it (`gpt-4o-2024-08-06`,
/// `claude-sonnet-4-20250514`) takes the price of the name without it, and a Gemini name
/// may carry its `models/` prefix.
public struct PriceTable: Sendable {
    private let configured: [String: ModelPrice]
    private let shipped: [String: ModelPrice]

    public init(configured: [String: ModelPrice] = [:], shipped: [String: ModelPrice] = ShippedPrices.table) {
        self.configured = configured
        self.shipped = shipped
    }

    /// The price of a deployment's answers, or nil when neither table knows the model.
    public func price(publicName: String, upstreamModel: String) -> ModelPrice? {
        if let price = configured[publicName] { return price }
        if let price = Self.lookup(upstreamModel, in: configured) { return price }
        return Self.lookup(upstreamModel, in: shipped)
    }

    static func lookup(_ name: String, in table: [String: ModelPrice]) -> ModelPrice? {
        var name = Substring(name)
        if name.hasPrefix("models/") { name = name.dropFirst(7) }
        if let price = table[String(name)] { return price }
        guard let base = Self.withoutDate(name) else { return nil }
        return table[String(base)]
    }

    /// `NAME-YYYYMMDD` or `NAME-YYYY-MM-DD` → `NAME`; nil for anything else.
    static func withoutDate(_ name: Substring) -> Substring? {
        let bytes = Array(name.utf8)
        func digits(_ range: Range<Int>) -> Bool {
            range.lowerBound >= 0 && range.allSatisfy { bytes[$0] >= UInt8(ascii: "0") && bytes[$0] <= UInt8(ascii: "9") }
        }
        let n = bytes.count
        if n > 9, bytes[n - 9] == UInt8(ascii: "-"), digits(n - 8..<n) {
            return name.prefix(n - 9)
        }
        if n > 11, bytes[n - 11] == UInt8(ascii: "-"), digits(n - 10..<n - 6), bytes[n - 6] == UInt8(ascii: "-"),
            digits(n - 5..<n - 3), bytes[n - 3] == UInt8(ascii: "-"), digits(n - 2..<n)
        {
            return name.prefix(n - 11)
        }
        return nil
    }
}
