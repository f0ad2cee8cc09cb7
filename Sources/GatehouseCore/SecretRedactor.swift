/// Removes anything that looks like a credential from text that came from outside
/// (upstream error messages) before it reaches a caller or a log. Redaction is by
/// shape, so it also covers keys the gateway has never seen.
public enum SecretRedactor {
    /// Prefixes of well-known credential formats; the token that follows one is masked.
    static let prefixes = [
        "sk-", "sk_live_", "rk_live_", "AIza", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
        "github_pat_", "hf_", "gsk_", "pplx-", "xoxb-", "xoxp-", "xoxe-", "Bearer ", "eyJ",
    ]

    public static func redact(_ text: String, limit: Int = 500) -> String {
        var output = ""
        output.reserveCapacity(min(text.utf8.count, limit))
        var rest = Substring(text)
        while !rest.isEmpty {
            if let prefix = prefixes.first(where: { rest.hasPrefix($0) }) {
                let body = rest.dropFirst(prefix.count).prefix(while: isTokenCharacter)
                if body.count >= 8 {
                    output += prefix == "Bearer " ? "Bearer [REDACTED]" : "[REDACTED]"
                    rest = rest.dropFirst(prefix.count + body.count)
                    continue
                }
            }
            if rest.hasPrefix("-----BEGIN") {
                output += "[REDACTED]"
                break
            }
            let character = rest.removeFirst()
            output.append(character)
            if isTokenCharacter(character) {
                // Copy the rest of this word so prefixes only match at word starts.
                let word = rest.prefix(while: isTokenCharacter)
                output += word
                rest = rest.dropFirst(word.count)
            }
        }
        if output.count > limit { output = String(output.prefix(limit)) + "…" }
        return output
    }

    static func isTokenCharacter(_ character: Character) -> Bool {
        character.isLetter || character.isNumber || character == "-" || character == "_" || character == "."
    }
}
