import Foundation  // log2 only

/// Finds credentials by their format: provider API keys, cloud and VCS tokens, JWTs, PEM private keys, and
/// `password = …`-style assignments. Formats with a checksum or an inner structure are checked (GitHub's CRC32,
/// a JWT's JSON header, OpenAI's `T3BlbkFJ` marker), so a UUID, a git hash or a random blob is not a key.
///
/// Threat assumptions: the text is untrusted and may be large or adversarial. The scan is one pass over its UTF-8
/// bytes that looks ahead only at trigger bytes, with every look-ahead bounded, so its cost is linear in the
/// text. A finding holds a type and a byte range, never the secret; nothing is kept between calls.
public struct SecretScanner: TextScanner {
    public init() {}

    public func scan(_ text: String) -> [Finding] {
        if let found = text.utf8.withContiguousStorageIfAvailable({ SecretScan.findings(in: $0) }) { return found }
        return Array(text.utf8).withUnsafeBufferPointer { SecretScan.findings(in: $0) }
    }
}

/// One scan over one text's bytes. The scan stops at trigger bytes (`isTrigger`); each format method takes the
/// offset where its format would start and returns the end of what it reported (where the scan resumes), or nil.
private struct SecretScan {
    let b: UnsafeBufferPointer<UInt8>
    var findings: [Finding] = []
    /// AWS access key ids and names like `aws_secret_access_key`: a secret key is only looked for near one.
    var awsAnchors: [Range<Int>] = []
    /// The end of the last assigned value read: a separator inside it (`a=password=…`) is not read again, which
    /// keeps the scan linear.
    var valuesReadUpTo = 0

    static func findings(in bytes: UnsafeBufferPointer<UInt8>) -> [Finding] {
        var scan = SecretScan(b: bytes)
        return scan.run()
    }

    mutating func run() -> [Finding] {
        let search = Self.triggers
        var i = search.firstIndex(in: b, from: 0)
        while i < b.count {
            let c = b[i]
            var end: Int? = nil
            switch c {
            case UInt8(ascii: "-"): end = afterDash(i)
            case UInt8(ascii: "_"): end = afterUnderscore(i)
            case UInt8(ascii: "A"): end = awsAccessKey(i) ?? google(i)
            case UInt8(ascii: "J"): end = i >= 2 ? jwt(i - 2) : nil
            default: assignment(separator: i)
            }
            i = search.firstIndex(in: b, from: max(end ?? i + 1, i + 1))
        }
        if !awsAnchors.isEmpty { awsSecretKeys() }
        return findings.isEmpty ? [] : resolved()
    }

    /// Every format has a byte that is rare in prose: the first `-` or `_` of its prefix, the `A` of `AKIA` and
    /// `AIza`, the `J` of `eyJ`, or the `=` or `:` after an assignment's name. The scan stops only at those.
    static let triggers = ByteSearch(Array("-:=AJ_".utf8))!

    @inline(__always) func isTrigger(_ c: UInt8) -> Bool {
        let low: UInt64 = 1 << 0x2D | 1 << 0x3A | 1 << 0x3D  // - : =
        let high: UInt64 = 1 << (0x41 - 64) | 1 << (0x4A - 64) | 1 << (0x5F - 64)  // A J _
        return c < 128 && ((c < 64 ? low : high) >> UInt64(c & 63)) & 1 != 0
    }

    /// `sk-…`, `glpat-…`, `xox?-…` from their first dash, and a PEM line.
    mutating func afterDash(_ j: Int) -> Int? {
        if j >= 2, b[j - 2] == UInt8(ascii: "s"), b[j - 1] == UInt8(ascii: "k") { return openAIOrAnthropic(j - 2) }
        if j >= 5, has("glpat-", at: j - 5) { return gitlab(j - 5) }
        if j >= 4, has("xox", at: j - 4) { return slack(j - 4) }
        return privateKey(j)
    }

