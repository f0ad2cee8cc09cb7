/// Output guardrails over a stream of text deltas. Text is held back only as long as it could
/// still become a match (a finding cut by a chunk boundary) or a placeholder to restore; the
/// rest goes out at once.
public struct StreamTextGuard: Sendable {
    private let rules: [GuardrailRule]
    private let vault: PlaceholderVault
    /// The most text held back while output scanners run (longer than any secret format).
    private let window: Int
    private var pending: [UInt8] = []
    /// An output rule blocked the answer: nothing more goes out.
    public private(set) var isBlocked = false
    /// The JSON-mode check (``JSONAnswerCheck``): `block` holds the whole text back until the
    /// end, when it is checked; `flag` checks what went out.
    private let json: GuardrailAction
    /// The text released so far, kept while the JSON check is on.
    private var released: [UInt8] = []
    /// Hold the whole text back until its end (an output webhook reads it whole before any goes out).
    private let holdsAll: Bool
    /// The text is complete (`finish` with `checksJSON`).
    private var complete = false

    public init(
        rules: [GuardrailRule], vault: PlaceholderVault, window: Int = 256, json: GuardrailAction = .off,
        holdsAll: Bool = false
    ) {
        self.rules = rules.filter { $0.action != .off }
        self.vault = vault
        self.window = window
        self.json = json
        self.holdsAll = holdsAll
    }

    /// Whether the guard has anything to do (otherwise deltas pass unchanged).
    public var isActive: Bool { !rules.isEmpty || !vault.isEmpty || json != .off || holdsAll }

    /// The text of `delta` (and of what was held back) that may go out now.
    public mutating func feed(_ delta: String, verdict: inout GuardrailVerdict) -> String {
        guard isActive, !isBlocked else { return isBlocked ? "" : delta }
        pending.append(contentsOf: delta.utf8)
        return release(upTo: cut(), verdict: &verdict)
    }

    /// Everything still held, at the end of the text (before a tool call or the answer's end).
    /// `checksJSON`: the answer's text is complete and has no tool call, so the JSON-mode check
    /// applies (once).
    public mutating func finish(verdict: inout GuardrailVerdict, checksJSON: Bool = false) -> String {
        guard isActive, !isBlocked else { return "" }
        var out = release(upTo: pending.count, verdict: &verdict)
        if checksJSON, !complete, !isBlocked {
            complete = true
            if json != .off, !JSONAnswerCheck.isValid(String(decoding: released, as: UTF8.self)) {
                verdict.add(.output, JSONAnswerCheck.rule(json), type: .invalidJSON, count: 1)
                if json == .block {
                    isBlocked = true
                    out = ""
                }
            }
        }
        return out
    }

    /// The answer's text released so far (kept only for the JSON check and a held-back stream).
    public var releasedText: String { String(decoding: released, as: UTF8.self) }

    /// Where the text that may go out ends.
    private func cut() -> Int {
        if (json == .block || holdsAll) && !complete { return 0 }
        var cut = pending.count
        if !rules.isEmpty {
            // Keep the last `window` bytes, back to a space or line end, unless that holds too much.
            cut = max(0, pending.count - window)
            while cut > 0, !Self.isBreak(pending[cut - 1]) { cut -= 1 }
            if cut == 0, pending.count > 4 * window { cut = pending.count - window }
            while cut > 0, cut < pending.count, pending[cut] & 0xC0 == 0x80 { cut -= 1 }
            // A finding that crosses the cut waits whole.
            let text = String(decoding: pending, as: UTF8.self)
            for rule in rules {
                for finding in rule.scanner.scan(text)
                where finding.range.lowerBound < cut && finding.range.upperBound > cut {
                    cut = finding.range.lowerBound
                }
            }
        }
        if !vault.isEmpty, let open = pending[..<cut].lastIndex(of: UInt8(ascii: "[")),
            !pending[open..<cut].contains(UInt8(ascii: "]")), cut - open < vault.longest
        {
            cut = open
        }
        return cut
    }

    private mutating func release(upTo cut: Int, verdict: inout GuardrailVerdict) -> String {
        guard cut > 0 else { return "" }
        let part = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        var scratch = PlaceholderVault()
        let before = verdict.blocked
        let cleaned = TextGuard.apply(rules, to: part, direction: .output, vault: &scratch, verdict: &verdict)
        if verdict.blocked != nil, before == nil {
            isBlocked = true
            pending.removeAll()
            return ""
        }
        let restored = vault.restore(cleaned)
        if json != .off || holdsAll { released.append(contentsOf: restored.utf8) }
        return restored
    }

    private static func isBreak(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\t")
            || byte == UInt8(ascii: "\r")
    }
}
