/// What the guardrails decided about one request: every finding's type and count (never the
/// text), the strongest action taken, and the rule that blocked, if one did.
public struct GuardrailVerdict: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var direction: GuardrailDirection
        public var kind: ScannerKind
        public var type: FindingType
        public var action: GuardrailAction
        public var count: Int
        /// The operator's name for a regex rule.
        public var label: String?
    }

    public private(set) var entries: [Entry] = []
    /// The entry that refused the request or the answer.
    public private(set) var blocked: Entry?

    public init() {}

    /// The strongest action taken (`off` when nothing was found).
    public var action: GuardrailAction { entries.map(\.action).max() ?? .off }

    public var isEmpty: Bool { entries.isEmpty }

    public mutating func add(_ direction: GuardrailDirection, _ rule: GuardrailRule, type: FindingType, count: Int) {
        if let index = entries.firstIndex(where: {
            $0.direction == direction && $0.kind == rule.kind && $0.type == type && $0.action == rule.action
                && $0.label == rule.label
        }) {
            entries[index].count += count
        } else {
            entries.append(
                Entry(
                    direction: direction, kind: rule.kind, type: type, action: rule.action, count: count,
                    label: rule.label))
        }
        if rule.action == .block, blocked == nil {
            blocked = Entry(
                direction: direction, kind: rule.kind, type: type, action: .block, count: count, label: rule.label)
        }
    }

    /// This verdict with `other`'s entries added.
    public func merged(with other: GuardrailVerdict) -> GuardrailVerdict {
        var result = self
        for entry in other.entries where !result.entries.contains(entry) { result.entries.append(entry) }
        if result.blocked == nil { result.blocked = other.blocked }
        return result
    }

    /// `direction:kind:type:action:count`, comma-separated: the audit record's form.
    public var summary: String {
        entries.map { entry in
            let kind = entry.label.map { "\(entry.kind.rawValue)/\($0)" } ?? entry.kind.rawValue
            return "\(entry.direction.rawValue):\(kind):\(entry.type.rawValue):\(entry.action.rawValue):\(entry.count)"
        }.joined(separator: ",")
    }
}

/// Placeholders for the personal data redacted from one request's prompt, so that the answer can
/// carry the original values back to the caller while the provider sees only `[EMAIL_1]`,
/// `[PHONE_2]`, …. The same value gets the same placeholder within the request. Lives in memory
/// for one request only.
public struct PlaceholderVault: Sendable, Equatable {
    private var originals: [String: String] = [:]
    private var placeholders: [String: String] = [:]
    private var counters: [FindingType: Int] = [:]
    /// The longest placeholder handed out (how much of a stream may still become one).
    public private(set) var longest = 0

    public init() {}

    public var isEmpty: Bool { originals.isEmpty }

    /// The placeholder for `value` of `type`, made on first use.
    public mutating func placeholder(for value: String, type: FindingType) -> String {
        let key = type.rawValue + "\u{0}" + value
        if let existing = placeholders[key] { return existing }
        let number = (counters[type] ?? 0) + 1
        counters[type] = number
        let placeholder = "[\(type.placeholderLabel)_\(number)]"
        placeholders[key] = placeholder
        originals[placeholder] = value
        longest = max(longest, placeholder.utf8.count)
        return placeholder
    }

    /// `text` with every placeholder of this request replaced by its original value.
    public func restore(_ text: String) -> String {
        guard !originals.isEmpty, text.utf8.contains(UInt8(ascii: "[")) else { return text }
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "[") {
            out += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "]") else {
                out += rest[open...]
                return out
            }
            let candidate = String(rest[open...close])
            if let original = originals[candidate] {
                out += original
                rest = rest[rest.index(after: close)...]
            } else {
                out += "["
                rest = rest[rest.index(after: open)...]
            }
        }
        return out + rest
    }
}

/// Runs a direction's rules over texts: findings are counted in the verdict, redactions applied.
public enum TextGuard {
    /// Every finding of every rule that is on, with the rule that found it, in text order.
    public static func findings(_ rules: [GuardrailRule], in text: String) -> [(rule: GuardrailRule, finding: Finding)]
    {
        var all: [(rule: GuardrailRule, finding: Finding)] = []
        for rule in rules where rule.action != .off {
            for finding in rule.scanner.scan(text) { all.append((rule, finding)) }
        }
        return all.sorted { $0.finding.range.lowerBound < $1.finding.range.lowerBound }
    }

    /// Personal data is replaced by restorable placeholders; everything else redacted is replaced
    /// by a marker (`[REDACTED_OPENAI_KEY]`) or, for invisible text, removed.
    public static func apply(
        _ rules: [GuardrailRule], to text: String, direction: GuardrailDirection, vault: inout PlaceholderVault,
        verdict: inout GuardrailVerdict
    ) -> String {
        guard !rules.isEmpty, !text.isEmpty else { return text }
        var redactions: [(range: Range<Int>, type: FindingType, restorable: Bool)] = []
        for rule in rules where rule.action != .off {
            let findings = rule.scanner.scan(text)
            guard !findings.isEmpty else { continue }
            var counts: [FindingType: Int] = [:]
            for finding in findings { counts[finding.type, default: 0] += 1 }
            for (type, count) in counts.sorted(by: { $0.key < $1.key }) {
                verdict.add(direction, rule, type: type, count: count)
            }
            if rule.action == .redact {
                for finding in findings { redactions.append((finding.range, finding.type, rule.kind == .pii)) }
            }
        }
        guard !redactions.isEmpty else { return text }
        redactions.sort {
            $0.range.lowerBound < $1.range.lowerBound
                || ($0.range.lowerBound == $1.range.lowerBound && $0.range.count > $1.range.count)
        }
        let bytes = Array(text.utf8)
        var out = ""
        out.reserveCapacity(bytes.count)
        var position = 0
        for redaction in redactions
        where redaction.range.lowerBound >= position && redaction.range.upperBound <= bytes.count {
            out += String(decoding: bytes[position..<redaction.range.lowerBound], as: UTF8.self)
            let value = String(decoding: bytes[redaction.range], as: UTF8.self)
            switch redaction.type {
            case .invisibleText: break
            default:
                out +=
                    redaction.restorable
                    ? vault.placeholder(for: value, type: redaction.type)
                    : "[REDACTED_\(redaction.type.placeholderLabel)]"
            }
            position = redaction.range.upperBound
        }
        out += String(decoding: bytes[position...], as: UTF8.self)
        return out
    }
}
