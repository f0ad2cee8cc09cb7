import Crypto
import Foundation
import Testing

@testable import GatehouseSecurity

/// Obviously fake 32-byte master key: bytes 0x00, 0x01, … 0x1f.
let fakeMasterKeyBytes = (0..<32).map { UInt8($0) }

@Suite("Key-encryption key")
struct KeyEncryptionKeyTests {
    @Test("creates master.key on first use with mode 0600 and reuses it afterwards")
    func generatesFile() throws {
        try withTemporaryState { state in
            let first = try KeyEncryptionKey.load(from: state, environment: [:])
            let second = try KeyEncryptionKey.load(from: state, environment: [:])
            #expect(first.id == second.id)
            #expect(first.source == .file(state.masterKeyFile))
            #expect(try mode(of: state.masterKeyFile) == 0o600)
            #expect(try mode(of: state.url) == 0o700)
            let text = try String(contentsOf: state.masterKeyFile, encoding: .utf8)
            #expect(Data(base64Encoded: text.trimmingCharacters(in: .newlines))?.count == 32)
        }
    }

    @Test(
        "refuses a master.key that group or others can access, naming the path and mode",
        arguments: [0o644, 0o640, 0o604, 0o660])
    func refusesOpenPermissions(fileMode: Int) throws {
        try withTemporaryState { state in
            _ = try KeyEncryptionKey.load(from: state, environment: [:])
            try setMode(fileMode, of: state.masterKeyFile)
            let message = errorMessage { _ = try KeyEncryptionKey.load(from: state, environment: [:]) }
            #expect(
                errorCode { _ = try KeyEncryptionKey.load(from: state, environment: [:]) } == "insecure_permissions")
            #expect(message?.contains(state.masterKeyFile.path) == true)
            #expect(message?.contains("0" + String(fileMode, radix: 8)) == true)
        }
    }

    @Test("refuses a master.key with contents that are not a key, without echoing them")
    func refusesGarbageFile() throws {
        try withTemporaryState { state in
            try state.prepare()
            let junk = "sk-fake-test-0000"
            try Data(junk.utf8).write(to: state.masterKeyFile)
            try setMode(0o600, of: state.masterKeyFile)
            #expect(errorCode { _ = try KeyEncryptionKey.load(from: state, environment: [:]) } == "invalid_master_key")
            #expect(
                errorMessage { _ = try KeyEncryptionKey.load(from: state, environment: [:]) }?.contains(junk) == false)
        }
    }

    static let validEnvironmentValues: [String] = [
        Hex.encode(fakeMasterKeyBytes),
        Hex.encode(fakeMasterKeyBytes).uppercased(),
        Data(fakeMasterKeyBytes).base64EncodedString(),
        Data(fakeMasterKeyBytes).base64EncodedString() + "\n",
        "  " + Hex.encode(fakeMasterKeyBytes) + "\n",
    ]

    @Test("accepts GATEHOUSE_MASTER_KEY as 64 hex digits or base64 of 32 bytes", arguments: validEnvironmentValues)
    func environmentFormats(value: String) throws {
        try withTemporaryState { state in
            let kek = try KeyEncryptionKey.load(from: state, environment: ["GATEHOUSE_MASTER_KEY": value])
            let expected = try KeyEncryptionKey(key: SymmetricKey(data: fakeMasterKeyBytes))
            #expect(kek.id == expected.id)
            #expect(kek.source == .environment)
            #expect(!FileManager.default.fileExists(atPath: state.masterKeyFile.path))
        }
    }

    static let invalidEnvironmentValues: [String] = [
        "",
        "sk-fake-test-0000",
        String(Hex.encode(fakeMasterKeyBytes).dropLast()),
        Hex.encode(fakeMasterKeyBytes) + "00",
        String(repeating: "zz", count: 32),
        Data(fakeMasterKeyBytes.prefix(16)).base64EncodedString(),
        Data(fakeMasterKeyBytes + [0]).base64EncodedString(),
    ]

    @Test("refuses any other GATEHOUSE_MASTER_KEY without echoing it", arguments: invalidEnvironmentValues)
    func environmentRejects(value: String) throws {
        try withTemporaryState { state in
            let load = { _ = try KeyEncryptionKey.load(from: state, environment: ["GATEHOUSE_MASTER_KEY": value]) }
            #expect(errorCode(load) == "invalid_master_key")
            let message = try #require(errorMessage(load))
            #expect(message.contains("GATEHOUSE_MASTER_KEY"))
            if !value.isEmpty { #expect(!message.contains(value)) }
        }
    }

    @Test("the environment takes precedence over master.key")
    func environmentWins() throws {
        try withTemporaryState { state in
            let fromFile = try KeyEncryptionKey.load(from: state, environment: [:])
            let fromEnvironment = try KeyEncryptionKey.load(
                from: state, environment: ["GATEHOUSE_MASTER_KEY": Hex.encode(fakeMasterKeyBytes)])
            #expect(fromFile.id != fromEnvironment.id)
        }
    }

    @Test("the id is an HMAC of a fixed label, not a hash of the key, and is never the key")
    func identifier() throws {
        let kek = try KeyEncryptionKey(key: SymmetricKey(data: fakeMasterKeyBytes))
        let hashPrefix = Hex.encode(SHA256.hash(data: fakeMasterKeyBytes).prefix(4))
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data("gatehouse.kek-id.v1".utf8), using: SymmetricKey(data: fakeMasterKeyBytes))
        #expect(kek.id.count == 8)
        #expect(kek.id != hashPrefix)
        #expect(kek.id == Hex.encode(Data(mac).prefix(4)))
        #expect(!"\(kek)".contains(Hex.encode(fakeMasterKeyBytes)))
        var dumped = ""
        dump(kek, to: &dumped)
        #expect(!dumped.contains("0, 1, 2, 3"))
    }

    @Test("only 256-bit keys are accepted")
    func keySize() {
        #expect(errorCode { _ = try KeyEncryptionKey(key: SymmetricKey(size: .bits128)) } == "invalid_master_key")
    }
}
