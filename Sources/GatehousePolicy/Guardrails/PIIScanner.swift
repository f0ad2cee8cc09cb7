/// Finds personal data: email addresses, phone numbers, payment card numbers (Luhn and a known issuer prefix),
/// IBANs (mod 97), US social security numbers, IPv4 and IPv6 addresses, and configured names.
///
/// Threat assumptions: the text is untrusted and may be large or adversarial. The scan is one pass over its UTF-8
/// bytes that looks ahead only at trigger bytes (digits, `+`, `(`, `@`, `:`, hex letters, capitals, the first
/// bytes of names), each look-ahead bounded, so its cost is linear in the text. A finding holds a type and a byte
/// range, never the matched text; nothing is kept between calls.
public struct PIIScanner: TextScanner {
    /// The configured names, lower-cased, longest first.
    let names: [Name]
    /// For each byte value, the indices into `names` of the names a match can start with.
    let namesByFirstByte: [[Int]]
    /// The vector test for the scan's stopping bytes; nil when the names start with too many different bytes.
    let triggers: ByteSearch?

    struct Name: Sendable {
        let text: String
        let bytes: [UInt8]
        let isASCII: Bool
    }

    /// - Parameter names: names to find as whole words, compared after `lowercased()`.
    public init(names: [String] = []) {
        var seen = Set<String>()
        var list: [Name] = []
        for name in names {
            guard let last = name.lastIndex(where: { !$0.isWhitespace }) else { continue }
            let text = String(name[...last].drop(while: \.isWhitespace)).lowercased()
            guard seen.insert(text).inserted else { continue }
            list.append(Name(text: text, bytes: Array(text.utf8), isASCII: text.utf8.allSatisfy { $0 < 0x80 }))
        }
        list.sort { $0.bytes.count > $1.bytes.count }
        var buckets = [[Int]](repeating: [], count: 256)
        for (index, name) in list.enumerated() {
            // A lower-case and an upper-case (or title-case) spelling can start with different bytes.
            let firsts = Set([name.text, name.text.uppercased()].compactMap(\.utf8.first))
            for first in firsts { buckets[Int(first)].append(index) }
        }
        self.names = list
        self.namesByFirstByte = buckets
        // The bytes the scan stops at (see `PIIScan.isTrigger`), and the first bytes of the names.
        let nameFirsts = buckets.indices.filter { !buckets[$0].isEmpty }.map(UInt8.init)
        self.triggers = ByteSearch(Array("(+:@".utf8) + nameFirsts, range: UInt8(ascii: "0")...UInt8(ascii: "9"))
    }

    public func scan(_ text: String) -> [Finding] {
        if let found = text.utf8.withContiguousStorageIfAvailable({ PIIScan.findings(in: $0, scanner: self) }) {
            return found
        }
        return Array(text.utf8).withUnsafeBufferPointer { PIIScan.findings(in: $0, scanner: self) }
    }
}

/// One scan over one text's bytes. The scan stops at trigger bytes (`isTrigger`); each method takes the offset
/// where what it finds would start and returns where the scan resumes, or nil when nothing is there.
private struct PIIScan {
    let b: UnsafeBufferPointer<UInt8>
    let scanner: PIIScanner
    var findings: [Finding] = []

    static func findings(in bytes: UnsafeBufferPointer<UInt8>, scanner: PIIScanner) -> [Finding] {
        var scan = PIIScan(b: bytes, scanner: scanner)
        return scan.run()
    }

