/// The fields of a record being written: names and values, each name at most once.
///
/// A record takes at most ``AuditRecord/maximumFieldCount`` fields, so they are kept as a short list in the order
/// they were set rather than hashed into a dictionary: a request writes one record, and building, forwarding and
/// encoding it then never hashes a name. Encoding sorts them once (see ``AuditJSON``). Equality ignores the order.
public struct AuditFields: Sendable, Hashable, ExpressibleByDictionaryLiteral, Sequence, CustomStringConvertible {
    public typealias Element = (key: String, value: AuditValue)

    /// The fields in the order they were set, each name once.
    private(set) var members: [Element]

    /// No fields, with room for `capacity` before the list grows.
    public init(capacity: Int = 16) {
        members = []
        members.reserveCapacity(capacity)
    }

    /// Fields from a literal; a name given twice is a programming error, as in a dictionary literal.
    public init(dictionaryLiteral elements: (String, AuditValue)...) {
        self.init(capacity: Swift.max(16, elements.count))
        for (key, value) in elements {
            precondition(index(of: key) == nil, "audit field '\(key)' given twice")
            members.append((key, value))
        }
    }

    public init(_ dictionary: [String: AuditValue]) {
        members = dictionary.map { ($0.key, $0.value) }
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }

    /// The value named `key`; setting nil removes the field, setting a name again replaces its value.
    public subscript(key: String) -> AuditValue? {
        get { index(of: key).map { members[$0].value } }
        set {
            if let position = index(of: key) {
                if let newValue {
                    members[position].value = newValue
                } else {
                    members.remove(at: position)
                }
            } else if let newValue {
                members.append((key, newValue))
            }
        }
    }

    /// The same fields as a dictionary (for reading; the writer's path never needs one).
    public var dictionary: [String: AuditValue] {
        Dictionary(members, uniquingKeysWith: { _, last in last })
    }

    public func makeIterator() -> IndexingIterator<[Element]> { members.makeIterator() }

    public var underestimatedCount: Int { members.count }

    public var description: String { dictionary.description }

    public static func == (lhs: AuditFields, rhs: AuditFields) -> Bool {
        lhs.count == rhs.count && lhs.members.allSatisfy { rhs[$0.key] == $0.value }
    }

    public func hash(into hasher: inout Hasher) {
        // Order-independent, like a dictionary's: combine the members' own hashes commutatively.
        var combined = 0
        for member in members {
            var one = Hasher()
            one.combine(member.key)
            one.combine(member.value)
            combined ^= one.finalize()
        }
        hasher.combine(count)
        hasher.combine(combined)
    }

    private func index(of key: String) -> Int? {
        members.firstIndex { $0.key == key }
    }
}
