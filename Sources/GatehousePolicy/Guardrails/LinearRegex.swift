/// A regular expression that runs in time linear in the text: a Thompson NFA simulated as a Pike VM over Unicode
/// scalars, reporting UTF-8 byte offsets. No Foundation, no ICU.
///
/// Threat assumptions: patterns come from operators' configuration, texts from anyone. Whatever the pattern, finding a
/// match costs O(program × text): there is no backtracking, so `(a+)+$` cannot blow up. What would need backtracking
/// (backreferences, lookaround, atomic groups, possessive quantifiers) is refused when the pattern is compiled, and so
/// is a program over `maximumProgramSize` instructions (counted repetition multiplies its body).
///
/// Semantics:
/// - Leftmost-first, as in Perl, RE2 and Rust's regex: the leftmost match wins, and among the matches starting there
///   the one a backtracking engine would report (alternatives in order, greedy quantifiers as long as they can).
///   Lazy quantifiers (`*?` `+?` `??` `{n,m}?`) are honoured, not treated as greedy: a Pike VM gets them by preferring
///   the other branch of a split.
/// - `matches(in:)` reports non-overlapping matches left to right; after an empty match it moves one scalar on. Each
///   search is linear; a pattern whose preferred branch reads far past every short match can make the full list
///   O(program × text²) in the worst case, as in RE2 and Rust's regex.
/// - `.` is any scalar except `\n`; `^` and `$` (and `\A`, `\z`) are the start and end of the whole text.
/// - `\d` `\w` `\s` and `\b` are ASCII: `[0-9]`, `[A-Za-z0-9_]`, `[\t\n\v\f\r ]`; a non-ASCII letter is not a word
///   character for `\b`.
/// - Case-insensitive matching adds each scalar's simple case mappings (lower, upper, title) to literals and classes;
///   a class range with more than 4,096 non-ASCII scalars keeps its non-ASCII part as written.
/// - Groups only group: there are no captures, so `(?<name>…)` is accepted and its name ignored.
public struct LinearRegex: Sendable {
    /// Why a pattern was refused, with where (a scalar offset into the pattern).
    public struct PatternError: Error, Sendable, Equatable, CustomStringConvertible {
        fileprivate enum Code: String {
            case backreference, lookaround
            case atomicGroup = "atomic_group"
            case possessive
            case unsupportedGroup = "unsupported_group"
            case unbalancedParenthesis = "unbalanced_parenthesis"
            case unclosedClass = "unclosed_class"
            case invalidRange = "invalid_range"
            case invalidEscape = "invalid_escape"
            case nothingToRepeat = "nothing_to_repeat"
            case repetitionTooLarge = "repetition_too_large"
            case programTooLarge = "program_too_large"
        }
        private let kind: Code
        /// A stable short code, safe as a metric label (`backreference`, `program_too_large`, …).
        public var code: String { kind.rawValue }
        /// What is wrong and why, for the operator who wrote the pattern.
        public let message: String
        /// The scalar offset in the pattern where the problem is.
        public let offset: Int

        fileprivate init(_ kind: Code, _ message: String, at offset: Int) {
            self.kind = kind
            self.message = message
            self.offset = offset
        }

        public var description: String { message }
    }

    /// The most instructions a compiled pattern may have; beyond it the program is refused, not slowed down.
    public static let maximumProgramSize = 10_000
    /// The largest count in `{n}`, `{n,}` or `{n,m}`.
    public static let maximumRepetition = 1_000

    public let pattern: String
    public let isCaseInsensitive: Bool
    private let program: Program

    public init(_ pattern: String, caseInsensitive: Bool = false) throws(PatternError) {
        var parser = Parser(pattern, caseInsensitive: caseInsensitive)
        let tree = try parser.parse()
        let size = tree.programSize
        guard size < Self.maximumProgramSize else {
            throw PatternError(
                .programTooLarge,
                "pattern compiles to more than \(Self.maximumProgramSize) instructions "
                    + "(counted repetition copies its body: (a{1000}){1000} would be a million); use smaller counts",
                at: 0)
        }
        self.pattern = pattern
        self.isCaseInsensitive = caseInsensitive
        self.program = Program(tree)
    }

    /// Every non-overlapping match, left to right, as UTF-8 byte ranges.
    public func matches(in text: String) -> [Range<Int>] {
        var text = text
        return text.withUTF8 { bytes in
            guard program.mayMatch(bytes) else { return [] }
            return program.withScratch { vm in
                var found: [Range<Int>] = []
                var position = 0
                while position <= bytes.count, let match = vm.search(bytes, from: position) {
                    found.append(match)
                    guard match.isEmpty else {
                        position = match.upperBound
                        continue
                    }
                    guard match.upperBound < bytes.count else { break }
                    position = match.upperBound + scalarLength(bytes[match.upperBound])
                }
                return found
            }
        }
    }

