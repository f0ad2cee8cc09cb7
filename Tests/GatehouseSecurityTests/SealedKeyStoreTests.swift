import Crypto
import Foundation
import Testing

@testable import GatehouseSecurity

private let fakeKey = "sk-fake-test-0000"

private func makeStore(_ state: StateDirectory, keyBytes: [UInt8] = fakeMasterKeyBytes) throws -> SealedKeyStore {
    SealedKeyStore(state: state, kek: try KeyEncryptionKey(key: SymmetricKey(data: keyBytes)))
}

private func keyFile(_ state: StateDirectory, _ name: String) -> URL {
    state.keysDirectory.appendingPathComponent("\(name).json")
}

private func readJSON(_ url: URL) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
}

private func writeJSON(_ object: [String: Any], to url: URL) throws {
    try JSONSerialization.data(withJSONObject: object).write(to: url)
}

@Suite("Sealed key store")
struct SealedKeyStoreTests {
    @Test("seals and unseals a provider key")
    func roundTrip() throws {
        try withTemporaryState { state in
            let store = try makeStore(state)
            let now = Date(timeIntervalSince1970: 1_750_000_000.75)
            let info = try store.add(name: "openai-prod", secret: Secret(utf8: fakeKey), now: now)
            #expect(info.name == "openai-prod")
            #expect(info.fingerprint == "sha256:" + Hex.encode(SHA256.hash(data: Data(fakeKey.utf8)).prefix(8)))
            #expect(info.fingerprint.count == 7 + 16)
            #expect(info.createdAt == Date(timeIntervalSince1970: 1_750_000_000))
            #expect(info.rotatedAt == nil)
            let unsealed = try store.unseal(name: "openai-prod")
            #expect(unsealed.withUnsafeString { $0 } == fakeKey)
            #expect(try store.info(name: "openai-prod") == info)
        }
    }

    @Test("writes an owner-only file in the documented shape, with no plaintext in it")
    func fileFormat() throws {
        try withTemporaryState { state in
            let store = try makeStore(state)
            try store.add(name: "anthropic", secret: Secret(utf8: fakeKey))
            let file = keyFile(state, "anthropic")
            #expect(try mode(of: file) == 0o600)
            #expect(try mode(of: state.keysDirectory) == 0o700)
            let raw = try String(contentsOf: file, encoding: .utf8)
            #expect(!raw.contains(fakeKey))
            #expect(!raw.contains(Data(fakeKey.utf8).base64EncodedString()))
            let json = try readJSON(file)
            #expect(Set(json.keys) == ["version", "name", "fingerprint", "created_at", "kek_id", "sealed"])
            #expect(json["version"] as? Int == 1)
            #expect(json["name"] as? String == "anthropic")
            #expect(json["kek_id"] as? String == (try KeyEncryptionKey(key: SymmetricKey(data: fakeMasterKeyBytes))).id)
            let sealedText = try #require(json["sealed"] as? String)
            let sealed = try #require(Data(base64Encoded: sealedText))
            #expect(sealed.count == 12 + fakeKey.utf8.count + 16)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: state.keysDirectory.path)
            #expect(leftovers == ["anthropic.json"])
        }
    }

    @Test("removes one trailing newline before sealing", arguments: ["\n", "\r\n"])
    func trailingNewline(suffix: String) throws {
        try withTemporaryState { state in
            let store = try makeStore(state)
            let info = try store.add(name: "k", secret: Secret(utf8: fakeKey + suffix))
            #expect(try store.unseal(name: "k").withUnsafeString { $0 } == fakeKey)
            #expect(info.fingerprint == SealedKeyStore.fingerprint(of: Secret(utf8: fakeKey)))
        }
    }

