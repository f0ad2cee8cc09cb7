import Foundation

/// Revoked tokens: by token id, or every token of a subject issued up to a moment.
///
/// Stored as `revocations/list.json` in the state directory, replaced atomically by
/// `gatehouse token revoke`; running gateways re-read it within seconds. Entries for
/// token ids are kept for the longest token lifetime (30 days), after which the tokens
/// they name have expired anyway.
///
/// Threat assumptions: whoever can write the state directory can revoke (or un-revoke)
/// tokens; the file is owner-only like the rest of the state.
public struct RevocationList: Sendable, Equatable {
    /// Revoked token ids, with when they were revoked.
    public private(set) var tokenIDs: [String: Date]
    /// Subjects whose tokens issued at or before the date are revoked.
    public private(set) var subjects: [String: Date]

    public init(tokenIDs: [String: Date] = [:], subjects: [String: Date] = [:]) {
        self.tokenIDs = tokenIDs
        self.subjects = subjects
    }

    public static let empty = RevocationList()

    public func isRevoked(_ principal: Principal) -> Bool {
        if tokenIDs[principal.tokenID] != nil { return true }
        if let before = subjects[principal.subject], principal.issuedAt <= before { return true }
        return false
    }

    public var isEmpty: Bool { tokenIDs.isEmpty && subjects.isEmpty }

    static func file(in state: StateDirectory) -> URL {
        state.revocationsDirectory.appendingPathComponent("list.json")
    }

    /// Reads the list; a missing file is an empty list. A malformed file is an error (fail closed: the
    /// caller keeps the previous list rather than forgetting revocations).
    public static func load(from state: StateDirectory) throws -> RevocationList {
        guard let data = try FileSystem.readFile(file(in: state), maxBytes: 16 << 20, exposure: .notWritableByOthers) else {
            return .empty
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            object["version"] as? Int == 1
        else {
            throw StateError.invalidFile(file(in: state).path, "expected a version 1 revocation list")
        }
        var list = RevocationList()
        for (id, seconds) in object["token_ids"] as? [String: Double] ?? [:] {
            list.tokenIDs[id] = Date(timeIntervalSince1970: seconds)
        }
        for (subject, seconds) in object["subjects"] as? [String: Double] ?? [:] {
            list.subjects[subject] = Date(timeIntervalSince1970: seconds)
        }
        return list
    }

    func encoded() throws -> Data {
        let object: [String: Any] = [
            "version": 1,
            "token_ids": tokenIDs.mapValues { $0.timeIntervalSince1970.rounded() },
            "subjects": subjects.mapValues { $0.timeIntervalSince1970.rounded(.up) },
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// Adds a revocation and writes the list atomically. Returns the new list.
    @discardableResult
    public static func revoke(tokenID: String? = nil, subject: String? = nil, in state: StateDirectory, now: Date = Date())
        throws -> RevocationList
    {
        try state.prepare(.revocations)
        var list = try load(from: state)
        if let tokenID { list.tokenIDs[tokenID] = now }
        if let subject { list.subjects[subject] = now }
        // Token ids older than the longest lifetime name tokens that have expired.
        list.tokenIDs = list.tokenIDs.filter { now.timeIntervalSince($0.value) <= TokenFormat.maximumLifetime + 60 }
        try FileSystem.writeAtomically(try list.encoded(), to: file(in: state), mode: 0o644, replacing: true)
        return list
    }
}