    mutating func run() -> [Finding] {
        let nameStarts = scanner.namesByFirstByte
        let search = scanner.triggers
        @inline(__always) func next(_ i: Int) -> Int { search?.firstIndex(in: b, from: i) ?? i }
        var i = next(0)
        while i < b.count {
            let c = b[i]
            var resume: Int? = nil
            if isTrigger(c) {
                let startsWord = i == 0 || !isWord(b[i - 1])
                switch c {
                case UInt8(ascii: "@"): resume = email(i)
                case UInt8(ascii: ":"): resume = ipv6(colon: i)
                case UInt8(ascii: "+"), UInt8(ascii: "("): resume = startsWord ? numbers(i) : nil
                default:  // a digit
                    if startsWord {
                        resume = numbers(i)
                    } else if i >= 2, isUpper(b[i - 1]), isUpper(b[i - 2]) {
                        resume = iban(i - 2)
                    }
                    if resume == nil, !startsWord {
                        // Nothing starts later inside this word (numbers, IBANs and names start words).
                        var end = i + 1
                        while end < b.count, isWord(b[end]) { end += 1 }
                        resume = end
                    }
                }
            } else if !nameStarts[Int(c)].isEmpty, i == 0 || !isWord(b[i - 1]) {
                resume = name(i)
            }
            i = next(max(resume ?? i + 1, i + 1))
        }
        return findings.isEmpty ? [] : resolved()
    }

    /// Digits (numbers, and the check digits of an IBAN), `+` and `(` (phones), `@` (emails) and `:` (IPv6, found
    /// from its first colon). The scan stops only at those, and at the first bytes of configured names.
    @inline(__always) func isTrigger(_ c: UInt8) -> Bool {
        let low: UInt64 = 1 << 0x28 | 1 << 0x2B | 0x07FF << 0x30  // ( + 0-9 :
        return c < 64 ? (low >> UInt64(c)) & 1 != 0 : c == UInt8(ascii: "@")
    }

    // MARK: Email

    /// `local@domain.tld`: at least two domain labels, the last all letters and 2 or more long; a trailing dot
    /// (the end of a sentence) is not part of it.
    mutating func email(_ at: Int) -> Int? {
        var start = at
        while start > 0, at - start < 64, isLocalChar(b[start - 1]) { start -= 1 }
        guard start == 0 || !isLocalChar(b[start - 1]) else { return nil }
        while start < at, b[start] == UInt8(ascii: ".") { start += 1 }
        guard start < at, b[at - 1] != UInt8(ascii: ".") else { return nil }
        var p = at + 1
        var labels = 0
        var lastLabel = p..<p
        while true {
            let label = p
            while p < b.count, p - label < 64, isAlnum(b[p]) || b[p] == UInt8(ascii: "-") { p += 1 }
            guard p > label, b[label] != UInt8(ascii: "-"), b[p - 1] != UInt8(ascii: "-") else { return nil }
            labels += 1
            lastLabel = label..<p
            guard byte(p) == UInt8(ascii: "."), isAlnum(byte(p + 1)) else { break }
            p += 1
        }
        guard !isWord(byte(p)), labels >= 2, lastLabel.count >= 2, lastLabel.allSatisfy({ isLetter(b[$0]) }) else {
            return nil
        }
        return add(.email, start..<p)
    }

    // MARK: Numbers: cards, SSNs, IPv4, phones

