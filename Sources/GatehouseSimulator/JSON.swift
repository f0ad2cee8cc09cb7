/// A JSON value with ordered object members, so the simulator controls exactly what it writes.
///
/// Numbers keep their source lexeme: re-serialising a parsed document prints `1.0` as `1.0`
/// and `22` as `22`.
enum JSON: Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSON])
    case object([(key: String, value: JSON)])

    static func int(_ value: Int) -> JSON { .number(String(value)) }

    static func float(_ value: Float) -> JSON { .number(value.isFinite ? "\(value)" : "0") }

    /// The member `key` of an object (the last one if repeated), or nil.
    subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.key == key })?.value
    }

    var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var arrayValue: [JSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    var objectValue: [(key: String, value: JSON)]? {
        if case .object(let value) = self { return value }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// An integral number as `Int` (accepts `12` and `12.0`), or nil.
    var intValue: Int? {
        guard case .number(let lexeme) = self else { return nil }
        if let value = Int(lexeme) { return value }
        guard let value = Double(lexeme), value.rounded() == value, abs(value) < 1e15 else { return nil }
        return Int(value)
    }

    var doubleValue: Double? {
        guard case .number(let lexeme) = self else { return nil }
        return Double(lexeme)
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .int(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(arrayLiteral elements: JSON...) { self = .array(elements) }
    init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(elements.map { (key: $0.0, value: $0.1) })
    }
    init(nilLiteral: ()) { self = .null }
}

extension JSON {
    /// Compact serialisation; members in stored order unless `sortedKeys`. Non-ASCII stays UTF-8.
    func serialized(sortedKeys: Bool = false) -> String {
        var out = ""
        write(to: &out, sortedKeys: sortedKeys)
        return out
    }

    private func write(to out: inout String, sortedKeys: Bool) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let lexeme): out += lexeme
        case .string(let value): JSON.writeString(value, to: &out)
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                element.write(to: &out, sortedKeys: sortedKeys)
            }
            out += "]"
        case .object(let members):
            let ordered = sortedKeys ? JSON.sortedMembers(members) : members
            out += "{"
            for (index, member) in ordered.enumerated() {
                if index > 0 { out += "," }
                JSON.writeString(member.key, to: &out)
                out += ":"
                member.value.write(to: &out, sortedKeys: sortedKeys)
            }
            out += "}"
        }
    }

    /// Sorts by Unicode scalar values (the order Python's `sort_keys` uses), keeping the last duplicate.
    private static func sortedMembers(_ members: [(key: String, value: JSON)]) -> [(key: String, value: JSON)] {
        var latest: [String: JSON] = [:]
        for member in members { latest[member.key] = member.value }
        return latest.keys
            .sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
            .compactMap { key in latest[key].map { (key: key, value: $0) } }
    }

    private static func writeString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
