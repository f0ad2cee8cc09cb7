/// Finds every occurrence of operator-configured strings (product code names, customer names, words a deployment
/// must not see), with one Aho-Corasick automaton over UTF-8 bytes, so a thousand values cost what one does: one table
/// step per byte.
///
/// Case-insensitive by default. Case is the Unicode default lower-case mapping that Swift's `lowercased()` applies,
/// to the values once at init and to each scanned text: not full case folding. So "İ" (U+0130) matches "i̇" (i and a
/// combining dot, its lower case) but not a plain "i"; "ẞ" matches "ß", but "STRASSE" does not match "straße", since
/// the lower case of "SS" is "ss" and only case folding would turn "ß" into "ss"; "Σ" lowers to "σ" everywhere, so a
/// value ending in the final "ς" does not match a capital Σ. ASCII text is compared without making a lower-case copy.
/// With `caseSensitive: true` the comparison is byte for byte.
///
/// Every occurrence is reported, overlapping ones included ("aa" twice in "aaa"), as a range of the original text's
/// UTF-8 offsets, in order of where they start; when lower-casing changes a character's length ("İ" is 2 bytes, its
/// lower case 3) the range still covers exactly the original characters, widened to whole characters if a value
/// matched part of one's lower case.
public struct BannedSubstringScanner: TextScanner {
    public let isCaseSensitive: Bool
    private let automaton: Automaton

    /// Empty values are ignored, and values equal after lower-casing are one.
    public init(_ values: [String], caseSensitive: Bool = false) {
        self.isCaseSensitive = caseSensitive
        var patterns = Set<[UInt8]>()
        for value in values where !value.isEmpty {
            patterns.insert(Array((caseSensitive ? value : value.lowercased()).utf8))
        }
        self.automaton = Automaton(patterns.sorted { $0.lexicographicallyPrecedes($1) }, foldingASCII: !caseSensitive)
    }

    public func scan(_ text: String) -> [Finding] {
        guard automaton.hasPatterns else { return [] }
        var text = text
        var ranges: [Range<Int>] = text.withUTF8 { bytes in
            var found: [Range<Int>] = []
            if isCaseSensitive || Self.isASCII(bytes) {
                automaton.run(bytes) { found.append($0) }
            } else {
                automaton.runLowercasing(bytes) { found.append($0) }
            }
            return found
        }
        ranges.sort { ($0.lowerBound, $0.upperBound) < ($1.lowerBound, $1.upperBound) }
        var findings: [Finding] = []
        findings.reserveCapacity(ranges.count)
        for range in ranges where findings.last?.range != range { findings.append(Finding(.bannedSubstring, range)) }
        return findings
    }

    // MARK: Lower case

    /// The text's lower case as `runLowercasing` sees it, scalar by scalar (which is what `String.lowercased()` does).
    static func lowercasedBytes(_ text: String) -> [UInt8] {
        var output: [UInt8] = []
        for scalar in text.unicodeScalars { forEachLowercaseByte(of: scalar.value) { output.append($0) } }
        return output
    }

    /// Calls `body` with each UTF-8 byte of a scalar's lower-case mapping, computing the common scripts directly (a
    /// test checks these shortcuts against `lowercaseMapping` for every scalar they cover).
    @inline(__always) static func forEachLowercaseByte(of value: UInt32, _ body: (UInt8) -> Void) {
        switch value {
        case 0x41...0x5A: body(UInt8(value | 0x20))
        case 0..<0x80: body(UInt8(value))
        case 0xC0...0xDE where value != 0xD7: forEachUTF8Byte(of: value + 0x20, body)
        case 0x391...0x3AB where value != 0x3A2: forEachUTF8Byte(of: value + 0x20, body)
        case 0x400...0x40F: forEachUTF8Byte(of: value + 0x50, body)
        case 0x410...0x42F: forEachUTF8Byte(of: value + 0x20, body)
        case 0x80...0xFF, 0x3AC...0x3CE, 0x430...0x45F, 0x590...0x109F, 0x2000...0x206F, 0x3000...0xA63F,
            0xAC00...0xD7FF, 0xE000...0xF8FF:
            forEachUTF8Byte(of: value, body)
        default:
            guard let scalar = Unicode.Scalar(value) else { return }
            for byte in scalar.properties.lowercaseMapping.utf8 { body(byte) }
        }
    }

