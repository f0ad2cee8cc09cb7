import Foundation
import Testing

@testable import GatehouseSupplyChain

@Suite("minisign keys and prehashed signatures")
struct MinisignTests {
    /// Made by the reference `minisign` 0.11 (`minisign -G -W`, then `minisign -S -t …`) over `fileContents`.
    static let referencePublicKey = """
        untrusted comment: minisign public key 5A6F9C9D49658D0F
        RWQPjWVJnZxvWkqUCzKDXwrzMW7mRVauHLEOHRN4UGZZBApYL44puBa0

        """
    static let referenceSignature = """
        untrusted comment: signature from minisign secret key
        RUQPjWVJnZxvWtKDT0b24aZHxCaIPYAe9Byj4ufC28KbjF9H7Jdk8LtXhZNqVoytA2KL5YW3oTcdv3r8GBB/2Djxen8Om3HinwY=
        trusted comment: timestamp:1700000000\tfile:file.txt\thashed
        kduQjTm2mnZz+Kk8dSr4WMATJKus26rU+n9JnxpaMr84tS5hbgGSvyuSU0oMY6jbizbafL/BWlycVDg0IhhiCQ==

        """
    static let fileContents = Array("Gatehouse release fixture\n".utf8)

    @Test("verifies a signature made by the reference minisign")
    func verifiesReferenceSignature() throws {
        let key = try MinisignPublicKey(text: Self.referencePublicKey)
        #expect(key.keyIDHex == "5A6F9C9D49658D0F")
        let signature = try MinisignSignature(text: Self.referenceSignature)
        #expect(signature.trustedComment == "timestamp:1700000000\tfile:file.txt\thashed")
        try signature.verify(digest: BLAKE2b.hash(Self.fileContents), publicKey: key)
        #expect(signature.fileText == Self.referenceSignature)
        #expect(key.fileText == Self.referencePublicKey)
    }

    @Test("detects a changed file")
    func detectsChangedFile() throws {
        let key = try MinisignPublicKey(text: Self.referencePublicKey)
        let signature = try MinisignSignature(text: Self.referenceSignature)
        var altered = Self.fileContents
        altered[0] ^= 1
        #expect(throws: MinisignError.badSignature) {
            try signature.verify(digest: BLAKE2b.hash(altered), publicKey: key)
        }
    }

    @Test("detects a changed trusted comment")
    func detectsChangedTrustedComment() throws {
        let key = try MinisignPublicKey(text: Self.referencePublicKey)
        let altered = Self.referenceSignature.replacingOccurrences(of: "file:file.txt", with: "file:other.txt")
        let signature = try MinisignSignature(text: altered)
        #expect(throws: MinisignError.badGlobalSignature) {
            try signature.verify(digest: BLAKE2b.hash(Self.fileContents), publicKey: key)
        }
    }

    @Test("refuses another key and a legacy (non-prehashed) signature")
    func refusesOtherKeyAndLegacy() throws {
        let other = try MinisignSecretKey.make().publicKey
        let signature = try MinisignSignature(text: Self.referenceSignature)
        #expect(throws: MinisignError.keyMismatch) {
            try signature.verify(digest: BLAKE2b.hash(Self.fileContents), publicKey: other)
        }
        // "Ed" instead of "ED": base64 of the first bytes changes from RUQ to RWQ.
        let legacy = Self.referenceSignature.replacingOccurrences(of: "\nRUQ", with: "\nRWQ")
        #expect(throws: MinisignError.unsupportedAlgorithm) { try MinisignSignature(text: legacy) }
    }

    @Test("signs and verifies with a generated key, through the file formats")
    func roundTrip() throws {
        let secret = MinisignSecretKey.make()
        let reloaded = try MinisignSecretKey(text: secret.fileText)
        #expect(reloaded.keyID == secret.keyID)
        let publicKey = try MinisignPublicKey(text: try reloaded.publicKey.fileText)
        let digest = BLAKE2b.hash(Array("payload".utf8))
        let signature = try reloaded.sign(digest: digest, trustedComment: "file:payload\thashed")
        let parsed = try MinisignSignature(text: signature.fileText)
        try parsed.verify(digest: digest, publicKey: publicKey)
        #expect(throws: MinisignError.invalidComment) {
            try reloaded.sign(digest: digest, trustedComment: "two\nlines")
        }
    }

    @Test("refuses damaged and password-protected secret keys")
    func refusesBadSecretKeys() throws {
        let text = MinisignSecretKey.make().fileText
        let lines = text.split(separator: "\n")
        var bytes = try #require(Data(base64Encoded: String(lines[1])).map(Array.init))
        var damaged = bytes
        damaged[100] ^= 0xFF
        #expect(throws: MinisignError.secretKeyChecksum) {
            try MinisignSecretKey(text: Data(damaged).base64EncodedString())
        }
        // minisign 0.11 writes unencrypted keys with an all-zero checksum; the public half still has to match.
        var zeroed = bytes
        zeroed.replaceSubrange(126..<158, with: repeatElement(0, count: 32))
        #expect(try MinisignSecretKey(text: Data(zeroed).base64EncodedString()).keyID == Array(bytes[54..<62]))
        zeroed[100] ^= 0xFF
        #expect(throws: MinisignError.malformedSecretKey) {
            try MinisignSecretKey(text: Data(zeroed).base64EncodedString())
        }
        bytes[2] = UInt8(ascii: "S")
        bytes[3] = UInt8(ascii: "c")
        #expect(throws: MinisignError.encryptedSecretKey) {
            try MinisignSecretKey(text: Data(bytes).base64EncodedString())
        }
        #expect(throws: MinisignError.malformedSecretKey) { try MinisignSecretKey(text: "not a key") }
    }
}