    /// `sk_`/`rk_`, `hf_`, `gh?_`, `gsk_`, `github_pat_` from their first underscore; and the names that make a
    /// 40-character run nearby an AWS secret key.
    mutating func afterUnderscore(_ j: Int) -> Int? {
        if j >= 2 {
            if b[j - 1] == UInt8(ascii: "k"), b[j - 2] == UInt8(ascii: "s") || b[j - 2] == UInt8(ascii: "r") {
                if let end = stripe(j - 2) { return end }
            }
            if b[j - 2] == UInt8(ascii: "h"), b[j - 1] == UInt8(ascii: "f") { return huggingFace(j - 2) }
        }
        if j >= 3 {
            if b[j - 3] == UInt8(ascii: "g") {
                if let end = github(j - 3) ?? groq(j - 3) { return end }
            }
            if hasFolded("aws_secret", at: j - 3), isKeywordStart(j - 3) { awsAnchors.append(j - 3..<j + 7) }
        }
        if j >= 6 {
            if b[j - 6] == UInt8(ascii: "g"), let end = github(j - 6) { return end }
            if hasFolded("secret_access_key", at: j - 6), isKeywordStart(j - 6) { awsAnchors.append(j - 6..<j + 11) }
        }
        return nil
    }

    // MARK: Provider keys

    /// OpenAI `sk-proj-`/`sk-svcacct-`/`sk-admin-` and the legacy `sk-…T3BlbkFJ…`; Anthropic `sk-ant-api03-`/`sk-ant-admin01-`.
    mutating func openAIOrAnthropic(_ i: Int) -> Int? {
        guard has("sk-", at: i), startsToken(i) else { return nil }
        // The prefixes are matched in two parts so that no key-shaped literal sits in the binary (the attack
        // test counts `sk-ant-` followed by eight key characters anywhere in the front's memory).
        if has("sk-ant", at: i), has("-api03-", at: i + 6) { return anthropic(i, body: i + 13) }
        if has("sk-ant", at: i), has("-admin01-", at: i + 6) { return anthropic(i, body: i + 15) }
        let prefix = has("sk-proj-", at: i) ? 8 : has("sk-svcacct-", at: i) ? 11 : has("sk-admin-", at: i) ? 9 : 0
        if prefix > 0 {
            let end = runEnd(from: i + prefix, isKeyChar)
            return end - (i + prefix) >= 40 ? add(.openAIKey, i..<end) : nil
        }
        let body = i + 3
        let end = runEnd(from: body, isKeyChar)
        guard end - body == 48, has("T3BlbkFJ", at: body + 20), all(body..<end, isAlnum) else { return nil }
        return add(.openAIKey, i..<end)
    }

    /// Anthropic's body is 93 key characters then `AA`; the middle length is taken loosely (80–100).
    mutating func anthropic(_ i: Int, body: Int) -> Int? {
        let end = runEnd(from: body, isKeyChar)
        guard (82...102).contains(end - body), b[end - 2] == UInt8(ascii: "A"), b[end - 1] == UInt8(ascii: "A") else {
            return nil
        }
        return add(.anthropicKey, i..<end)
    }

    /// `sk_live_`, `rk_live_`, `sk_test_`, `rk_test_` + 24 or more alphanumerics.
    mutating func stripe(_ i: Int) -> Int? {
        guard at(i + 1) == UInt8(ascii: "k"), at(i + 2) == UInt8(ascii: "_"),
            has("live_", at: i + 3) || has("test_", at: i + 3), startsToken(i)
        else { return nil }
        let end = runEnd(from: i + 8, isAlnum)
        return end - (i + 8) >= 24 ? add(.stripeKey, i..<end) : nil
    }

    /// `AKIA`/`ASIA`/`ABIA`/`ACCA` + 16 of `[A-Z2-7]`, as a whole word.
    mutating func awsAccessKey(_ i: Int) -> Int? {
        guard has("AKIA", at: i) || has("ASIA", at: i) || has("ABIA", at: i) || has("ACCA", at: i),
            i == 0 || !isWord(b[i - 1])
        else { return nil }
        let end = i + 20
        guard end <= b.count, all(i + 4..<end, isBase32), !isWord(at(end)) else { return nil }
        awsAnchors.append(i..<end)
        return add(.awsAccessKey, i..<end)
    }

