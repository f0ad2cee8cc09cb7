import Crypto
import Foundation
import Testing

@testable import GatehouseSecurity

@Suite("Audit log: formats, keys and field checks")
struct AuditFormatTests {
    // MARK: Merkle tree

    /// RFC 6962 test vectors (from the Certificate Transparency reference implementation's tests).
    private static let leaves: [[UInt8]] = [
        [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
        [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57], Array(0x60...0x6F),
    ]
    private static let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    @Test("the Merkle tree matches the RFC 6962 test vectors")
    func merkleVectors() {
        var tree = AuditMerkleTree()
        #expect(Hex.encode(tree.root) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        for (index, leaf) in Self.leaves.enumerated() {
            tree.append(line: leaf)
            #expect(Hex.encode(tree.root) == Self.roots[index], "size \(index + 1)")
        }
    }

    // MARK: Canonical JSON

    @Test("canonical JSON sorts keys, has no whitespace and escapes only what JCS escapes")
    func canonicalJSON() {
        let value = AuditJSON.object([
            "b": .int(-12), "a": .string("quote\" back\\ slash/ tab\t nl\n bell\u{07} é 🔑"),
            "c": .object(["z": .int(0), "y": .string("")]),
        ])
        let text = String(decoding: value.canonical, as: UTF8.self)
        #expect(text == #"{"a":"quote\" back\\ slash/ tab\t nl\n bell\u0007 é 🔑","b":-12,"c":{"y":"","z":0}}"#)
        #expect(AuditJSON.parse(value.canonical) == value)
    }

    @Test(
        "the parser refuses anything outside the canonical subset",
        arguments: [
            #"{"a":1,"a":2}"#, #"{"a": 1}"#, #"{"a":1.5}"#, #"{"a":true}"#, #"{"a":null}"#, #"{"a":[1]}"#,
            #"{"a":01}"#, #"{"a":"x"} "#, #"{"a":"\ud800"}"#, "{\"a\":\"\u{01}\"}", #"{"a":99999999999999999999}"#,
            #"{"a":"x"#, "", #"{"a":{"b":{"c":{"d":{"e":{}}}}}}"#,
        ])
    func parserRefuses(_ text: String) {
        #expect(AuditJSON.parse(Array(text.utf8)) == nil)
    }

    @Test("a record's line is the generic canonical encoding of its members, escapes and all")
    func recordLineIsCanonical() throws {
        let samples: [[String: AuditValue]] = [
            [:],
            ["status": .int(200), "provider": "openai", "z": "last", "a": .int(-7)],
            ["quote": "say \"hi\"\\ now", "control": "tab\tnew\nline\u{01}\u{1F}", "unicode": "héllo ✓ 𝄞", "slash": "a/b"],
        ]
        for (index, fields) in samples.enumerated() {
            let record = AuditRecord(
                seq: index + 1, time: "2026-11-26T00:00:00.000Z", kind: "request", actor: "front \"x\"", fields: AuditFields(fields),
                prev: String(repeating: "0", count: 64))
            let members: [String: AuditJSON] = [
                "seq": .int(Int64(index + 1)), "time": .string(record.time), "kind": .string(record.kind),
                "actor": .string(record.actor), "fields": .object(fields.mapValues(\.json)), "prev": .string(record.prev),
            ]
            var withHash = members
            withHash["hash"] = .string(record.hash)
            #expect(record.line == AuditJSON.object(withHash).canonical)
            #expect(record.hash == Hex.encode(SHA256.hash(data: AuditJSON.object(members).canonical)))
            #expect(AuditRecord.parse(line: record.line)?.line == record.line)
        }
    }

    @Test("the writer's one-pass encoding gives the same line and hash as the record's own")
    func chainedEncoding() {
        let fields: AuditFields = ["b": "two", "a": .int(1), "é": "accent", "B": "upper", "a.b": "dot"]
        let (record, line) = AuditRecord.chained(
            seq: 42, time: "2026-11-27T05:00:00.123Z", kind: "egress.request", actor: "keyholder", fields: fields,
            prev: String(repeating: "a", count: 64))
        #expect(line == record.line)
        #expect(record.hash == record.computedHash)
        #expect(AuditRecord.parse(line: line) == record)
    }

