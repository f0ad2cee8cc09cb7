import Foundation

/// Recognises strings shaped like credentials, so they are refused before they reach the audit log.
///
/// Threat assumptions: this is a backstop against a caller passing the wrong variable (a key instead of its name, a
/// token instead of its id), not a guarantee: a secret without a recognisable shape passes. The primary rule is that
/// callers pass metadata and digests only. The check errs towards refusing: refusing a harmless value costs one
/// audit field, writing a key into an append-only, widely copied log costs the key.
///
/// A string is credential-shaped when any of its words (split on whitespace and `"',;:=()<>[]{}`):
/// - starts with a known credential prefix (`sk-`, `sk_`, `rk_`, `pk_live_`, `ghp_`, `gho_`, `ghs_`, `ghu_`,
///   `github_pat_`, `glpat-`, `xoxb-`/`xoxp-`/…, `hf_`, `gsk_`, `r8_`, `xai-`, `pplx-`, `AIza`, `ya29.`,
///   `AKIA`/`ASIA` + 16 upper-case letters or digits) followed by at least 8 more characters;
/// - is a JSON Web Token (`eyJ…` with two dots), such as a Gatehouse caller token;
/// - is 32 or more characters of `[A-Za-z0-9+/=_-]` mixing upper case, lower case and digits (random keys in
///   base64 or base62; lower-case hex digests and ids pass);
/// or when the string contains a PEM private key header or an `Authorization`-style `Bearer`/`Basic` credential.
public enum AuditCredentialShape {
    private static let prefixes = [
        "sk-", "sk_", "rk_", "pk_live_", "ghp_", "gho_", "ghs_", "ghu_", "ghr_", "github_pat_", "glpat-", "xoxa-",
        "xoxb-", "xoxp-", "xoxr-", "xoxs-", "hf_", "gsk_", "r8_", "xai-", "pplx-", "AIza", "ya29.", "sess-",
    ]

    /// True when `text` looks like a credential.
    public static func matches(_ text: String) -> Bool {
        if text.contains("PRIVATE KEY-----") || text.contains("PRIVATE+KEY+") { return true }
        let words = text.split { character in
            character.isWhitespace || "\"',;:=()<>[]{}".contains(character)
        }
        var previous: Substring?
        for word in words {
            if let previous, ["bearer", "basic"].contains(previous.lowercased()), word.count >= 8 { return true }
            if isCredentialWord(word) { return true }
            previous = word
        }
        return false
    }

    private static func isCredentialWord(_ word: Substring) -> Bool {
        let bytes = Array(word.utf8)
        for prefix in prefixes where word.hasPrefix(prefix) && bytes.count >= prefix.utf8.count + 8 {
            return true
        }
        if bytes.count == 20, word.hasPrefix("AKIA") || word.hasPrefix("ASIA"),
            bytes.dropFirst(4).allSatisfy({ isUpper($0) || isDigit($0) })
        {
            return true
        }
        if word.hasPrefix("eyJ"), word.split(separator: ".", omittingEmptySubsequences: false).count == 3,
            bytes.count >= 20
        {
            return true
        }
        if bytes.count >= 32 {
            let alphabet = bytes.allSatisfy {
                isUpper($0) || isLower($0) || isDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "/")
                    || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
            }
            if alphabet, bytes.contains(where: isUpper), bytes.contains(where: isLower), bytes.contains(where: isDigit)
            {
                return true
            }
        }
        return false
    }

    private static func isUpper(_ byte: UInt8) -> Bool { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) }
    private static func isLower(_ byte: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) }
    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
}