    @inline(__always) private static func forEachUTF8Byte(of value: UInt32, _ body: (UInt8) -> Void) {
        switch value {
        case 0..<0x80: body(UInt8(value))
        case 0..<0x800:
            body(UInt8(0xC0 | value >> 6))
            body(UInt8(0x80 | value & 0x3F))
        case 0..<0x10000:
            body(UInt8(0xE0 | value >> 12))
            body(UInt8(0x80 | value >> 6 & 0x3F))
            body(UInt8(0x80 | value & 0x3F))
        default:
            body(UInt8(0xF0 | value >> 18))
            body(UInt8(0x80 | value >> 12 & 0x3F))
            body(UInt8(0x80 | value >> 6 & 0x3F))
            body(UInt8(0x80 | value & 0x3F))
        }
    }

    private static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var i = 0
        var bits: UInt64 = 0
        while i + 8 <= bytes.count {
            bits |= UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            i += 8
        }
        while i < bytes.count {
            bits |= UInt64(bytes[i])
            i += 1
        }
        return bits & 0x8080_8080_8080_8080 == 0
    }
}

/// An Aho-Corasick automaton compiled to a full transition table over byte classes (each byte the patterns use is a
/// class, every other byte shares class 0), so scanning is one table step per byte. A table entry is the target
/// state's row offset, complemented (negative) when a pattern ends there, so the scan tests one sign per byte.
private struct Automaton: Sendable {
    private let classes: [UInt8]
    private let classCount: Int
    private let table: [Int32]
    /// Whether a byte can begin a pattern (the scan skips the others while in the root state).
    private let starts: [Bool]
    /// The same bytes as a vector test, when there are few of them.
    private let startSearch: ByteSearch?
    /// For each state, the first state on its suffix chain where a pattern ends (itself included), or -1.
    private let firstOutput: [Int32]
    /// For each state where a pattern ends, the next such state on its suffix chain, or -1.
    private let nextOutput: [Int32]
    /// For each state, its depth: the length of the pattern that ends there.
    private let depths: [Int32]
    /// The longest pattern's length, rounded up to a power of two (the size of the offset ring).
    private let ringSize: Int

    var hasPatterns: Bool { depths.count > 1 }

    init(_ patterns: [[UInt8]], foldingASCII: Bool) {
        var classes = [UInt8](repeating: 0, count: 256)
        var count = 1
        for byte in Set(patterns.joined()).sorted() where classes[Int(byte)] == 0 {
            classes[Int(byte)] = UInt8(count)
            count += 1
        }
        if foldingASCII {
            for upper in 65...90 { classes[upper] = classes[upper | 0x20] }
        }
        var goto = [Int32](repeating: -1, count: count)
        var depths: [Int32] = [0]
        var isTerminal = [false]
        for pattern in patterns {
            var state = 0
            for byte in pattern {
                let slot = state * count + Int(classes[Int(byte)])
                if goto[slot] < 0 {
                    goto[slot] = Int32(depths.count)
                    depths.append(depths[state] + 1)
                    isTerminal.append(false)
                    goto += [Int32](repeating: -1, count: count)
                }
                state = Int(goto[slot])
            }
            isTerminal[state] = true
        }
        // Breadth first, each missing transition becomes its failure state's, so the table is a DFA.
        var failure = [Int32](repeating: 0, count: depths.count)
        var firstOutput = [Int32](repeating: -1, count: depths.count)
        var nextOutput = [Int32](repeating: -1, count: depths.count)
        var queue: [Int] = []
        for c in 0..<count {
            if goto[c] < 0 { goto[c] = 0 } else { queue.append(Int(goto[c])) }
        }
        var head = 0
        while head < queue.count {
            let state = queue[head]
            head += 1
            let fail = Int(failure[state])
            nextOutput[state] = firstOutput[fail]
            firstOutput[state] = isTerminal[state] ? Int32(state) : nextOutput[state]
            for c in 0..<count {
                let slot = state * count + c
                if goto[slot] < 0 {
                    goto[slot] = goto[fail * count + c]
                } else {
                    failure[Int(goto[slot])] = goto[fail * count + c]
                    queue.append(Int(goto[slot]))
                }
            }
        }
        self.classes = classes
        self.classCount = count
        self.table = goto.map { target in
            let row = target * Int32(count)
            return firstOutput[Int(target)] >= 0 ? ~row : row
        }
        let starts = (0..<256).map { goto[Int(classes[$0])] != 0 }
        self.starts = starts
        self.startSearch = ByteSearch((0..<256).filter { starts[$0] }.map(UInt8.init))
        self.firstOutput = firstOutput
        self.nextOutput = nextOutput
        self.depths = depths
        var ringSize = 1
        while ringSize < Int(depths.max() ?? 0) { ringSize *= 2 }
        self.ringSize = ringSize
    }