    /// Reads a run of digit groups (separated by a single space, dash or dot, or by parentheses) and reports what
    /// it holds, trying at each group a card, an SSN, an IPv4 address, a date (skipped) and a phone, in that order.
    /// Returns the end of the run: its digits are not looked at again.
    mutating func numbers(_ i: Int) -> Int? {
        if i > 0 {
            let p = b[i - 1]
            guard !isWord(p), p != UInt8(ascii: "."), p != UInt8(ascii: "/"), p != UInt8(ascii: "-"),
                p != UInt8(ascii: "+")
            else { return nil }
        }
        let plus = b[i] == UInt8(ascii: "+")
        var p = plus ? i + 1 : i
        var open = !plus && byte(p) == UInt8(ascii: "(")
        if open { p += 1 }
        guard isDigit(byte(p)) else { return nil }
        return withUnsafeTemporaryAllocation(of: DigitGroup.self, capacity: DigitRun.capacity) { groups in
            var count = 0
            var separator: UInt8 = 0
            var end = p
            while count < DigitRun.capacity {
                let start = p
                while p < b.count, isDigit(b[p]) { p += 1 }
                var group = DigitGroup(start: start, end: p, separator: separator, isParenthesized: false)
                end = p
                var q = p
                separator = 0
                if open && byte(q) == UInt8(ascii: ")") {
                    group.isParenthesized = true
                    q += 1
                    end = q
                    separator = DigitGroup.paren
                    if byte(q) == 0x20 || byte(q) == UInt8(ascii: "-") { q += 1 }
                } else if byte(q) == 0x20 || byte(q) == UInt8(ascii: "-") || byte(q) == UInt8(ascii: ".") {
                    separator = byte(q)
                    q += 1
                }
                open = false
                groups.initializeElement(at: count, to: group)
                count += 1
                if byte(q) == UInt8(ascii: "("), separator == 0 || separator == 0x20, isDigit(byte(q + 1)) {
                    open = true
                    q += 1
                    if separator == 0 { separator = DigitGroup.paren }
                }
                guard separator != 0, isDigit(byte(q)) else { break }
                p = q
            }
            // A group run into a letter (`356a19…`, a hex hash) is part of a word, not a number.
            let usable = isWord(byte(end)) ? count - 1 : count
            let run = DigitRun(
                b: b, groups: UnsafeBufferPointer(rebasing: groups[0..<count]), usable: usable, plus: plus)
            var g = 0
            while g < usable {
                if let h = run.card(from: g) {
                    _ = add(.creditCard, run.range(g, h))
                    g = h + 1
                } else if let h = run.ssn(from: g) ?? run.ipv4(from: g) {
                    _ = add(h.type, run.range(g, h.last))
                    g = h.last + 1
                } else if run.isDate(at: g) {
                    g += 3
                } else if let h = run.phone(from: g) {
                    _ = add(.phone, run.range(g, h))
                    g = h + 1
                } else {
                    g += 1
                }
            }
            return end
        }
    }

    // MARK: IBAN

    /// Two capitals, two check digits, then 11–30 capitals or digits, unbroken or in groups of 4 separated by single
    /// spaces; the length is checked for the common countries, and the number mod 97 must be 1. Found from the
    /// first check digit.
    mutating func iban(_ i: Int) -> Int? {
        guard i == 0 || !isWord(b[i - 1]), isDigit(byte(i + 2)), isDigit(byte(i + 3)) else {
            return nil
        }
        let expected = ibanLength(b[i], b[i + 1])
        let maximum = expected ?? 34
        var chars = 4
        var p = i + 4
        let spaced = byte(p) == 0x20
        while chars < maximum {
            if isIBANChar(byte(p)) {
                chars += 1
                p += 1
            } else if spaced, byte(p) == 0x20, chars % 4 == 0, isIBANChar(byte(p + 1)) {
                p += 1
            } else {
                break
            }
        }
        guard chars >= (expected ?? 15), !isWord(byte(p)) else { return nil }
        var remainder = 0
        for j in i + 4..<p where b[j] != 0x20 { remainder = mod97(remainder, b[j]) }
        for j in i..<i + 4 { remainder = mod97(remainder, b[j]) }
        return remainder == 1 ? add(.iban, i..<p) : nil
    }

    func mod97(_ remainder: Int, _ c: UInt8) -> Int {
        isDigit(c) ? (remainder * 10 + Int(c - 0x30)) % 97 : (remainder * 100 + Int(c - 0x41) + 10) % 97
    }

    // MARK: IPv6