    @Test(
        "refuses empty keys and keys with whitespace or control characters, without echoing them",
        arguments: [
            "", "\n", "\r\n", "sk-fake test", "sk-fake\nmore", " sk-fake", "sk-fake ", "sk-fake\n\n",
            "sk\tfake", "sk-fake\u{0}", "sk-fäke", "sk-fake\r",
        ]
    )
    func invalidSecrets(material: String) throws {
        try withTemporaryState { state in
            let store = try makeStore(state)
            let add = { _ = try store.add(name: "k", secret: Secret(utf8: material)) }
            #expect(errorCode(add) == "invalid_secret")
            let message = try #require(errorMessage(add))
            if !material.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                #expect(!message.contains(material.trimmingCharacters(in: .whitespacesAndNewlines)))
            }
            #expect(!FileManager.default.fileExists(atPath: keyFile(state, "k").path))
        }
    }

    @Test("refuses to overwrite an existing key unless asked to replace it")
    func alreadyExists() throws {
        try withTemporaryState { state in
            let store = try makeStore(state)
            try store.add(name: "openai", secret: Secret(utf8: fakeKey))
            #expect(
                errorCode { try store.add(name: "openai", secret: Secret(utf8: "sk-fake-test-0001")) }
                    == "already_exists")
            #expect(try store.unseal(name: "openai").withUnsafeString { $0 } == fakeKey)
            try store.add(name: "openai", secret: Secret(utf8: "sk-fake-test-0001"), replace: true)
            #expect(try store.unseal(name: "openai").withUnsafeString { $0 } == "sk-fake-test-0001")
        }
    }

    @Test("rotation keeps the creation date, records the rotation date and replaces the key")
    func rotate() throws {
        try withTemporaryState { state in
            let store = try makeStore(state)
            let created = Date(timeIntervalSince1970: 1_700_000_000)
            let rotated = Date(timeIntervalSince1970: 1_750_000_000)
            let original = try store.add(name: "openai", secret: Secret(utf8: fakeKey), now: created)
            let info = try store.rotate(name: "openai", secret: Secret(utf8: "sk-fake-test-0001"), now: rotated)
            #expect(info.createdAt == created)
            #expect(info.rotatedAt == rotated)
            #expect(info.fingerprint != original.fingerprint)
            #expect(try store.unseal(name: "openai").withUnsafeString { $0 } == "sk-fake-test-0001")
            #expect(try readJSON(keyFile(state, "openai"))["rotated_at"] as? String == "2025-06-15T15:06:40Z")
            #expect(errorCode { try store.rotate(name: "missing", secret: Secret(utf8: fakeKey)) } == "not_found")
        }
    }

    @Test("removes a key, and reports a missing one")
    func remove() throws {
        try withTemporaryState { state in
            let store = try makeStore(state)
            try store.add(name: "openai", secret: Secret(utf8: fakeKey))
            try store.remove(name: "openai")
            #expect(errorCode { _ = try store.unseal(name: "openai") } == "not_found")
            #expect(errorCode { try store.remove(name: "openai") } == "not_found")
        }
    }

    @Test("lists metadata sorted by name, ignoring stray files")
    func list() throws {
        try withTemporaryState { state in
            let store = try makeStore(state)
            #expect(try store.list().isEmpty)
            for name in ["zeta", "alpha", "Mistral", "gemini.v2"] {
                try store.add(name: name, secret: Secret(utf8: "sk-fake-\(name)"))
            }
            try Data("junk".utf8).write(to: state.keysDirectory.appendingPathComponent(".zeta.json.tmp-1234"))
            try Data("junk".utf8).write(to: state.keysDirectory.appendingPathComponent("notes.txt"))
            let infos = try store.list()
            #expect(infos.map(\.name) == ["Mistral", "alpha", "gemini.v2", "zeta"])
            #expect(infos.allSatisfy { $0.fingerprint.hasPrefix("sha256:") })
            #expect(!"\(infos)".contains("sk-fake"))
        }
    }

    @Test("listing needs no master key that matches")
    func listWithOtherKey() throws {
        try withTemporaryState { state in
            try makeStore(state).add(name: "openai", secret: Secret(utf8: fakeKey))
            let other = try makeStore(state, keyBytes: Array(repeating: 0xAB, count: 32))
            #expect(try other.list().map(\.name) == ["openai"])
        }
    }

    @Test("a different master key cannot unseal, and the error names the key but no key bytes")
    func wrongKEK() throws {
        try withTemporaryState { state in
            try makeStore(state).add(name: "openai", secret: Secret(utf8: fakeKey))
            let other = try makeStore(state, keyBytes: Array(repeating: 0xAB, count: 32))
            let unseal = { _ = try other.unseal(name: "openai") }
            #expect(errorCode(unseal) == "unseal_failed")
            let message = try #require(errorMessage(unseal))
            #expect(message.contains("'openai'"))
            #expect(message.contains("master key"))
            #expect(message.contains("modified"))
            #expect(!message.contains(fakeKey))
            #expect(!message.contains(Hex.encode(fakeMasterKeyBytes)))
        }
    }

    @Test("a modified file does not unseal", arguments: ["ciphertext", "nonce", "tag", "fingerprint", "truncated"])
    func tampered(part: String) throws {
        try withTemporaryState { state in
            let store = try makeStore(state)
            try store.add(name: "openai", secret: Secret(utf8: fakeKey))
            let file = keyFile(state, "openai")
            var json = try readJSON(file)
            let sealedText = try #require(json["sealed"] as? String)
            var sealed = try #require(Data(base64Encoded: sealedText))
            switch part {
            case "nonce": sealed[0] ^= 0x01
            case "ciphertext": sealed[14] ^= 0x01
            case "tag": sealed[sealed.count - 1] ^= 0x01
            case "truncated": sealed = sealed.prefix(20)
            default: json["fingerprint"] = "sha256:0000000000000000"
            }
            json["sealed"] = sealed.base64EncodedString()
            try writeJSON(json, to: file)
            #expect(errorCode { _ = try store.unseal(name: "openai") } == "unseal_failed")
        }
    }

    @Test("a file renamed to another key's name does not unseal, even with its name field edited")
    func renamed() throws {
        try withTemporaryState { state in
            let store = try makeStore(state)
            try store.add(name: "cheap", secret: Secret(utf8: fakeKey))
            var json = try readJSON(keyFile(state, "cheap"))
            json["name"] = "premium"
            try writeJSON(json, to: keyFile(state, "premium"))
            #expect(errorCode { _ = try store.unseal(name: "premium") } == "unseal_failed")
            try FileManager.default.moveItem(at: keyFile(state, "cheap"), to: keyFile(state, "other"))
            #expect(errorCode { _ = try store.unseal(name: "other") } == "unseal_failed")
        }
    }

    @Test(
        "rejects names outside [A-Za-z0-9][A-Za-z0-9._-]{0,63}",
        arguments: [
            "", ".hidden", "../etc/passwd", "a/b", "-lead", "_x", "a b", "a\n", "ключ", "a:b", "..",
            String(repeating: "a", count: 65),
        ]
    )
    func badNames(name: String) throws {
        try withTemporaryState { state in
            let store = try makeStore(state)
            #expect(errorCode { try store.add(name: name, secret: Secret(utf8: fakeKey)) } == "invalid_name")
            #expect(errorCode { _ = try store.unseal(name: name) } == "invalid_name")
            #expect(errorCode { try store.remove(name: name) } == "invalid_name")
            #expect(errorCode { try store.rotate(name: name, secret: Secret(utf8: fakeKey)) } == "invalid_name")
        }
    }

    @Test(
        "accepts names within the rule",
        arguments: ["a", "openai", "openai-prod", "A.b_c-1", String(repeating: "z", count: 64)])
    func goodNames(name: String) throws {
        #expect(SealedKeyStore.isValidName(name))
        try withTemporaryState { state in
            try makeStore(state).add(name: name, secret: Secret(utf8: fakeKey))
        }
    }

    @Test("refuses an unknown file version")
    func version() throws {
        try withTemporaryState { state in
            let store = try makeStore(state)
            try store.add(name: "openai", secret: Secret(utf8: fakeKey))
            var json = try readJSON(keyFile(state, "openai"))
            json["version"] = 2
            try writeJSON(json, to: keyFile(state, "openai"))
            #expect(errorCode { _ = try store.unseal(name: "openai") } == "invalid_file")
        }
    }

    @Test("works end to end with the master key loaded from the state directory")
    func withLoadedKEK() throws {
        try withTemporaryState { state in
            let kek = try KeyEncryptionKey.load(from: state, environment: [:])
            try SealedKeyStore(state: state, kek: kek).add(name: "openai", secret: Secret(utf8: fakeKey))
            let reloaded = try KeyEncryptionKey.load(from: state, environment: [:])
            let secret = try SealedKeyStore(state: state, kek: reloaded).unseal(name: "openai")
            #expect(secret.matches(Secret(utf8: fakeKey)))
            #expect(try SealedKeyStore(state: state, kek: reloaded).list().first?.kekID == kek.id)
        }
    }
}