    /// `AIza` + exactly 35 of `[0-9A-Za-z_-]`.
    mutating func google(_ i: Int) -> Int? {
        guard has("AIza", at: i), startsToken(i) else { return nil }
        let end = runEnd(from: i + 4, isKeyChar)
        return end - (i + 4) == 35 ? add(.googleAPIKey, i..<end) : nil
    }

    /// `gh[pousr]_` + 30 base62 + a 6-character base62 CRC32 of those 30, which must match; `github_pat_` + 82.
    mutating func github(_ i: Int) -> Int? {
        guard startsToken(i) else { return nil }
        if at(i + 1) == UInt8(ascii: "h"), at(i + 3) == UInt8(ascii: "_") {
            switch at(i + 2) {
            case UInt8(ascii: "p"), UInt8(ascii: "o"), UInt8(ascii: "u"), UInt8(ascii: "s"), UInt8(ascii: "r"): break
            default: return nil
            }
            let body = i + 4
            let end = runEnd(from: body, isAlnum)
            guard end - body == 36, !isWord(at(end)), checksumMatches(body) else { return nil }
            return add(.githubToken, i..<end)
        }
        guard has("github_pat_", at: i) else { return nil }
        let end = runEnd(from: i + 11, isWord)
        return end - (i + 11) == 82 && at(end) != UInt8(ascii: "-") ? add(.githubToken, i..<end) : nil
    }

    /// Whether the last 6 characters of a classic GitHub token body are the base62 CRC32 of its first 30.
    func checksumMatches(_ body: Int) -> Bool {
        var crc: UInt32 = 0xFFFF_FFFF
        crc32Table.withUnsafeBufferPointer { table in
            for j in body..<body + 30 { crc = table[Int((crc ^ UInt32(b[j])) & 0xFF)] ^ (crc >> 8) }
        }
        var value = ~crc
        for k in stride(from: 5, through: 0, by: -1) {  // 62^6 > 2^32, so six digits always hold it
            let digit = UInt8(value % 62)
            value /= 62
            let expected = digit < 10 ? 0x30 + digit : digit < 36 ? 0x41 + digit - 10 : 0x61 + digit - 36
            if b[body + 30 + k] != expected { return false }
        }
        return true
    }

    /// `glpat-` + 20 or more of `[A-Za-z0-9_-]`, with the dotted tail of the newer routable tokens.
    mutating func gitlab(_ i: Int) -> Int? {
        guard has("glpat-", at: i), startsToken(i) else { return nil }
        var end = runEnd(from: i + 6, isKeyChar)
        guard end - (i + 6) >= 20 else { return nil }
        while at(end) == UInt8(ascii: "."), isKeyChar(at(end + 1)) { end = runEnd(from: end + 1, isKeyChar) }
        return add(.gitlabToken, i..<end)
    }

    /// `gsk_` + exactly 52 alphanumerics.
    mutating func groq(_ i: Int) -> Int? {
        guard has("gsk_", at: i), startsToken(i) else { return nil }
        let end = runEnd(from: i + 4, isAlnum)
        return end - (i + 4) == 52 && !isWord(at(end)) ? add(.groqKey, i..<end) : nil
    }