    /// Full and `::`-compressed forms (with an IPv4 tail), at least two colons and a decimal digit (so `::` and
    /// `dead::beef` in code are not addresses); a time such as 12:30:45 does not parse. Found from the first
    /// colon: the address starts at most 4 hex digits before it.
    mutating func ipv6(colon: Int) -> Int? {
        var i = colon
        while i > 0, colon - i < 4, isHex(b[i - 1]) { i -= 1 }
        if i > 0 {
            let p = b[i - 1]
            guard !isWord(p), p != UInt8(ascii: ":"), p != UInt8(ascii: ".") else { return nil }
        }
        var end = i
        var colons = 0
        var hasDecimal = false
        while end < b.count, end - i < 64 {
            let c = b[end]
            if c == UInt8(ascii: ":") {
                colons += 1
            } else if isDigit(c) {
                hasDecimal = true
            } else if !isHexLetter(c) && c != UInt8(ascii: ".") {
                break
            }
            end += 1
        }
        guard colons >= 2, hasDecimal, !isWord(byte(end)) else { return nil }
        while end > i, b[end - 1] == UInt8(ascii: ".") { end -= 1 }
        if end - i >= 2, b[end - 1] == UInt8(ascii: ":"), b[end - 2] != UInt8(ascii: ":") { end -= 1 }
        return isIPv6(i..<end) ? add(.ipAddress, i..<end) : nil
    }

    func isIPv6(_ r: Range<Int>) -> Bool {
        let end = r.upperBound
        var p = r.lowerBound
        var groups = 0
        var compressed = false
        if byte(p) == UInt8(ascii: ":") {
            guard p + 1 < end, b[p + 1] == UInt8(ascii: ":") else { return false }
            compressed = true
            p += 2
            if p == end { return true }
        }
        while true {
            let start = p
            while p < end, isHex(b[p]) { p += 1 }
            if p < end, b[p] == UInt8(ascii: ".") {
                guard isIPv4(start..<end) else { return false }
                groups += 2
                break
            }
            guard (1...4).contains(p - start) else { return false }
            groups += 1
            if p == end { break }
            guard b[p] == UInt8(ascii: ":"), p + 1 < end else { return false }
            p += 1
            if b[p] == UInt8(ascii: ":") {
                guard !compressed else { return false }
                compressed = true
                p += 1
                if p == end { break }
            }
        }
        return compressed ? groups <= 7 : groups == 8
    }

    func isIPv4(_ r: Range<Int>) -> Bool {
        var p = r.lowerBound
        for part in 0..<4 {
            let start = p
            var value = 0
            while p < r.upperBound, isDigit(b[p]), p - start < 3 {
                value = value * 10 + Int(b[p] - 0x30)
                p += 1
            }
            guard p > start, value <= 255, p - start == 1 || b[start] != 0x30 else { return false }
            if part < 3 {
                guard p < r.upperBound, b[p] == UInt8(ascii: ".") else { return false }
                p += 1
            }
        }
        return p == r.upperBound
    }

    // MARK: Names

    /// A configured name as a whole word (the scalars either side are not letters or digits).
    mutating func name(_ i: Int) -> Int? {
        guard !isWordScalar(endingAt: i) else { return nil }
        for index in scanner.namesByFirstByte[Int(b[i])] {
            let name = scanner.names[index]
            let n = name.bytes.count
            guard i + n <= b.count else { continue }
            let matches: Bool
            if name.isASCII {
                matches = name.bytes.withUnsafeBufferPointer { bytes in
                    (0..<n).allSatisfy { folded(b[i + $0]) == bytes[$0] }
                }
            } else {
                matches =
                    String(decoding: UnsafeBufferPointer(rebasing: b[i..<i + n]), as: UTF8.self).lowercased()
                    == name.text
            }
            if matches && !isWordScalar(startingAt: i + n) { return add(.name, i..<i + n) }
        }
        return nil
    }

    func isWordScalar(endingAt i: Int) -> Bool {
        guard i > 0 else { return false }
        if b[i - 1] < 0x80 { return isAlnum(b[i - 1]) }
        var start = i - 1
        while start > 0, i - start < 4, b[start] & 0xC0 == 0x80 { start -= 1 }
        return isWordScalar(startingAt: start)
    }