    /// Calls `report` with the byte range of every occurrence, in order of where it ends.
    func run(_ bytes: UnsafeBufferPointer<UInt8>, report: (Range<Int>) -> Void) {
        let n = bytes.count
        classes.withUnsafeBufferPointer { classes in
            table.withUnsafeBufferPointer { table in
                starts.withUnsafeBufferPointer { starts in
                    var row = 0
                    var i = 0
                    while i < n {
                        if row == 0 {
                            if let startSearch {
                                i = startSearch.firstIndex(in: bytes, from: i)
                            } else {
                                while i < n && !starts[Int(bytes[i])] { i &+= 1 }
                            }
                            if i == n { break }
                        }
                        var next = Int(table[row &+ Int(classes[Int(bytes[i])])])
                        i &+= 1
                        if next < 0 {
                            next = ~next
                            forEachOutput(ofRow: next) { report((i - $0)..<i) }
                        }
                        row = next
                    }
                }
            }
        }
    }

    /// Like `run`, over the text's lower case, reporting ranges of the original text: a ring of the original offset
    /// of each lower-case byte's scalar, as long as the longest pattern, maps a match's start back.
    func runLowercasing(_ bytes: UnsafeBufferPointer<UInt8>, report: (Range<Int>) -> Void) {
        let n = bytes.count
        let mask = ringSize - 1
        withUnsafeTemporaryAllocation(of: Int.self, capacity: ringSize) { ring in
            classes.withUnsafeBufferPointer { classes in
                table.withUnsafeBufferPointer { table in
                    var row = 0
                    var fed = 0
                    var i = 0
                    while i < n {
                        let lead = bytes[i]
                        let length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
                        guard i + length <= n else { break }
                        var value = UInt32(lead) & (length == 1 ? 0x7F : length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
                        for k in 1..<max(length, 1) { value = value << 6 | UInt32(bytes[i + k]) & 0x3F }
                        let origin = i
                        let end = i + length
                        BannedSubstringScanner.forEachLowercaseByte(of: value) { byte in
                            ring[fed & mask] = origin
                            fed &+= 1
                            var next = Int(table[row &+ Int(classes[Int(byte)])])
                            if next < 0 {
                                next = ~next
                                forEachOutput(ofRow: next) { depth in report(ring[(fed - depth) & mask]..<end) }
                            }
                            row = next
                        }
                        i = end
                    }
                }
            }
        }
    }

    /// Calls `body` with the length of each pattern that ends in the state at `row`.
    @inline(__always) private func forEachOutput(ofRow row: Int, _ body: (Int) -> Void) {
        var output = firstOutput[row / classCount]
        while output >= 0 {
            body(Int(depths[Int(output)]))
            output = nextOutput[Int(output)]
        }
    }
}