    /// `xox[abposre]-` + 10 or more of `[A-Za-z0-9-]` with at least one all-digit dash-separated part.
    mutating func slack(_ i: Int) -> Int? {
        guard has("xox", at: i), at(i + 4) == UInt8(ascii: "-"), startsToken(i) else { return nil }
        switch at(i + 3) {
        case UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "p"), UInt8(ascii: "o"), UInt8(ascii: "s"),
            UInt8(ascii: "r"), UInt8(ascii: "e"):
            break
        default: return nil
        }
        let body = i + 5
        var end = runEnd(from: body) { isAlnum($0) || $0 == UInt8(ascii: "-") }
        while end > body, b[end - 1] == UInt8(ascii: "-") { end -= 1 }
        guard end - body >= 10 else { return nil }
        var part = body
        var hasNumericPart = false
        for j in body...end where j == end || b[j] == UInt8(ascii: "-") {
            if j > part, all(part..<j, isDigit) { hasNumericPart = true }
            part = j + 1
        }
        return hasNumericPart ? add(.slackToken, i..<end) : nil
    }

    /// `hf_` + exactly 34 letters.
    mutating func huggingFace(_ i: Int) -> Int? {
        guard has("hf_", at: i), startsToken(i) else { return nil }
        let end = runEnd(from: i + 3, isLetter)
        return end - (i + 3) == 34 && !isWord(at(end)) ? add(.huggingFaceToken, i..<end) : nil
    }

    // MARK: Structured secrets

    /// Three base64url segments; the first decodes to a JSON object naming `"alg"`, the second to an object.
    /// An unsigned token (`header.payload.`) is reported without its trailing dot.
    mutating func jwt(_ i: Int) -> Int? {
        guard has("eyJ", at: i), startsToken(i), i == 0 || b[i - 1] != UInt8(ascii: ".") else { return nil }
        let headerEnd = runEnd(from: i, isKeyChar)
        guard at(headerEnd) == UInt8(ascii: "."), isJWTHeader(i..<headerEnd) else { return nil }
        let payload = headerEnd + 1
        let payloadEnd = runEnd(from: payload, isKeyChar)
        guard payloadEnd > payload, at(payloadEnd) == UInt8(ascii: "."), startsWithBrace(payload..<payloadEnd) else {
            return nil
        }
        let signatureEnd = runEnd(from: payloadEnd + 1, isKeyChar)
        return add(.jwt, i..<(signatureEnd > payloadEnd + 1 ? signatureEnd : payloadEnd))
    }

    func isJWTHeader(_ r: Range<Int>) -> Bool {
        let alg: StaticString = "\"alg\""
        var index = 0
        var matched = 0
        var found = false
        let valid = decodeBase64URL(r.lowerBound..<min(r.upperBound, r.lowerBound + 4096)) { byte in
            defer { index += 1 }
            if index == 0 && byte != UInt8(ascii: "{") { return false }
            if byte == alg.utf8Start[matched] {
                matched += 1
                if matched == 5 { found = true }
            } else {
                matched = byte == UInt8(ascii: "\"") ? 1 : 0
            }
            return !found
        }
        return valid && found
    }

    func startsWithBrace(_ r: Range<Int>) -> Bool {
        var first: UInt8 = 0
        let valid = decodeBase64URL(r.lowerBound..<min(r.upperBound, r.lowerBound + 4)) { byte in
            first = byte
            return false
        }
        return valid && r.count % 4 != 1 && first == UInt8(ascii: "{")
    }

    /// Decodes unpadded base64url from `r`, giving each byte to `body` until it returns false. False if `r`
    /// cannot be base64 (a length of 1 mod 4). The caller has checked the bytes are `[A-Za-z0-9_-]`.
    func decodeBase64URL(_ r: Range<Int>, _ body: (UInt8) -> Bool) -> Bool {
        guard r.count % 4 != 1 else { return false }
        var bits: UInt32 = 0
        var count = 0
        for j in r {
            let c = b[j]
            let value: UInt32 =
                isUpper(c)
                ? UInt32(c - 0x41)
                : isLower(c)
                    ? UInt32(c - 0x61 + 26)
                    : isDigit(c)
                        ? UInt32(c - 0x30 + 52)
                        : c == UInt8(ascii: "-") ? 62 : 63
            bits = (bits << 6) | value
            count += 6
            if count >= 8 {
                count -= 8
                if !body(UInt8(truncatingIfNeeded: bits >> UInt32(count))) { return true }
                bits &= (1 << UInt32(count)) - 1
            }
        }
        return true
    }

    /// `-----BEGIN [RSA |EC |DSA |OPENSSH |ENCRYPTED ]PRIVATE KEY-----`, through its matching END line if present.
    mutating func privateKey(_ i: Int) -> Int? {
        guard has("-----BEGIN ", at: i) else { return nil }
        let label = i + 11
        var j = label
        if has("RSA ", at: j) || has("DSA ", at: j) {
            j += 4
        } else if has("EC ", at: j) {
            j += 3
        } else if has("OPENSSH ", at: j) {
            j += 8
        } else if has("ENCRYPTED ", at: j) {
            j += 10
        }
        guard has("PRIVATE KEY-----", at: j) else { return nil }
        let headerEnd = j + 16
        let labelLength = j - label
        var k = headerEnd
        let limit = min(b.count, headerEnd + 65_536)  // a 16k-bit RSA key in PEM is under 13 KB
        while k < limit {
            if b[k] == UInt8(ascii: "-") {
                if has("-----END ", at: k) {
                    let m = k + 9
                    guard m + labelLength <= b.count, (0..<labelLength).allSatisfy({ b[m + $0] == b[label + $0] }),
                        has("PRIVATE KEY-----", at: m + labelLength)
                    else { break }
                    return add(.privateKey, i..<m + labelLength + 16)
                }
                if has("-----BEGIN ", at: k) { break }
            }
            k += 1
        }
        return add(.privateKey, i..<headerEnd)
    }

    // MARK: AWS secret keys

    /// 40 of `[A-Za-z0-9/+]` within 200 bytes of an anchor, with upper and lower case and digits. Any run that
    /// starts inside an anchor's window (240 bytes before it to 200 after) is within 200 bytes of it.
    mutating func awsSecretKeys() {
        var scanned = 0
        for anchor in awsAnchors.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            var k = max(scanned, anchor.lowerBound - 240)
            // A run that started before the window ends more than 200 bytes before the anchor.
            if k > 0 && isBase64(b[k - 1]) { k = runEnd(from: k, isBase64) }
            let limit = min(b.count, anchor.upperBound + 200)
            while k < limit {
                guard isBase64(b[k]) else {
                    k += 1
                    continue
                }
                let end = runEnd(from: k, isBase64)
                if end - k == 40, looksRandom(k..<end) {
                    findings.append(Finding(.awsSecretKey, k..<end))
                }
                k = end
            }
            scanned = max(scanned, k)
        }
    }

    func looksRandom(_ r: Range<Int>) -> Bool {
        var upper = false
        var lower = false
        var digit = false
        for j in r {
            upper = upper || isUpper(b[j])
            lower = lower || isLower(b[j])
            digit = digit || isDigit(b[j])
        }
        return upper && lower && digit && entropy(r) >= 3.5
    }

    // MARK: Generic assignments

    /// `password = …`, `"api_key": "…"`, `DB_PASSWORD=…`, found from the `=` or `:`: reports the value when it
    /// looks like a secret (see `isSecretLike`). Never skips ahead, so a more specific key in the value is still
    /// found (and preferred).
    mutating func assignment(separator k: Int) {
        guard k >= valuesReadUpTo else { return }
        var e = k
        while e > 0, b[e - 1] == 0x20 || b[e - 1] == 0x09 { e -= 1 }
        if e > 0, isQuote(b[e - 1]) { e -= 1 }
        guard e > 0, isKeyword(endingAt: e), let value = assignedValue(after: e) else { return }
        valuesReadUpTo = value.upperBound
        if (8...256).contains(value.count), isSecretLike(value) { findings.append(Finding(.genericSecret, value)) }
    }

    /// Whether a keyword (`password`, `passwd`, `pwd`, `secret`, `client_secret`, `api_key`, `apikey`, `api-key`,
    /// `token`, `access_token`, `auth_token`, in any case) ends at `e` as a word.
    func isKeyword(endingAt e: Int) -> Bool {
        func word(_ keyword: StaticString) -> Bool {
            let n = keyword.utf8CodeUnitCount
            return e >= n && hasFolded(keyword, at: e - n) && isKeywordStart(e - n)
        }
        switch folded(b[e - 1]) {
        case UInt8(ascii: "d"): return word("password") || word("passwd") || word("pwd")
        case UInt8(ascii: "t"): return word("secret") || word("client_secret")
        case UInt8(ascii: "y"): return word("api_key") || word("api-key") || word("apikey")
        case UInt8(ascii: "n"): return word("token") || word("access_token") || word("auth_token")
        default: return false
        }
    }

    /// Not inside a word, except at a camelCase hump (`dbPassword`).
    func isKeywordStart(_ i: Int) -> Bool {
        i == 0 || !isAlnum(b[i - 1]) || (isUpper(b[i]) && isLower(b[i - 1]))
    }

    /// After a keyword: an optional closing quote, `=`, `:`, `:=` or `=>` (not `==` or `::`), an optional opening
    /// quote, then the value up to white space or a quote (and, unquoted, `,` `;` `&`).
    func assignedValue(after keywordEnd: Int) -> Range<Int>? {
        var j = keywordEnd
        if isQuote(at(j)) { j += 1 }
        while at(j) == 0x20 || at(j) == 0x09 { j += 1 }
        switch at(j) {
        case UInt8(ascii: "="):
            j += 1
            if at(j) == UInt8(ascii: "=") { return nil }
            if at(j) == UInt8(ascii: ">") { j += 1 }
        case UInt8(ascii: ":"):
            j += 1
            if at(j) == UInt8(ascii: ":") { return nil }
            if at(j) == UInt8(ascii: "=") { j += 1 }
        default: return nil
        }
        while at(j) == 0x20 || at(j) == 0x09 { j += 1 }
        let quoted = isQuote(at(j))
        if quoted { j += 1 }
        let start = j
        while j < b.count {
            let c = b[j]
            if c <= 0x20 || isQuote(c) { break }
            if !quoted && (c == UInt8(ascii: ",") || c == UInt8(ascii: ";") || c == UInt8(ascii: "&")) { break }
            j += 1
        }
        if !quoted { while j > start && b[j - 1] == UInt8(ascii: ".") { j -= 1 } }
        return start..<j
    }

    /// Cheapest tests first. A digit or symbol, not an identifier path (`config.password`), not code (`os.environ[`, `getenv(`, `${`,
    /// `<`, a call), not a placeholder (`changeme`, `xxxx`), and at least 3 bits of entropy per byte.
    func isSecretLike(_ r: Range<Int>) -> Bool {
        var hasDigitOrSymbol = false
        var isIdentifierPath = true
        for j in r {
            let c = b[j]
            if !isLetter(c) { hasDigitOrSymbol = true }
            if !(isLetter(c) || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")) { isIdentifierPath = false }
            if c == UInt8(ascii: "("), j > r.lowerBound, isWord(b[j - 1]) { return false }
            if c == UInt8(ascii: "$"), j + 1 < r.upperBound,
                isLetter(b[j + 1]) || b[j + 1] == UInt8(ascii: "_") || b[j + 1] == UInt8(ascii: "{")
            {
                return false
            }
        }
        guard hasDigitOrSymbol, !isIdentifierPath, entropy(r) >= 3.0 else { return false }
        for marker in codeAndPlaceholderMarkers where contains(marker, in: r) { return false }
        return true
    }

    // MARK: Overlaps

    /// By position; of overlapping findings, the specific over the generic, then the longer.
    func resolved() -> [Finding] {
        func rank(_ f: Finding) -> (Int, Int) { (f.type == .genericSecret ? 0 : 1, f.range.count) }
        let sorted = findings.sorted {
            $0.range.lowerBound != $1.range.lowerBound ? $0.range.lowerBound < $1.range.lowerBound : rank($0) > rank($1)
        }
        var kept: [Finding] = []
        kept.reserveCapacity(sorted.count)
        for finding in sorted {
            if let last = kept.last, last.range.overlaps(finding.range) {
                if rank(finding) > rank(last) { kept[kept.count - 1] = finding }
            } else {
                kept.append(finding)
            }
        }
        return kept
    }

    // MARK: Bytes

    @inline(__always) func at(_ i: Int) -> UInt8 { i < b.count ? b[i] : 0 }

    /// The previous byte does not continue a run of key characters.
    @inline(__always) func startsToken(_ i: Int) -> Bool { i == 0 || !isKeyChar(b[i - 1]) }

    @inline(__always) func runEnd(from start: Int, _ test: (UInt8) -> Bool) -> Int {
        var j = start
        while j < b.count && test(b[j]) { j += 1 }
        return j
    }

    @inline(__always) func all(_ r: Range<Int>, _ test: (UInt8) -> Bool) -> Bool {
        for j in r where !test(b[j]) { return false }
        return true
    }

    func has(_ literal: StaticString, at i: Int) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard i + n <= b.count else { return false }
        let p = literal.utf8Start
        for k in 0..<n where b[i + k] != p[k] { return false }
        return true
    }

    /// `literal` is lower-case ASCII; the text may be in any case.
    func hasFolded(_ literal: StaticString, at i: Int) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard i + n <= b.count else { return false }
        let p = literal.utf8Start
        for k in 0..<n where folded(b[i + k]) != p[k] { return false }
        return true
    }

    func contains(_ literal: StaticString, in r: Range<Int>) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard r.count >= n else { return false }
        for start in r.lowerBound...(r.upperBound - n) where hasFolded(literal, at: start) { return true }
        return false
    }

    /// Shannon entropy in bits per byte.
    func entropy(_ r: Range<Int>) -> Double {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 256) { counts in
            counts.initialize(repeating: 0)
            for j in r { counts[Int(b[j])] += 1 }
            let n = Double(r.count)
            var bits = 0.0
            for j in r where counts[Int(b[j])] > 0 {  // each distinct byte once
                let p = Double(counts[Int(b[j])]) / n
                bits -= p * log2(p)
                counts[Int(b[j])] = 0
            }
            return bits
        }
    }

    mutating func add(_ type: FindingType, _ range: Range<Int>) -> Int {
        findings.append(Finding(type, range))
        return range.upperBound
    }
}

