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
    ///
    /// Every string field of every audit record passes here, so ASCII text (nearly all of it) is
    /// judged on its bytes; text with other characters takes the general path below, which splits
    /// on Unicode whitespace too. Both give the same answer for ASCII text.
    public static func matches(_ text: String) -> Bool {
        var text = text
        if let answer = text.withUTF8({ matchesASCII($0) }) { return answer }
        return matchesUnicode(text)
    }

    static let privateKeyMarkers: [[UInt8]] = [Array("PRIVATE KEY-----".utf8), Array("PRIVATE+KEY+".utf8)]
    static let prefixBytes: [[UInt8]] = prefixes.map { Array($0.utf8) }

    /// The answer for ASCII text, or nil when `bytes` holds anything else.
    static func matchesASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool? {
        for byte in bytes where byte >= 0x80 { return nil }
        for marker in privateKeyMarkers where contains(bytes, marker) { return true }
        var previous: Slice<UnsafeBufferPointer<UInt8>>?
        var start = 0
        var index = 0
        while index <= bytes.count {
            if index == bytes.count || isSeparator(bytes[index]) {
                if index > start {
                    let word = bytes[start..<index]
                    if let previous, word.count >= 8, isBearerOrBasic(previous) { return true }
                    if isCredentialWord(UnsafeBufferPointer(rebasing: word)) { return true }
                    previous = word
                }
                start = index + 1
            }
            index += 1
        }
        return false
    }

    static func isSeparator(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x09...0x0D, 0x20, UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: ","), UInt8(ascii: ";"),
            UInt8(ascii: ":"), UInt8(ascii: "="), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"),
            UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"):
            true
        default: false
        }
    }

    static func isBearerOrBasic(_ word: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        let lower = word.lazy.map { isUpper($0) ? $0 | 0x20 : $0 }
        return lower.elementsEqual("bearer".utf8) || lower.elementsEqual("basic".utf8)
    }

    static func contains(_ bytes: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        guard bytes.count >= needle.count else { return false }
        for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
            if bytes[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    /// The general path, for text with non-ASCII characters.
    static func matchesUnicode(_ text: String) -> Bool {
        if text.contains("PRIVATE KEY-----") || text.contains("PRIVATE+KEY+") { return true }
        let words = text.split { character in
            character.isWhitespace || "\"',;:=()<>[]{}".contains(character)
        }
        var previous: Substring?
        for word in words {
            if let previous, ["bearer", "basic"].contains(previous.lowercased()), word.count >= 8 { return true }
            var bytes = String(word)
            if bytes.withUTF8({ isCredentialWord($0) }) { return true }
            previous = word
        }
        return false
    }

    /// One word, as UTF-8 bytes.
    private static func isCredentialWord(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for prefix in prefixBytes where bytes.count >= prefix.count + 8 && bytes.starts(with: prefix) {
            return true
        }
        if bytes.count == 20, bytes.starts(with: "AKIA".utf8) || bytes.starts(with: "ASIA".utf8),
            bytes.dropFirst(4).allSatisfy({ isUpper($0) || isDigit($0) })
        {
            return true
        }
        if bytes.starts(with: "eyJ".utf8), bytes.count(where: { $0 == UInt8(ascii: ".") }) == 2,
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