    /// The leftmost match, as a UTF-8 byte range.
    public func firstMatch(in text: String) -> Range<Int>? {
        var text = text
        return text.withUTF8 { bytes in
            guard program.mayMatch(bytes) else { return nil }
            return program.withScratch { vm in vm.search(bytes, from: 0) }
        }
    }
}

/// A scanner that reports every non-empty match of one operator-configured pattern as a `.regex` finding.
public struct RegexScanner: TextScanner {
    /// The operator's name for the pattern (for configuration and explanations; findings carry only `.regex`).
    public let name: String
    public let regex: LinearRegex

    public init(name: String, regex: LinearRegex) {
        self.name = name
        self.regex = regex
    }

    public init(name: String, pattern: String, caseInsensitive: Bool = false) throws(LinearRegex.PatternError) {
        self.init(name: name, regex: try LinearRegex(pattern, caseInsensitive: caseInsensitive))
    }

    public func scan(_ text: String) -> [Finding] {
        regex.matches(in: text).compactMap { $0.isEmpty ? nil : Finding(.regex, $0) }
    }
}

// MARK: - Syntax tree

private typealias PatternError = LinearRegex.PatternError

private enum Assertion: Int32 { case start, end, wordBoundary, notWordBoundary }

private indirect enum Node {
    case empty
    case scalar(UInt32)
    case set(ScalarSet)
    case assertion(Assertion)
    case concatenation([Node])
    case alternation([Node])
    case repetition(Node, min: Int, max: Int?, isGreedy: Bool)

    /// The number of instructions `Program` emits for this node, saturating past the limit.
    var programSize: Int {
        let limit = LinearRegex.maximumProgramSize + 1
        func add(_ a: Int, _ b: Int) -> Int { Swift.min(limit, a + b) }
        func times(_ a: Int, _ b: Int) -> Int {
            let (product, overflow) = a.multipliedReportingOverflow(by: b)
            return overflow ? limit : Swift.min(limit, product)
        }
        switch self {
        case .empty: return 0
        case .scalar, .set, .assertion: return 1
        case .concatenation(let items): return items.reduce(0) { add($0, $1.programSize) }
        case .alternation(let branches): return branches.reduce(2 * (branches.count - 1)) { add($0, $1.programSize) }
        case .repetition(let body, let min, let max, _):
            let size = body.programSize
            guard let max else { return min == 0 ? add(size, 2) : add(times(size, min), 1) }
            return add(times(size, min), times(add(size, 1), max - min))
        }
    }
}

// MARK: - Parser

private struct Parser {
    private let scalars: [Unicode.Scalar]
    private let caseInsensitive: Bool
    private var i = 0
    private var depth = 0
    private static let maximumDepth = 200

    init(_ pattern: String, caseInsensitive: Bool) {
        self.scalars = Array(pattern.unicodeScalars)
        self.caseInsensitive = caseInsensitive
    }

    private var peek: Unicode.Scalar? { i < scalars.count ? scalars[i] : nil }
    private func peek(_ offset: Int) -> Unicode.Scalar? { i + offset < scalars.count ? scalars[i + offset] : nil }

    mutating func parse() throws(PatternError) -> Node {
        let tree = try alternation()
        if i < scalars.count { throw PatternError(.unbalancedParenthesis, "unbalanced parenthesis at \(i)", at: i) }
        return tree
    }