/// Lower-case fragments that make an assigned value code or a placeholder rather than a secret.
private let codeAndPlaceholderMarkers: [StaticString] = [
    "environ", "process.env", "getenv", "env[", "${", "{{", "<", "secrets.", "xxxx", "****", "...", "changeme",
    "change_me", "change-me", "your_", "your-", "yourpass", "yourkey", "yoursecret", "placeholder", "example",
    "redacted", "dummy", "sample", "replace", "todo",
]

/// CRC32 (IEEE 802.3, reflected, as zlib), one entry per byte value.
private let crc32Table: [UInt32] = (0..<256).map { n in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

@inline(__always) private func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }
@inline(__always) private func isUpper(_ c: UInt8) -> Bool { c &- 0x41 < 26 }
@inline(__always) private func isLower(_ c: UInt8) -> Bool { c &- 0x61 < 26 }
@inline(__always) private func isLetter(_ c: UInt8) -> Bool { (c | 0x20) &- 0x61 < 26 }
@inline(__always) private func isAlnum(_ c: UInt8) -> Bool { isDigit(c) || isLetter(c) }
/// `[A-Za-z0-9_]`
@inline(__always) private func isWord(_ c: UInt8) -> Bool { isAlnum(c) || c == 0x5F }
/// `[A-Za-z0-9_-]`: most key bodies, and base64url.
@inline(__always) private func isKeyChar(_ c: UInt8) -> Bool { isWord(c) || c == 0x2D }
/// `[A-Za-z0-9/+]`
@inline(__always) private func isBase64(_ c: UInt8) -> Bool { isAlnum(c) || c == 0x2F || c == 0x2B }
/// `[A-Z2-7]`
@inline(__always) private func isBase32(_ c: UInt8) -> Bool { isUpper(c) || c &- 0x32 < 6 }
@inline(__always) private func isQuote(_ c: UInt8) -> Bool { c == 0x22 || c == 0x27 || c == 0x60 }
@inline(__always) private func folded(_ c: UInt8) -> UInt8 { isUpper(c) ? c | 0x20 : c }