    func isWordScalar(startingAt i: Int) -> Bool {
        guard i < b.count else { return false }
        let c = b[i]
        if c < 0x80 { return isAlnum(c) }
        let length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0
        guard length > 0, i + length <= b.count else { return false }
        var value = UInt32(c) & (0x7F >> UInt32(length))
        for k in 1..<length { value = value << 6 | UInt32(b[i + k] & 0x3F) }
        guard let scalar = Unicode.Scalar(value) else { return false }
        return scalar.properties.isAlphabetic || scalar.properties.numericType != nil
    }

    // MARK: Overlaps

    /// By position; of overlapping findings, the longer.
    func resolved() -> [Finding] {
        let sorted = findings.sorted {
            $0.range.lowerBound != $1.range.lowerBound
                ? $0.range.lowerBound < $1.range.lowerBound : $0.range.count > $1.range.count
        }
        var kept: [Finding] = []
        kept.reserveCapacity(sorted.count)
        for finding in sorted {
            if let last = kept.last, last.range.overlaps(finding.range) {
                if finding.range.count > last.range.count { kept[kept.count - 1] = finding }
            } else {
                kept.append(finding)
            }
        }
        return kept
    }

    @inline(__always) func byte(_ i: Int) -> UInt8 { i < b.count ? b[i] : 0 }

    mutating func add(_ type: FindingType, _ range: Range<Int>) -> Int {
        findings.append(Finding(type, range))
        return range.upperBound
    }
}

/// A run of digits inside a number, and what separated it from the one before.
private struct DigitGroup {
    /// The separator of a group after a parenthesized one, or of a group opened with `(` with nothing before it.
    static let paren = UInt8(ascii: "p")

    var start: Int
    var end: Int
    /// 0 for the first group, else a space, `-`, `.` or `paren`.
    var separator: UInt8
    var isParenthesized: Bool
    var count: Int { end - start }
}

/// The digit groups of one number-like run of text, and the rules for what they can be.
private struct DigitRun {
    static let capacity = 12

    let b: UnsafeBufferPointer<UInt8>
    let groups: UnsafeBufferPointer<DigitGroup>
    /// Groups from here on run into a word and are not used.
    let usable: Int
    /// The run starts with `+` (an international phone number, and nothing else).
    let plus: Bool

    /// The text of groups `g...h`, with the `+` and parentheses around them.
    func range(_ g: Int, _ h: Int) -> Range<Int> {
        var start = groups[g].start
        if groups[g].isParenthesized { start -= 1 }
        if g == 0 && plus { start -= 1 }
        return start..<(groups[h].end + (groups[h].isParenthesized ? 1 : 0))
    }

    func digits(_ g: Int, _ h: Int) -> Int { (g...h).reduce(0) { $0 + groups[$1].count } }

    /// Whether a finding can start at group `g`: not after a dot (the middle of a version or an address), and
    /// not at a `+` unless it is a phone.
    func canStart(_ g: Int) -> Bool { g == 0 ? !plus : groups[g].separator != UInt8(ascii: ".") }

    /// Whether the groups `from...through` (none if `from > through`) share one allowed separator.
    func sameSeparator(from g: Int, through h: Int, in allowed: (UInt8) -> Bool) -> Bool {
        guard g <= h else { return true }
        let first = groups[g].separator
        return allowed(first) && (g...h).allSatisfy { groups[$0].separator == first }
    }

    /// 13–19 digits, unbroken or grouped by one kind of separator (space or dash), Luhn-valid, a known issuer.
    func card(from g: Int) -> Int? {
        guard canStart(g) else { return nil }
        for h in stride(from: min(usable - 1, g + 9), through: g, by: -1) {
            guard (13...19).contains(digits(g, h)), (g...h).allSatisfy({ !groups[$0].isParenthesized }),
                sameSeparator(from: g + 1, through: h, in: { $0 == 0x20 || $0 == UInt8(ascii: "-") })
            else { continue }
            if isLuhnValid(g, h) && hasKnownIssuer(g) { return h }
        }
        return nil
    }