    private mutating func alternation() throws(PatternError) -> Node {
        var branches = [try concatenation()]
        while peek == "|" {
            i += 1
            branches.append(try concatenation())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func concatenation() throws(PatternError) -> Node {
        var items: [Node] = []
        while let c = peek, c != "|", c != ")" {
            items.append(try quantified(try atom()))
        }
        return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concatenation(items)
    }

    private mutating func quantified(_ atom: Node) throws(PatternError) -> Node {
        var node = atom
        var quantifiers = 0
        while let c = peek {
            let start = i
            let min: Int
            let max: Int?
            switch c {
            case "*": (min, max, i) = (0, nil, i + 1)
            case "+": (min, max, i) = (1, nil, i + 1)
            case "?": (min, max, i) = (0, 1, i + 1)
            case "{":
                guard let counted = counted(at: i) else { return node }
                (min, max, i) = (counted.min, counted.max, counted.end)
                let largest = Swift.max(min, max ?? 0)
                if largest > LinearRegex.maximumRepetition {
                    throw PatternError(
                        .repetitionTooLarge,
                        "counted repetition over \(LinearRegex.maximumRepetition) at \(start): "
                            + "the program would copy its body that many times", at: start)
                }
                if let max, max < min {
                    throw PatternError(
                        .repetitionTooLarge, "repetition {\(min),\(max)} at \(start) has max < min", at: start)
                }
            default: return node
            }
            if quantifiers > 0 {
                throw PatternError(.nothingToRepeat, "a quantifier at \(start) follows another quantifier", at: start)
            }
            quantifiers += 1
            var isGreedy = true
            if peek == "?" {
                isGreedy = false
                i += 1
            } else if peek == "+" {
                throw PatternError(
                    .possessive, "possessive quantifiers are not supported (at \(i)): they need backtracking control",
                    at: i)
            }
            node = .repetition(node, min: min, max: max, isGreedy: isGreedy)
        }
        return node
    }

    /// `{n}`, `{n,}` or `{n,m}` at `start`, or nil when the brace is a literal.
    private func counted(at start: Int) -> (min: Int, max: Int?, end: Int)? {
        var j = start + 1
        func number() -> Int? {
            var value: Int?
            while j < scalars.count, (48...57).contains(scalars[j].value) {
                value = Swift.min(1_000_000, (value ?? 0) * 10 + Int(scalars[j].value - 48))
                j += 1
            }
            return value
        }
        guard let min = number() else { return nil }
        var max: Int? = min
        if j < scalars.count, scalars[j] == "," {
            j += 1
            max = number()
        }
        guard j < scalars.count, scalars[j] == "}" else { return nil }
        return (min, max, j + 1)
    }

    private mutating func atom() throws(PatternError) -> Node {
        let start = i
        let c = scalars[i]
        i += 1
        switch c {
        case "(": return try group(openedAt: start)
        case "[": return try characterClass(openedAt: start)
        case ".": return .set(ScalarSet(complement([10...10])))
        case "^": return .assertion(.start)
        case "$": return .assertion(.end)
        case "\\": return try escape(at: start)
        case "*", "+", "?":
            throw PatternError(.nothingToRepeat, "nothing to repeat at \(start)", at: start)
        case "{" where counted(at: start) != nil:
            throw PatternError(.nothingToRepeat, "nothing to repeat at \(start)", at: start)
        default: return literal(c.value)
        }
    }

    private mutating func group(openedAt start: Int) throws(PatternError) -> Node {
        if peek == "?" {
            let why = "at \(start): it cannot run in a single linear pass"
            switch (peek(1), peek(2)) {
            case (":", _): i += 2
            case ("=", _), ("!", _): throw PatternError(.lookaround, "lookahead is not supported \(why)", at: start)
            case ("<", "="), ("<", "!"):
                throw PatternError(.lookaround, "lookbehind is not supported \(why)", at: start)
            case (">", _): throw PatternError(.atomicGroup, "atomic groups are not supported \(why)", at: start)
            case ("<", _):
                i += 2
                let nameStart = i
                while let c = peek, c.properties.isAlphabetic || c == "_" || ("0"..."9").contains(c), c.isASCII {
                    i += 1
                }
                guard i > nameStart, peek == ">" else {
                    throw PatternError(.unsupportedGroup, "invalid group name at \(start); write (?<name>…)", at: start)
                }
                i += 1
            case ("P", _), ("'", _):
                throw PatternError(
                    .unsupportedGroup, "named groups are written (?<name>…); the form at \(start) is not supported",
                    at: start)
            default:
                throw PatternError(
                    .unsupportedGroup,
                    "inline flags and other (?…) groups are not supported (at \(start)); use caseInsensitive: true",
                    at: start)
            }
        }
        depth += 1
        guard depth <= Self.maximumDepth else {
            throw PatternError(
                .programTooLarge, "groups nested deeper than \(Self.maximumDepth) at \(start)", at: start)
        }
        let inner = try alternation()
        depth -= 1
        guard peek == ")" else {
            throw PatternError(.unbalancedParenthesis, "unbalanced parenthesis at \(start)", at: start)
        }
        i += 1
        return inner
    }

    private mutating func escape(at start: Int) throws(PatternError) -> Node {
        guard let c = peek else { throw PatternError(.invalidEscape, "trailing backslash at \(start)", at: start) }
        switch c {
        case "b":
            i += 1
            return .assertion(.wordBoundary)
        case "B":
            i += 1
            return .assertion(.notWordBoundary)
        case "A":
            i += 1
            return .assertion(.start)
        case "z":
            i += 1
            return .assertion(.end)
        default:
            switch try classEscape(at: start) {
            case .scalar(let value): return literal(value)
            case .ranges(let ranges): return .set(ScalarSet(ranges))
            }
        }
    }

    private enum Escaped {
        case scalar(UInt32)
        case ranges([ClosedRange<UInt32>])
    }

    /// An escape that means the same inside and outside a class (`i` is just after the backslash).
    private mutating func classEscape(at start: Int) throws(PatternError) -> Escaped {
        guard let c = peek else { throw PatternError(.invalidEscape, "trailing backslash at \(start)", at: start) }
        i += 1
        switch c {
        case "d": return .ranges(Self.digit)
        case "D": return .ranges(complement(Self.digit))
        case "w": return .ranges(Self.word)
        case "W": return .ranges(complement(Self.word))
        case "s": return .ranges(Self.space)
        case "S": return .ranges(complement(Self.space))
        case "n": return .scalar(10)
        case "t": return .scalar(9)
        case "r": return .scalar(13)
        case "f": return .scalar(12)
        case "v": return .scalar(11)
        case "x", "u": return .scalar(try hexEscape(c, at: start))
        case "1"..."9", "k", "g":
            throw PatternError(
                .backreference, "backreferences are not supported (at \(start)): they cannot run in linear time",
                at: start)
        case "p", "P":
            throw PatternError(
                .invalidEscape, "Unicode property classes like \\p{…} are not supported (at \(start))", at: start)
        default:
            if c.isASCII, c.properties.isAlphabetic || ("0"..."9").contains(c) {
                throw PatternError(.invalidEscape, "unknown escape \\\(c) at \(start)", at: start)
            }
            return .scalar(c.value)
        }
    }

    /// `\xHH`, `\x{H…}` or `\uHHHH`.
    private mutating func hexEscape(_ kind: Unicode.Scalar, at start: Int) throws(PatternError) -> UInt32 {
        let braced = kind == "x" && peek == "{"
        if braced { i += 1 }
        var value: UInt32 = 0
        var digits = 0
        while let c = peek, let digit = c.isASCII ? UInt32(String(c), radix: 16) : nil,
            braced || digits < (kind == "x" ? 2 : 4)
        {
            value = value &* 16 &+ digit
            digits += 1
            i += 1
            if digits > 6 { break }
        }
        if braced {
            guard peek == "}" else { throw PatternError(.invalidEscape, "unclosed \\x{…} at \(start)", at: start) }
            i += 1
        }
        let expected = braced ? (1...6) : kind == "x" ? (2...2) : (4...4)
        guard expected.contains(digits), Unicode.Scalar(value) != nil else {
            throw PatternError(.invalidEscape, "invalid hexadecimal escape at \(start)", at: start)
        }
        return value
    }

    private mutating func characterClass(openedAt start: Int) throws(PatternError) -> Node {
        var negated = false
        if peek == "^" {
            negated = true
            i += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard let c = peek else {
                throw PatternError(.unclosedClass, "unclosed character class at \(start)", at: start)
            }
            if c == "]" && !first { break }
            first = false
            if c == "[" && peek(1) == ":" {
                throw PatternError(.invalidEscape, "POSIX classes like [:alpha:] are not supported (at \(i))", at: i)
            }
            let itemStart = i
            guard let low = try classMember(allowingSets: &ranges) else { continue }
            if peek == "-", let next = peek(1), next != "]" {
                i += 1
                var ignored: [ClosedRange<UInt32>] = []
                guard let high = try classMember(allowingSets: &ignored), ignored.isEmpty, low <= high else {
                    throw PatternError(.invalidRange, "invalid range in character class at \(itemStart)", at: itemStart)
                }
                ranges.append(low...high)
            } else {
                ranges.append(low...low)
            }
        }
        i += 1
        var set = normalized(ranges)
        if caseInsensitive { set = caseFolded(set) }
        return .set(ScalarSet(negated ? complement(set) : set))
    }

    /// One scalar of a class, or nil after adding an escaped set such as `\d` to `ranges`.
    private mutating func classMember(allowingSets ranges: inout [ClosedRange<UInt32>]) throws(PatternError) -> UInt32?
    {
        let start = i
        let c = scalars[i]
        i += 1
        guard c == "\\" else { return c.value }
        if peek == "b" || peek == "B" {
            throw PatternError(
                .invalidEscape, "\\b is a word boundary and cannot be in a class (at \(start))", at: start)
        }
        switch try classEscape(at: start) {
        case .scalar(let value): return value
        case .ranges(let set):
            ranges += set
            return nil
        }
    }

    private func literal(_ value: UInt32) -> Node {
        guard caseInsensitive else { return .scalar(value) }
        let variants = caseVariants(of: value)
        return variants.isEmpty ? .scalar(value) : .set(ScalarSet(([value] + variants).map { $0...$0 }))
    }

    private static let digit: [ClosedRange<UInt32>] = [48...57]
    private static let word: [ClosedRange<UInt32>] = [48...57, 65...90, 95...95, 97...122]
    private static let space: [ClosedRange<UInt32>] = [9...13, 32...32]
}

// MARK: - Scalar sets

/// A set of scalars: a bitmap for ASCII, sorted disjoint ranges above.
private struct ScalarSet: Sendable {
    private var low: UInt64 = 0
    private var high: UInt64 = 0
    private var ranges: [ClosedRange<UInt32>] = []

    init(_ input: [ClosedRange<UInt32>]) {
        for range in normalized(input) {
            for c in range.lowerBound..<Swift.max(range.lowerBound, Swift.min(range.upperBound + 1, 128)) {
                if c < 64 { low |= 1 << UInt64(c) } else { high |= 1 << UInt64(c - 64) }
            }
            if range.upperBound >= 128 { ranges.append(Swift.max(range.lowerBound, 128)...range.upperBound) }
        }
    }

    var hasNonASCII: Bool { !ranges.isEmpty }

    @inline(__always) func contains(_ c: UInt32) -> Bool {
        if c < 64 { return low >> UInt64(c) & 1 != 0 }
        if c < 128 { return high >> UInt64(c - 64) & 1 != 0 }
        var lo = 0
        var hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound < c {
                lo = mid + 1
            } else if ranges[mid].lowerBound > c {
                hi = mid
            } else {
                return true
            }
        }
        return false
    }

    /// Marks the UTF-8 lead bytes the members can start with.
    func addLeadBytes(to bytes: inout [Bool]) {
        for c in 0..<128 where contains(UInt32(c)) { bytes[c] = true }
        for range in ranges {
            for b in leadByte(range.lowerBound)...leadByte(range.upperBound) { bytes[Int(b)] = true }
        }
    }
}

private func normalized(_ input: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
    var merged: [ClosedRange<UInt32>] = []
    for range in input.sorted(by: { $0.lowerBound < $1.lowerBound }) {
        if let last = merged.last, range.lowerBound <= last.upperBound &+ 1 {
            merged[merged.count - 1] = last.lowerBound...Swift.max(last.upperBound, range.upperBound)
        } else {
            merged.append(range)
        }
    }
    return merged
}

private func complement(_ input: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
    var result: [ClosedRange<UInt32>] = []
    var next: UInt32 = 0
    for range in normalized(input) {
        if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
        next = range.upperBound + 1
    }
    if next <= 0x10FFFF { result.append(next...0x10FFFF) }
    return result
}

/// The other scalars a scalar's simple case mappings give (for `A`: `a`; for `ǅ`: `Ǆ` and `ǆ`).
private func caseVariants(of value: UInt32) -> [UInt32] {
    if value < 128 {
        switch value {
        case 65...90: return [value + 32]
        case 97...122: return [value - 32]
        default: return []
        }
    }
    guard let scalar = Unicode.Scalar(value) else { return [] }
    let properties = scalar.properties
    var variants: [UInt32] = []
    for mapping in [properties.lowercaseMapping, properties.uppercaseMapping, properties.titlecaseMapping] {
        let mapped = mapping.unicodeScalars
        if mapped.count == 1, let only = mapped.first, only != scalar, !variants.contains(only.value) {
            variants.append(only.value)
        }
    }
    return variants
}

private func caseFolded(_ set: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
    var extra: [ClosedRange<UInt32>] = []
    var budget = 4_096
    for range in set {
        for c in range.lowerBound..<Swift.max(range.lowerBound, Swift.min(range.upperBound + 1, 128)) {
            extra += caseVariants(of: c).map { $0...$0 }
        }
        guard range.upperBound >= 128 else { continue }
        let wide = Swift.max(range.lowerBound, 128)...range.upperBound
        guard wide.count <= budget else { continue }
        budget -= wide.count
        for c in wide { extra += caseVariants(of: c).map { $0...$0 } }
    }
    return normalized(set + extra)
}

@inline(__always) private func leadByte(_ c: UInt32) -> UInt8 {
    if c < 0x80 { return UInt8(c) }
    if c < 0x800 { return UInt8(0xC0 | c >> 6) }
    if c < 0x10000 { return UInt8(0xE0 | c >> 12) }
    return UInt8(0xF0 | c >> 18)
}

@inline(__always) private func scalarLength(_ lead: UInt8) -> Int {
    lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
}

@inline(__always) private func isWordByte(_ b: UInt8) -> Bool {
    (b >= 48 && b <= 57) || (b | 0x20 >= 97 && b | 0x20 <= 122) || b == 95
}

// MARK: - Program and Pike VM

private enum Op: UInt8 { case scalar, set, split, jump, assertion, match }

private struct Inst: Sendable {
    var op: Op
    /// The scalar, set index, assertion, jump target, or a split's preferred target.
    var a: Int32
    /// A split's other target.
    var b: Int32 = 0
}

private struct Program: Sendable {
    private(set) var insts: [Inst] = []
    private(set) var sets: [ScalarSet] = []
    /// The lead bytes a match can start with, or nil when a match can be empty (so no byte can be skipped).
    private(set) var firstBytes: [Bool]?
    private(set) var isAnchored = false
    /// The bytes every match starts with, as pairs of alternatives (a byte twice, or both cases of a letter): when no
    /// thread is alive the VM jumps to where they occur.
    private(set) var prefix: [(UInt8, UInt8)] = []
    /// Bytes of which every match contains at least one (such as `@` for an e-mail pattern): a text with none of them
    /// cannot match, which one pass over its bytes shows.
    private(set) var requiredBytes: [UInt8] = []
    /// The prefix's first byte (both alternatives) as a vector test.
    private var prefixSearch: ByteSearch?