    @Test("fields keep one value per name; equality and hashing ignore the order they were set in")
    func fieldsSemantics() {
        var fields: AuditFields = ["b": "two", "a": .int(1)]
        fields["c"] = "three"
        fields["a"] = .int(2)
        #expect(fields.count == 3)
        #expect(fields["a"] == .int(2))
        fields["b"] = nil
        fields["missing"] = nil
        #expect(fields.count == 2)
        #expect(fields["b"] == nil)
        #expect(Array(fields.map(\.key)) == ["a", "c"])
        let reordered: AuditFields = ["c": "three", "a": .int(2)]
        #expect(fields == reordered)
        #expect(fields.hashValue == reordered.hashValue)
        #expect(fields != ["c": "three", "a": .int(3)])
        #expect(fields != ["c": "three"])
        #expect(AuditFields(fields.dictionary) == fields)
        #expect(fields.dictionary == ["a": .int(2), "c": "three"])
    }

    @Test("canonical order is UTF-8 byte order, for a record's few keys and for large objects")
    func canonicalOrder() {
        var generator = SystemRandomNumberGenerator()
        // Keys that share long prefixes, differ past eight bytes, hold NULs and non-ASCII, and end early.
        let alphabet: [String] = ["a", "b", "_", ".", "\u{0}", "é", "𝄞", "completion_", "prompt_tokens"]
        for count in [0, 1, 2, 5, 16, 32, 33, 200] {
            var keys = Set<String>()
            while keys.count < count {
                keys.insert((0..<Int.random(in: 1...4, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }.joined())
            }
            let shuffled = keys.shuffled(using: &generator)
            let ordered = AuditJSON.canonicalOrder(of: shuffled).map { shuffled[$0] }
            #expect(ordered == shuffled.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, "\(count) keys")
        }
    }

    @Test("keys sort byte by byte in UTF-8")
    func keyOrder() {
        let keys = ["", "a", "A", "ab", "a.b", "a-b", "a_b", "é", "e", "z", "zz", "𝄞", "\u{7F}", "ﬀ", "0", "a\u{0}"]
        for left in keys {
            for right in keys {
                #expect(AuditJSON.precedes(left, right) == left.utf8.lexicographicallyPrecedes(right.utf8), "\(left) \(right)")
            }
        }
    }

    /// Dates a tenth of a millisecond past a whole millisecond, so representation error cannot move the digit
    /// (Foundation truncates to the millisecond on this toolchain; newer ones round to the nearest).
    @Test("record times read as Foundation's ISO 8601 with milliseconds writes them")
    func timeFormat() {
        var generator = SystemRandomNumberGenerator()
        var milliseconds: [Int64] = [0, 999, 951_782_400_000, 4_107_542_399_999, 7_258_118_399_999, 7_258_118_400_000]
        for _ in 0..<10_000 { milliseconds.append(Int64.random(in: 0..<7_300_000_000_000, using: &generator)) }
        for value in milliseconds {
            let date = Date(timeIntervalSince1970: Double(value) / 1000 + 0.000_1)
            let expected = date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
            #expect(AuditRecord.formatTime(date) == expected, "\(value)")
        }
        #expect(AuditRecord.formatTime(Date(timeIntervalSince1970: 1_798_761_599.999_9)) == "2026-12-31T23:59:59.999Z")
    }

    @Test("escaped input parses to the same string")
    func parserEscapes() {
        #expect(AuditJSON.parse(Array(#""\u00e9\/\ud83d\udd11""#.utf8)) == .string("é/🔑"))
    }

    // MARK: Signing key and checkpoint format

    @Test("checkpoints are C2SP signed notes whose signature verifies over the body")
    func signedNoteFormat() throws {
        try withTemporaryState { state in
            try auditWriteRecords(state, count: 3)
            let paths = AuditPaths(state: state)
            let note = try String(contentsOf: paths.latestCheckpoint, encoding: .utf8)
            let key = try AuditSigningKey.loadOrCreate(in: state)
            let lines = note.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == 6)
            #expect(lines[0] == key.name && key.name.hasPrefix("gatehouse/audit/"))
            #expect(lines[1] == "3")
            var tree = AuditMerkleTree()
            for line in try auditLogLines(state) { tree.append(line: Data(line.utf8)) }
            #expect(lines[2] == Data(tree.root).base64EncodedString())
            #expect(lines[3] == "" && lines[5] == "")
            let signatureLine = String(lines[4])
            #expect(signatureLine.hasPrefix("\u{2014} \(key.name) "))
            let blob = try #require(Data(base64Encoded: String(signatureLine.split(separator: " ")[2])))
            #expect(blob.count == 68)
            // Key hash = SHA-256(name || "\n" || 0x01 || public key)[:4].
            let publicKey = key.privateKey.publicKey.rawRepresentation
            let expectedHash = SHA256.hash(data: Data(key.name.utf8) + [0x0A, 0x01] + publicKey).prefix(4)
            #expect(Array(blob.prefix(4)) == Array(expectedHash))
            let body = Data("\(lines[0])\n\(lines[1])\n\(lines[2])\n".utf8)
            #expect(key.privateKey.publicKey.isValidSignature(blob.dropFirst(4), for: body))
            // audit.pub is the verifier key: name+hash+base64(0x01 || key).
            let vkey = try String(contentsOf: paths.publicKey, encoding: .utf8)
            #expect(
                vkey == "\(key.name)+\(Hex.encode(expectedHash))+\((Data([0x01]) + publicKey).base64EncodedString())\n")
            #expect(try mode(of: paths.publicKey) == 0o644)
        }
    }

    @Test("the audit key is created once, reloaded, and distinct from the token authority's key")
    func signingKeyLifecycle() throws {
        try withTemporaryState { state in
            let first = try AuditSigningKey.loadOrCreate(in: state)
            let again = try AuditSigningKey.loadOrCreate(in: state)
            #expect(first.verifierKey == again.verifierKey)
            let authority = try TokenAuthority.loadOrCreate(in: state)
            #expect(authority.publicKey.rawRepresentation != first.verifierKey.publicKey)
            #expect(!String(describing: first).contains(first.privateKey.rawRepresentation.base64EncodedString()))
            let paths = AuditPaths(state: state)
            let keyText = try String(contentsOf: paths.signingKey, encoding: .utf8)
            #expect(keyText.hasPrefix("PRIVATE+KEY+\(first.name)+\(first.verifierKey.keyHashHex)+"))
            // A key file others can read is refused; so is a public key that does not match.
            try setMode(0o644, of: paths.signingKey)
            #expect(auditErrorCode { _ = try AuditSigningKey.loadOrCreate(in: state) } == "insecure_permissions")
            try setMode(0o600, of: paths.signingKey)
            let other = try AuditSigningKey(privateKey: Curve25519.Signing.PrivateKey())
            try Data(other.verifierKey.vkey.utf8).write(to: paths.publicKey)
            #expect(auditErrorCode { _ = try AuditSigningKey.loadOrCreate(in: state) } == "invalid_file")
        }
    }

    @Test("verifier keys round-trip and refuse a wrong key hash")
    func verifierKeyParsing() throws {
        let key = try AuditSigningKey(privateKey: Curve25519.Signing.PrivateKey()).verifierKey
        #expect(try AuditVerifierKey(vkey: key.vkey) == key)
        let wrongHash = key.vkey.replacingOccurrences(of: "+\(key.keyHashHex)+", with: "+00000000+")
        #expect(auditErrorCode { _ = try AuditVerifierKey(vkey: wrongHash) } == "invalid_public_key")
        #expect(auditErrorCode { _ = try AuditVerifierKey(vkey: "name+abc") } == "invalid_public_key")
    }

    // MARK: Field checks

    @Test(
        "credential-shaped values are refused",
        arguments: [
            "sk-fake-test-0000", "sk-proj-abcdefghijklmnop", "sk-ant-api03-abcdefghijklmnop",
            "ghp_abcdefghijklmnop1234",
            "github_pat_11ABCDEFG0123456789", "xoxb-1234-5678-abcdefgh", "AKIAIOSFODNN7EXAMPLE",
            "AIzaSyA-1234567890abcdefgh",
            "hf_abcdefghijklmnopqrstu", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl", "Bearer abcdefgh12345678",
            "Authorization: Basic dXNlcjpwYXNzd29yZA==", "key=sk-live-1234567890", "-----BEGIN PRIVATE KEY-----",
            "PRIVATE+KEY+gatehouse/audit/1+abcd+AQ", "Zm9vYmFyYmF6cXV4UVVVWDEyMzQ1Njc4OTBhYmNk",
        ])
    func refusesCredentialShapes(_ value: String) throws {
        #expect(AuditValue.isCredentialShaped(value))
        #expect(auditErrorCode { _ = try AuditValue.checked(value) } == "credential_shaped_value")
        try withTemporaryState { state in
            let writer = try AuditWriter.open(state: state, actor: "test", options: auditManualFlush)
            do {
                try writer.append(.request, fields: ["model": "sim-gpt", "note": .string(value)])
                Issue.record("the value was accepted")
            } catch let error as AuditError {
                #expect(error.code == "credential_shaped_value")
                #expect(!error.message.contains(value))
                #expect(error.message.contains("'note'"))
            }
            #expect(writer.pendingCount == 0)
            try writer.close()
            let log = try String(contentsOf: AuditPaths(state: state).log, encoding: .utf8)
            #expect(!log.contains(value))
        }
    }

    @Test(
        "ordinary metadata passes the credential check",
        arguments: [
            "sim-gpt", "claude-3-5-sonnet-20241022", "gemini-1.5-pro", "openai-prod", "api.openai.com:443",
            "0123456789abcdef0123456789abcdef",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "E621E1F8-C36C-495A-93FC-0C247A3E6E5F", "/v1/chat/completions", "rate limited: 429", "cli:alice",
            "2025-01-31T12:00:00.123Z", "task-runner", "skip-cache",
        ])
    func acceptsMetadata(_ value: String) {
        #expect(!AuditValue.isCredentialShaped(value), "\(value)")
    }

    @Test("content is recorded as a SHA-256 digest")
    func digestHelper() {
        #expect(
            AuditValue.sha256(utf8: "hello")
                == .string("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"))
    }

    @Test("kinds, actors and field names are checked")
    func recordValidation() throws {
        #expect(throws: AuditError.self) { try AuditKind("Token.Minted") }
        #expect(throws: AuditError.self) { try AuditKind("token..minted") }
        #expect(throws: AuditError.self) { try AuditKind("token.") }
        #expect(try AuditKind("plugin.guardrail_blocked").rawValue == "plugin.guardrail_blocked")
        #expect(auditErrorCode { try AuditRecord.validate(actor: "", fields: [:]) } == "invalid_actor")
        #expect(auditErrorCode { try AuditRecord.validate(actor: "a\nb", fields: [:]) } == "invalid_actor")
        #expect(auditErrorCode { try AuditRecord.validate(actor: "x", fields: ["Model": "a"]) } == "invalid_field")
        #expect(auditErrorCode { try AuditRecord.validate(actor: "x", fields: ["": "a"]) } == "invalid_field")
        let long = AuditValue.string(String(repeating: "a", count: 513))
        #expect(auditErrorCode { try AuditRecord.validate(actor: "x", fields: ["k": long]) } == "invalid_field")
        let many = Dictionary(uniqueKeysWithValues: (0..<33).map { ("f\($0)", AuditValue.int($0)) })
        #expect(auditErrorCode { try AuditRecord.validate(actor: "x", fields: AuditFields(many)) } == "invalid_field")
    }

    @Test("a log that others may write is refused")
    func insecureLog() throws {
        try withTemporaryState { state in
            try auditWriteRecords(state, count: 1)
            try setMode(0o666, of: AuditPaths(state: state).log)
            #expect(
                auditErrorCode { _ = try AuditWriter.open(state: state, actor: "test") } == "insecure_permissions")
        }
    }
}
