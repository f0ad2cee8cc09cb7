/// The price table shipped with the binary: US dollars per million tokens, standard (not batch,
/// not priority) tier, as the providers publish them. Operators override or extend it with
/// `prices:` in the config; a model in neither is priced by `pricing.unknown`.
///
/// Sources (read 2026-12):
/// - OpenAI: https://openai.com/api/pricing/ and https://platform.openai.com/docs/pricing
///   (cached input is OpenAI's automatic prompt caching; OpenAI charges nothing to write a cache).
/// - Anthropic: https://docs.anthropic.com/en/docs/about-claude/pricing (cache writes are the
///   5-minute cache writes, 1.25× input; cache reads 0.1× input).
/// - Google: https://ai.google.dev/gemini-api/docs/pricing (the prompts-up-to-200k tier; a
///   longer Gemini 2.5 Pro prompt costs more than this table says: price it in `prices:`).
///
/// Context windows are the providers' published input limits, in tokens.
public enum ShippedPrices {
    // name, input, output, cached input, cache write, context window
    private static let rows: [(String, Double, Double, Double?, Double?, Int)] = [
        // OpenAI
        ("gpt-5", 1.25, 10.00, 0.125, nil, 400_000),
        ("gpt-5-mini", 0.25, 2.00, 0.025, nil, 400_000),
        ("gpt-5-nano", 0.05, 0.40, 0.005, nil, 400_000),
        ("gpt-4.1", 2.00, 8.00, 0.50, nil, 1_047_576),
        ("gpt-4.1-mini", 0.40, 1.60, 0.10, nil, 1_047_576),
        ("gpt-4.1-nano", 0.10, 0.40, 0.025, nil, 1_047_576),
        ("gpt-4o", 2.50, 10.00, 1.25, nil, 128_000),
        ("gpt-4o-mini", 0.15, 0.60, 0.075, nil, 128_000),
        ("o1", 15.00, 60.00, 7.50, nil, 200_000),
        ("o3", 2.00, 8.00, 0.50, nil, 200_000),
        ("o3-mini", 1.10, 4.40, 0.55, nil, 200_000),
        ("o4-mini", 1.10, 4.40, 0.275, nil, 200_000),
        ("gpt-4-turbo", 10.00, 30.00, nil, nil, 128_000),
        ("gpt-3.5-turbo", 0.50, 1.50, nil, nil, 16_385),
        ("text-embedding-3-small", 0.02, 0, nil, nil, 8_192),
        ("text-embedding-3-large", 0.13, 0, nil, nil, 8_192),
        ("text-embedding-ada-002", 0.10, 0, nil, nil, 8_192),
        // Anthropic
        ("claude-opus-4-5", 5.00, 25.00, 0.50, 6.25, 200_000),
        ("claude-opus-4-1", 15.00, 75.00, 1.50, 18.75, 200_000),
        ("claude-opus-4", 15.00, 75.00, 1.50, 18.75, 200_000),
        ("claude-sonnet-4-5", 3.00, 15.00, 0.30, 3.75, 200_000),
        ("claude-sonnet-4", 3.00, 15.00, 0.30, 3.75, 200_000),
        ("claude-3-7-sonnet", 3.00, 15.00, 0.30, 3.75, 200_000),
        ("claude-3-5-sonnet", 3.00, 15.00, 0.30, 3.75, 200_000),
        ("claude-haiku-4-5", 1.00, 5.00, 0.10, 1.25, 200_000),
        ("claude-3-5-haiku", 0.80, 4.00, 0.08, 1.00, 200_000),
        ("claude-3-haiku", 0.25, 1.25, 0.03, 0.30, 200_000),
        // Google Gemini
        ("gemini-2.5-pro", 1.25, 10.00, 0.31, nil, 1_048_576),
        ("gemini-2.5-flash", 0.30, 2.50, 0.075, nil, 1_048_576),
        ("gemini-2.5-flash-lite", 0.10, 0.40, 0.025, nil, 1_048_576),
        ("gemini-2.0-flash", 0.10, 0.40, 0.025, nil, 1_048_576),
        ("gemini-2.0-flash-lite", 0.075, 0.30, nil, nil, 1_048_576),
        ("gemini-embedding-001", 0.15, 0, nil, nil, 2_048),
    ]

    /// The table by provider model name.
    public static let table: [String: ModelPrice] = Dictionary(
        uniqueKeysWithValues: rows.map { row in
            (
                row.0,
                ModelPrice(
                    inputPerMTok: row.1, outputPerMTok: row.2, cachedInputPerMTok: row.3, cacheWritePerMTok: row.4,
                    contextWindow: row.5)
            )
        })
}