    init(_ tree: Node) {
        emit(tree)
        insts.append(Inst(op: .match, a: 0))
        isAnchored = insts.first.map { $0.op == .assertion && $0.a == Assertion.start.rawValue } ?? false
        firstBytes = computeFirstBytes()
        prefix = computePrefix()
        prefixSearch = prefix.first.flatMap { ByteSearch([$0.0, $0.1]) }
        if prefix.isEmpty { requiredBytes = computeRequiredBytes() }
    }

    /// The ASCII bytes a set holds when it holds only ASCII and at most two of them, lowest first.
    private func smallASCII(_ set: ScalarSet) -> [UInt8]? {
        guard !set.hasNonASCII else { return nil }
        let members = (0..<128).filter { set.contains(UInt32($0)) }.map { UInt8($0) }
        return (1...2).contains(members.count) ? members : nil
    }

    private func computePrefix() -> [(UInt8, UInt8)] {
        var prefix: [(UInt8, UInt8)] = []
        var pc = 0
        while pc < insts.count && prefix.count < 64 {
            let inst = insts[pc]
            switch inst.op {
            case .assertion: break
            case .scalar:
                guard let scalar = Unicode.Scalar(UInt32(inst.a)) else { return prefix }
                prefix += String(scalar).utf8.map { ($0, $0) }
            case .set:
                guard let members = smallASCII(sets[Int(inst.a)]) else { return prefix }
                prefix.append((members[0], members[members.count - 1]))
            default: return prefix
            }
            pc += 1
        }
        return prefix
    }

