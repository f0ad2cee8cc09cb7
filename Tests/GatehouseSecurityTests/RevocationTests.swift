import Crypto
import Foundation
import Testing

@testable import GatehouseSecurity

@Suite("Revocation and signing-key rotation")
struct RevocationTests {
    func principal(subject: String = "alice", tokenID: String = "t1", issuedAt: Date) -> Principal {
        Principal(
            subject: subject, tokenID: tokenID, modelPatterns: ["*"], issuedAt: issuedAt,
            expiresAt: issuedAt.addingTimeInterval(600), keyID: nil)
    }

    @Test("a missing list revokes nothing")
    func missingList() throws {
        try withTemporaryState { state in
            let list = try RevocationList.load(from: state)
            #expect(list == .empty)
        }
    }

    @Test("revokes by token id, and by subject for tokens issued until the revocation")
    func revokes() throws {
        try withTemporaryState { state in
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            try RevocationList.revoke(tokenID: "t1", in: state, now: now)
            try RevocationList.revoke(subject: "bob", in: state, now: now)
            let list = try RevocationList.load(from: state)
            #expect(list.isRevoked(principal(tokenID: "t1", issuedAt: now)))
            #expect(!list.isRevoked(principal(tokenID: "t2", issuedAt: now)))
            #expect(list.isRevoked(principal(subject: "bob", tokenID: "t3", issuedAt: now.addingTimeInterval(-60))))
            #expect(!list.isRevoked(principal(subject: "bob", tokenID: "t4", issuedAt: now.addingTimeInterval(5))))
        }
    }

    @Test("forgets token ids once every token they could name has expired")
    func prunes() throws {
        try withTemporaryState { state in
            let then = Date(timeIntervalSince1970: 1_800_000_000)
            try RevocationList.revoke(tokenID: "old", in: state, now: then)
            let later = then.addingTimeInterval(TokenFormat.maximumLifetime + 3600)
            let list = try RevocationList.revoke(tokenID: "new", in: state, now: later)
            #expect(list.tokenIDs.keys.sorted() == ["new"])
        }
    }

    @Test("refuses a malformed list instead of treating it as empty")
    func malformed() throws {
        try withTemporaryState { state in
            try state.prepareRevocations()
            try Data("{\"version\":2}".utf8).write(to: state.revocationsDirectory.appendingPathComponent("list.json"))
            #expect(throws: StateError.self) { try RevocationList.load(from: state) }
        }
    }

    @Test("after rotation, old and new tokens verify and new ones carry the new key id")
    func rotation() throws {
        try withTemporaryState { state in
            let first = try TokenAuthority.loadOrCreate(in: state)
            let old = try first.mint(subject: "s", models: ["*"], ttl: 600)
            let second = try TokenAuthority.rotate(in: state)
            #expect(second.keyID != first.keyID)
            let current = try TokenAuthority.loadOrCreate(in: state)
            #expect(current.keyID == second.keyID)
            let new = try TokenAuthority.loadOrCreate(in: state).mint(subject: "s", models: ["*"], ttl: 600)
            let verifier = try TokenVerifier.load(from: state)
            let oldPrincipal = try verifier.verify(old.token)
            let newPrincipal = try verifier.verify(new.token)
            #expect(oldPrincipal.keyID == first.keyID)
            #expect(newPrincipal.keyID == second.keyID)
        }
    }
}