    func isLuhnValid(_ g: Int, _ h: Int) -> Bool {
        var sum = 0
        var doubled = false
        for k in stride(from: h, through: g, by: -1) {
            for j in stride(from: groups[k].end - 1, through: groups[k].start, by: -1) {
                var d = Int(b[j] - 0x30)
                if doubled { d = d * 2 > 9 ? d * 2 - 9 : d * 2 }
                sum += d
                doubled.toggle()
            }
        }
        return sum % 10 == 0
    }

    /// Visa 4, Mastercard 51–55 and 2221–2720, Amex 34/37, Discover 6011/65, JCB 35, Diners 30/36/38.
    func hasKnownIssuer(_ g: Int) -> Bool {
        var prefix = 0
        var n = 0
        outer: for k in g..<usable {
            for j in groups[k].start..<groups[k].end {
                prefix = prefix * 10 + Int(b[j] - 0x30)
                n += 1
                if n == 4 { break outer }
            }
        }
        let two = prefix / 100
        return prefix / 1000 == 4 || (51...55).contains(two) || (2221...2720).contains(prefix)
            || [34, 37, 65, 35, 30, 36, 38].contains(two) || prefix == 6011
    }

    /// `NNN-NN-NNNN` with dashes and nothing more dashed on either side; area not 000, 666 or 9xx, group not 00,
    /// serial not 0000.
    func ssn(from g: Int) -> (type: FindingType, last: Int)? {
        let dash = UInt8(ascii: "-")
        guard canStart(g), g + 2 < usable, groups[g].count == 3, groups[g + 1].count == 2, groups[g + 2].count == 4,
            groups[g + 1].separator == dash, groups[g + 2].separator == dash, groups[g].separator != dash,
            g + 3 >= groups.count || groups[g + 3].separator != dash, !groups[g].isParenthesized
        else { return nil }
        let area = value(g)
        guard area != 0, area != 666, area < 900, value(g + 1) != 0, value(g + 2) != 0 else { return nil }
        return (.usSSN, g + 2)
    }

    /// Four dotted parts 0–255, not part of a longer dotted run (`1.2.3.4.5`).
    func ipv4(from g: Int) -> (type: FindingType, last: Int)? {
        let dot = UInt8(ascii: ".")
        guard canStart(g), g + 3 < usable, g + 4 >= groups.count || groups[g + 4].separator != dot,
            (g + 1...g + 3).allSatisfy({ groups[$0].separator == dot })
        else { return nil }
        for k in g...g + 3 {
            let count = groups[k].count
            guard count <= 3, value(k) <= 255, count == 1 || b[groups[k].start] != 0x30 else { return nil }
        }
        return (.ipAddress, g + 3)
    }