    /// The bytes of one instruction that every path to a match goes through, preferring punctuation to letters.
    private func computeRequiredBytes() -> [UInt8] {
        guard insts.count <= 2_000 else { return [] }
        var best: [UInt8] = []
        var checked = 0
        for (pc, inst) in insts.enumerated() where checked < 64 {
            let bytes: [UInt8]?
            switch inst.op {
            case .scalar: bytes = inst.a < 128 ? [UInt8(inst.a)] : nil
            case .set: bytes = smallASCII(sets[Int(inst.a)])
            default: bytes = nil
            }
            guard let bytes else { continue }
            checked += 1
            let isPunctuation = !bytes.contains { isWordByte($0) }
            guard best.isEmpty || isPunctuation && best.contains(where: isWordByte) else { continue }
            if !canMatch(avoiding: pc) { best = bytes }
        }
        return best
    }

    /// Whether the match instruction is reachable from the start without passing `avoided`.
    private func canMatch(avoiding avoided: Int) -> Bool {
        var seen = [Bool](repeating: false, count: insts.count)
        var stack = [0]
        while let pc = stack.popLast() {
            guard pc != avoided, !seen[pc] else { continue }
            seen[pc] = true
            let inst = insts[pc]
            switch inst.op {
            case .match: return true
            case .jump: stack.append(Int(inst.a))
            case .split: stack += [Int(inst.a), Int(inst.b)]
            default: stack.append(pc + 1)
            }
        }
        return false
    }

