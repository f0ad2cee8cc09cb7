/// The fields of a record being written: names and values, each name at most once.
///
/// A record takes at most ``AuditRecord/maximumFieldCount`` fields, so they are kept as a short list in the order
/// they were set rather than hashed into a dictionary: a request writes one record, and building, forwarding and
/// encoding it then never hashes a name. Encoding sorts them once (see ``AuditJSON``). Equality ignores the order.
public struct AuditFields: Sendable, Hashable, ExpressibleByDictionaryLiteral, Sequence, CustomStringConvertible {
    public typealias Element = (key: String, value: AuditValue)

    /// Names and values, at the same positions.
    private(set) var keys: [String]
    private(set) var values: [AuditValue]

    public init() {
        keys = []
        values = []
    }

    /// Fields from a literal; a name given twice is a programming error, as in a dictionary literal.
    public init(dictionaryLiteral elements: (String, AuditValue)...) {
        keys = []
        values = []
        keys.reserveCapacity(elements.count + 8)
        values.reserveCapacity(elements.count + 8)
        for (key, value) in elements {
            precondition(index(of: key) == nil, "audit field '\(key)' given twice")
            keys.append(key)
            values.append(value)
        }
    }

    public init(_ dictionary: [String: AuditValue]) {
        keys = Array(dictionary.keys)
        values = Array(dictionary.values)
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// The value named `key`; setting nil removes the field, setting a name again replaces its value.
    public subscript(key: String) -> AuditValue? {
        get { index(of: key).map { values[$0] } }
        set {
            if let position = index(of: key) {
                if let newValue {
                    values[position] = newValue
                } else {
                    keys.remove(at: position)
                    values.remove(at: position)
                }
            } else if let newValue {
                keys.append(key)
                values.append(newValue)
            }
        }
    }

    /// The same fields as a dictionary (for reading; the writer's path never needs one).
    public var dictionary: [String: AuditValue] {
        Dictionary(uniqueKeysWithValues: zip(keys, values))
    }

    /// The fields in the order they were set.
    public struct Iterator: IteratorProtocol {
        let fields: AuditFields
        var position = 0

        public mutating func next() -> Element? {
            guard position < fields.keys.count else { return nil }
            defer { position += 1 }
            return (fields.keys[position], fields.values[position])
        }
    }

    public func makeIterator() -> Iterator { Iterator(fields: self) }

    public var underestimatedCount: Int { keys.count }

    public var description: String { dictionary.description }

    public static func == (lhs: AuditFields, rhs: AuditFields) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for position in lhs.keys.indices where rhs[lhs.keys[position]] != lhs.values[position] { return false }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        // Order-independent, like a dictionary's: combine the members' own hashes commutatively.
        var combined = 0
        for position in keys.indices {
            var member = Hasher()
            member.combine(keys[position])
            member.combine(values[position])
            combined ^= member.finalize()
        }
        hasher.combine(count)
        hasher.combine(combined)
    }

    private func index(of key: String) -> Int? {
        keys.firstIndex(of: key)
    }
}