    /// `2024-01-15`, `15.01.2024`: skipped, so its digits do not start a phone number.
    func isDate(at g: Int) -> Bool {
        guard g + 2 < groups.count, canStart(g),
            sameSeparator(from: g + 1, through: g + 2, in: { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") })
        else { return false }
        let (a, m, c) = (groups[g].count, groups[g + 1].count, groups[g + 2].count)
        return (a == 4 && m <= 2 && c <= 2) || (a <= 2 && m <= 2 && c == 4)
    }

    /// `+CC` and 7–14 more digits (8–15 in all) in any grouping; or a national number of 10–11 digits in 2–5
    /// groups. Of the ways to end it, the longest whose last group has 3 or more digits is preferred.
    func phone(from g: Int) -> Int? {
        if g == 0 && plus {
            for pass in 0..<2 {
                for h in stride(from: min(usable - 1, 7), through: 0, by: -1) {
                    guard (8...15).contains(digits(0, h)), h == 0 || groups[0].count <= 3,
                        pass == 1 || h == 0 || groups[h].count >= 3
                    else { continue }
                    return h
                }
            }
            return nil
        }
        guard canStart(g) else { return nil }
        for h in stride(from: min(usable - 1, g + 4), through: g + 1, by: -1) where isNationalPhone(g, h) {
            return h
        }
        return nil
    }

    /// `(415) 555-0100`, `415-555-0100`, `415.555.0100`, `020 7946 0958`, `01 23 45 67 89`: one kind of separator
    /// (after an optional parenthesized area code), the last group 4 or more digits (or five pairs from a 0).
    func isNationalPhone(_ g: Int, _ h: Int) -> Bool {
        guard (10...11).contains(digits(g, h)), (g...h).allSatisfy({ groups[$0].count <= 8 }),
            (g + 1...h).allSatisfy({ !groups[$0].isParenthesized })
        else { return false }
        let parenthesized = groups[g].isParenthesized
        if parenthesized && !(2...5).contains(groups[g].count) { return false }
        let rest = parenthesized ? g + 2 : g + 1
        guard
            sameSeparator(
                from: rest, through: h, in: { $0 == 0x20 || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") })
        else { return false }
        if rest <= h && groups[rest].separator == UInt8(ascii: ".") {
            guard !parenthesized, h == g + 2, groups[g].count == 3, groups[g + 1].count == 3, groups[h].count == 4
            else { return false }
        }
        if groups[h].count >= 4 { return true }
        return h == g + 4 && (g...h).allSatisfy({ groups[$0].count == 2 }) && b[groups[g].start] == 0x30
    }

    func value(_ k: Int) -> Int {
        (groups[k].start..<groups[k].end).reduce(0) { $0 * 10 + Int(b[$1] - 0x30) }
    }
}

/// IBAN lengths for common countries; others are taken at 15–34.
private func ibanLength(_ a: UInt8, _ b: UInt8) -> Int? {
    switch (a, b) {
    case (0x4E, 0x4F): return 15  // NO
    case (0x42, 0x45): return 16  // BE
    case (0x44, 0x4B), (0x46, 0x49), (0x4E, 0x4C): return 18  // DK FI NL
    case (0x41, 0x54), (0x4C, 0x55): return 20  // AT LU
    case (0x43, 0x48), (0x4C, 0x49): return 21  // CH LI
    case (0x44, 0x45), (0x47, 0x42), (0x49, 0x45): return 22  // DE GB IE
    case (0x45, 0x53), (0x53, 0x45), (0x43, 0x5A), (0x53, 0x4B): return 24  // ES SE CZ SK
    case (0x50, 0x54): return 25  // PT
    case (0x46, 0x52), (0x49, 0x54), (0x4D, 0x43), (0x47, 0x52): return 27  // FR IT MC GR (GR is 27)
    case (0x50, 0x4C), (0x48, 0x55): return 28  // PL HU
    default: return nil
    }
}

@inline(__always) private func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }
@inline(__always) private func isUpper(_ c: UInt8) -> Bool { c &- 0x41 < 26 }
@inline(__always) private func isLetter(_ c: UInt8) -> Bool { (c | 0x20) &- 0x61 < 26 }
@inline(__always) private func isAlnum(_ c: UInt8) -> Bool { isDigit(c) || isLetter(c) }
@inline(__always) private func isWord(_ c: UInt8) -> Bool { isAlnum(c) || c == 0x5F }
@inline(__always) private func isHexLetter(_ c: UInt8) -> Bool { (c | 0x20) &- 0x61 < 6 }
@inline(__always) private func isHex(_ c: UInt8) -> Bool { isDigit(c) || isHexLetter(c) }
@inline(__always) private func isIBANChar(_ c: UInt8) -> Bool { isDigit(c) || isUpper(c) }
@inline(__always) private func folded(_ c: UInt8) -> UInt8 { isUpper(c) ? c | 0x20 : c }
/// `[A-Za-z0-9._%+-]`
@inline(__always) private func isLocalChar(_ c: UInt8) -> Bool {
    isAlnum(c) || c == 0x2E || c == 0x5F || c == 0x25 || c == 0x2B || c == 0x2D
}