    /// Whether the text can hold a match at all, by the required bytes.
    func mayMatch(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        switch requiredBytes.count {
        case 0: return true
        case 1:
            let a = requiredBytes[0]
            return text.contains(a)
        default:
            let (a, b) = (requiredBytes[0], requiredBytes[1])
            return text.contains { $0 == a || $0 == b }
        }
    }

    /// The first offset at or after `start` where the prefix occurs.
    func findPrefix(_ text: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        let n = text.count
        let count = prefix.count
        guard count > 0 else { return start }
        let (first, firstOther) = prefix[0]
        var i = start
        while i + count <= n {
            if let prefixSearch {
                i = prefixSearch.firstIndex(in: text, from: i)
                if i + count > n { break }
            }
            let byte = text[i]
            if byte == first || byte == firstOther {
                var k = 1
                while k < count && (text[i + k] == prefix[k].0 || text[i + k] == prefix[k].1) { k += 1 }
                if k == count { return i }
            }
            i += 1
        }
        return nil
    }

    @discardableResult private mutating func append(_ op: Op, _ a: Int = 0, _ b: Int = 0) -> Int {
        insts.append(Inst(op: op, a: Int32(a), b: Int32(b)))
        return insts.count - 1
    }

    /// Points a split at its body (`body`) and its way out (`exit`), in the order the quantifier prefers.
    private mutating func aim(_ split: Int, body: Int, exit: Int, isGreedy: Bool) {
        insts[split].a = Int32(isGreedy ? body : exit)
        insts[split].b = Int32(isGreedy ? exit : body)
    }

    private mutating func emit(_ node: Node) {
        switch node {
        case .empty: break
        case .scalar(let value): append(.scalar, Int(value))
        case .set(let set):
            sets.append(set)
            append(.set, sets.count - 1)
        case .assertion(let assertion): append(.assertion, Int(assertion.rawValue))
        case .concatenation(let items): for item in items { emit(item) }
        case .alternation(let branches):
            var jumps: [Int] = []
            for (index, branch) in branches.enumerated() {
                guard index < branches.count - 1 else {
                    emit(branch)
                    break
                }
                let split = append(.split, insts.count + 1)
                emit(branch)
                jumps.append(append(.jump))
                insts[split].b = Int32(insts.count)
            }
            for jump in jumps { insts[jump].a = Int32(insts.count) }
        case .repetition(let body, let min, let max, let isGreedy):
            for _ in 0..<(max == nil && min > 0 ? min - 1 : min) { emit(body) }
            if let max {
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(append(.split))
                    emit(body)
                }
                for split in splits { aim(split, body: split + 1, exit: insts.count, isGreedy: isGreedy) }
            } else if min == 0 {
                let split = append(.split)
                emit(body)
                append(.jump, split)
                aim(split, body: split + 1, exit: insts.count, isGreedy: isGreedy)
            } else {
                let loop = insts.count
                emit(body)
                let split = append(.split)
                aim(split, body: loop, exit: split + 1, isGreedy: isGreedy)
            }
        }
    }

    private func computeFirstBytes() -> [Bool]? {
        var bytes = [Bool](repeating: false, count: 256)
        var seen = [Bool](repeating: false, count: insts.count)
        var stack = [0]
        while let pc = stack.popLast() {
            guard !seen[pc] else { continue }
            seen[pc] = true
            let inst = insts[pc]
            switch inst.op {
            case .match: return nil
            case .scalar: bytes[Int(leadByte(UInt32(inst.a)))] = true
            case .set: sets[Int(inst.a)].addLeadBytes(to: &bytes)
            case .jump: stack.append(Int(inst.a))
            case .split: stack += [Int(inst.b), Int(inst.a)]
            case .assertion: stack.append(pc + 1)
            }
        }
        return bytes
    }

    /// Runs `body` with a VM whose thread lists live in one temporary allocation.
    func withScratch<R>(_ body: (inout VM) -> R) -> R {
        let size = insts.count
        let capacity = 7 * size + 2
        let scratch = UnsafeMutablePointer<Int>.allocate(capacity: capacity)
        scratch.initialize(repeating: 0, count: capacity)
        defer { scratch.deallocate() }
        return insts.withUnsafeBufferPointer { insts in
            var vm = VM(program: self, insts: insts, scratch: scratch)
            return body(&vm)
        }
    }
}

/// Where the VM is between two scalars, for assertions.
private struct Context {
    var atStart: Bool
    var atEnd: Bool
    var previousIsWord: Bool
    var nextIsWord: Bool

    @inline(__always) func holds(_ assertion: Int32) -> Bool {
        switch assertion {
        case Assertion.start.rawValue: return atStart
        case Assertion.end.rawValue: return atEnd
        case Assertion.wordBoundary.rawValue: return previousIsWord != nextIsWord
        default: return previousIsWord == nextIsWord
        }
    }
}

/// A Pike VM: all threads advance together one scalar at a time; a thread is a program counter and where its match
/// started, each counter at most once per position, in priority order.
private struct VM {
    let program: Program
    let insts: UnsafeBufferPointer<Inst>
    let marks: UnsafeMutablePointer<Int>
    let stack: UnsafeMutablePointer<Int>
    var current: (pcs: UnsafeMutablePointer<Int>, starts: UnsafeMutablePointer<Int>, count: Int)
    var next: (pcs: UnsafeMutablePointer<Int>, starts: UnsafeMutablePointer<Int>, count: Int)
    var generation = 0

    init(program: Program, insts: UnsafeBufferPointer<Inst>, scratch base: UnsafeMutablePointer<Int>) {
        let size = insts.count
        self.program = program
        self.insts = insts
        marks = base
        current = (base + size, base + 2 * size, 0)
        next = (base + 3 * size, base + 4 * size, 0)
        stack = base + 5 * size
    }

    /// Follows jumps, splits and assertions from `pc`, adding the threads that consume or match to `list`.
    @inline(__always)
    private func addThread(
        _ list: inout (pcs: UnsafeMutablePointer<Int>, starts: UnsafeMutablePointer<Int>, count: Int), pc: Int,
        start: Int, context: Context
    ) {
        var top = 1
        stack[0] = pc
        while top > 0 {
            top -= 1
            let pc = stack[top]
            guard marks[pc] != generation else { continue }
            marks[pc] = generation
            let inst = insts[pc]
            switch inst.op {
            case .jump:
                stack[top] = Int(inst.a)
                top += 1
            case .split:
                stack[top] = Int(inst.b)
                stack[top + 1] = Int(inst.a)
                top += 2
            case .assertion:
                if context.holds(inst.a) {
                    stack[top] = pc + 1
                    top += 1
                }
            case .scalar, .set, .match:
                list.pcs[list.count] = pc
                list.starts[list.count] = start
                list.count += 1
            }
        }
    }

    /// The leftmost-first match that starts at or after `from`.
    mutating func search(_ text: UnsafeBufferPointer<UInt8>, from: Int) -> Range<Int>? {
        let n = text.count
        var i = from
        var matched: Range<Int>?
        generation += 1
        current.count = 0
        if program.isAnchored && from > 0 { return nil }
        while true {
            if matched == nil {
                if current.count == 0 {
                    if program.isAnchored && i > 0 { break }
                    if !program.prefix.isEmpty {
                        guard let found = program.findPrefix(text, from: i) else { break }
                        i = found
                    } else if let firstBytes = program.firstBytes {
                        while i < n && !firstBytes[Int(text[i])] { i += 1 }
                        if i >= n { break }
                    }
                }
                let context = Context(
                    atStart: i == 0, atEnd: i == n, previousIsWord: i > 0 && isWordByte(text[i - 1]),
                    nextIsWord: i < n && isWordByte(text[i]))
                addThread(&current, pc: 0, start: i, context: context)
                if current.count == 0 {
                    // Every thread from here died on an assertion (`\b` after a skipped-to prefix): start one on.
                    guard i < n, !program.isAnchored else { break }
                    i += decode(text, at: i).1
                    generation += 1
                    continue
                }
            }
            if current.count == 0 { break }
            let atEnd = i >= n
            var scalar: UInt32 = 0
            var length = 0
            if !atEnd { (scalar, length) = decode(text, at: i) }
            let after = i + length
            let context = Context(
                atStart: false, atEnd: after >= n, previousIsWord: scalar < 128 && isWordByte(UInt8(scalar)),
                nextIsWord: after < n && isWordByte(text[after]))
            generation += 1
            next.count = 0
            for t in 0..<current.count {
                let pc = current.pcs[t]
                let inst = insts[pc]
                switch inst.op {
                case .match:
                    matched = current.starts[t]..<i
                case .scalar:
                    if !atEnd && scalar == UInt32(inst.a) {
                        addThread(&next, pc: pc + 1, start: current.starts[t], context: context)
                    }
                case .set:
                    if !atEnd && program.sets[Int(inst.a)].contains(scalar) {
                        addThread(&next, pc: pc + 1, start: current.starts[t], context: context)
                    }
                default: break
                }
                if inst.op == .match { break }  // lower-priority threads lose to this match
            }
            swap(&current, &next)
            if atEnd { break }
            i = after
        }
        return matched
    }
}

@inline(__always) private func decode(_ p: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
    let b0 = UInt32(p[i])
    if b0 < 0x80 { return (b0, 1) }
    let n = p.count
    if b0 < 0xE0, i + 1 < n { return ((b0 & 0x1F) << 6 | UInt32(p[i + 1]) & 0x3F, 2) }
    if b0 < 0xF0, i + 2 < n {
        return ((b0 & 0x0F) << 12 | (UInt32(p[i + 1]) & 0x3F) << 6 | UInt32(p[i + 2]) & 0x3F, 3)
    }
    if i + 3 < n {
        let value = (b0 & 0x07) << 18 | (UInt32(p[i + 1]) & 0x3F) << 12 | (UInt32(p[i + 2]) & 0x3F) << 6
        return (value | UInt32(p[i + 3]) & 0x3F, 4)
    }
    return (0xFFFD, 1)
}
