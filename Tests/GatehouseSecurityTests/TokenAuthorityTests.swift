import Crypto
import Foundation
import Testing

@testable import GatehouseSecurity

@Suite("Token authority")
struct TokenAuthorityTests {
    @Test(
        "refuses to mint with an invalid subject, lifetime, audience or model patterns",
        arguments: [
            ("", ["*"], 60, "gatehouse", "invalid_subject"),
            ("   ", ["*"], 60, "gatehouse", "invalid_subject"),
            (String(repeating: "a", count: 129), ["*"], 60, "gatehouse", "invalid_subject"),
            ("alice\n", ["*"], 60, "gatehouse", "invalid_subject"),
            ("al\u{1b}[31mice", ["*"], 60, "gatehouse", "invalid_subject"),
            ("alice", ["*"], 0, "gatehouse", "invalid_ttl"),
            ("alice", ["*"], -5, "gatehouse", "invalid_ttl"),
            ("alice", ["*"], 30 * 86_400 + 1, "gatehouse", "invalid_ttl"),
            ("alice", ["*"], .infinity, "gatehouse", "invalid_ttl"),
            ("alice", ["*"], .nan, "gatehouse", "invalid_ttl"),
            ("alice", [], 60, "gatehouse", "invalid_model_pattern"),
            ("alice", [""], 60, "gatehouse", "invalid_model_pattern"),
            ("alice", ["gpt 4o"], 60, "gatehouse", "invalid_model_pattern"),
            ("alice", ["gpt-4o", "a?b"], 60, "gatehouse", "invalid_model_pattern"),
            ("alice", [String(repeating: "m", count: 129)], 60, "gatehouse", "invalid_model_pattern"),
            ("alice", ["*"], 60, "", "invalid_audience"),
        ] as [(String, [String], TimeInterval, String, String)]
    )
    func mintValidation(subject: String, models: [String], ttl: TimeInterval, audience: String, code: String) {
        let (authority, _) = makeAuthority()
        #expect(
            errorCode { _ = try authority.mint(subject: subject, models: models, ttl: ttl, audience: audience) } == code
        )
    }

    @Test("mints at the edges of the allowed ranges")
    func mintEdges() throws {
        let (authority, verifier) = makeAuthority()
        let long = try authority.mint(
            subject: "svc:batch-jobs@team.example", models: ["*"], ttl: 30 * 86_400, now: referenceNow)
        #expect(long.expiresAt == referenceNow.addingTimeInterval(30 * 86_400))
        #expect(try verifier.verify(long.token, now: referenceNow).subject == "svc:batch-jobs@team.example")
        let short = try authority.mint(subject: "a", models: ["*"], ttl: 0.2, now: referenceNow)
        #expect(short.expiresAt == referenceNow.addingTimeInterval(1))
    }

    @Test("creates the signing key once, with owner-only files, and publishes its public key")
    func loadOrCreate() throws {
        try withTemporaryState { state in
            let first = try TokenAuthority.loadOrCreate(in: state)
            let second = try TokenAuthority.loadOrCreate(in: state)
            #expect(first.keyID == second.keyID)
            #expect(first.keyID == TokenFormat.keyID(for: first.publicKey))
            let keyFile = state.authorityDirectory.appendingPathComponent("\(first.keyID).key")
            let pubFile = state.trustDirectory.appendingPathComponent("\(first.keyID).pub")
            let current = state.authorityDirectory.appendingPathComponent("current")
            #expect(try mode(of: state.url) == 0o700)
            #expect(try mode(of: state.authorityDirectory) == 0o700)
            #expect(try mode(of: keyFile) == 0o600)
            #expect(try mode(of: current) == 0o600)
            #expect(try mode(of: pubFile) == 0o644)
            #expect(try String(contentsOf: current, encoding: .utf8) == first.keyID + "\n")
            let published = try String(contentsOf: pubFile, encoding: .utf8)
            #expect(published == first.publicKey.rawRepresentation.base64EncodedString() + "\n")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: state.authorityDirectory.path)
            #expect(Set(leftovers) == ["current", "\(first.keyID).key"])
        }
    }

    @Test("a verifier loaded from the trust directory accepts the authority's tokens")
    func verifierFromState() throws {
        try withTemporaryState { state in
            let authority = try TokenAuthority.loadOrCreate(in: state)
            let verifier = try TokenVerifier.load(from: state, audience: "gatehouse")
            #expect(verifier.keyIDs == [authority.keyID])
            let minted = try authority.mint(subject: "bob", models: ["*"], ttl: 60)
            #expect(try verifier.verify(minted.token).subject == "bob")
        }
    }

    @Test("the verifier needs at least one trusted key")
    func verifierWithoutKeys() throws {
        try withTemporaryState { state in
            #expect(errorCode { _ = try TokenVerifier.load(from: state, audience: "gatehouse") } == "no_trusted_keys")
            try state.prepare()
            try FileManager.default.createDirectory(at: state.trustDirectory, withIntermediateDirectories: true)
            #expect(errorCode { _ = try TokenVerifier.load(from: state, audience: "gatehouse") } == "no_trusted_keys")
        }
    }

    @Test("the verifier refuses a trust file that others can write")
    func verifierRefusesWritableTrust() throws {
        try withTemporaryState { state in
            let authority = try TokenAuthority.loadOrCreate(in: state)
            let pubFile = state.trustDirectory.appendingPathComponent("\(authority.keyID).pub")
            try setMode(0o666, of: pubFile)
            #expect(
                errorCode { _ = try TokenVerifier.load(from: state, audience: "gatehouse") } == "insecure_permissions")
        }
    }

    @Test("refuses a signing key file that group or others can read")
    func refusesOpenKeyFile() throws {
        try withTemporaryState { state in
            let authority = try TokenAuthority.loadOrCreate(in: state)
            let keyFile = state.authorityDirectory.appendingPathComponent("\(authority.keyID).key")
            try setMode(0o644, of: keyFile)
            let message = errorMessage { _ = try TokenAuthority.loadOrCreate(in: state) }
            #expect(errorCode { _ = try TokenAuthority.loadOrCreate(in: state) } == "insecure_permissions")
            #expect(message?.contains(keyFile.path) == true)
            #expect(message?.contains("0644") == true)
        }
    }

    @Test("restores a deleted public key and refuses a substituted one")
    func trustConsistency() throws {
        try withTemporaryState { state in
            let authority = try TokenAuthority.loadOrCreate(in: state)
            let pubFile = state.trustDirectory.appendingPathComponent("\(authority.keyID).pub")
            try FileManager.default.removeItem(at: pubFile)
            _ = try TokenAuthority.loadOrCreate(in: state)
            #expect(FileManager.default.fileExists(atPath: pubFile.path))
            let other = Curve25519.Signing.PrivateKey().publicKey.rawRepresentation.base64EncodedString()
            try Data(other.utf8).write(to: pubFile)
            #expect(errorCode { _ = try TokenAuthority.loadOrCreate(in: state) } == "invalid_file")
        }
    }
}

@Suite("Token lifetime")
struct TokenLifetimeTests {
    @Test(
        "parses seconds, minutes, hours, days and plain seconds",
        arguments: [
            ("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86_400), ("900", 900), (" 5m ", 300),
        ] as [(String, TimeInterval)]
    )
    func parses(text: String, seconds: TimeInterval) {
        #expect(TokenLifetime.parse(text) == seconds)
    }

    @Test(
        "rejects anything else",
        arguments: ["", "0", "0m", "-5m", "1.5h", "m", "15x", "1w", "15 m", "٣m", "9999999999"])
    func rejects(text: String) {
        #expect(TokenLifetime.parse(text) == nil)
    }
}

@Suite("State directory")
struct StateDirectoryTests {
    @Test(
        "resolves GATEHOUSE_STATE, then XDG_STATE_HOME, then HOME",
        arguments: [
            (["GATEHOUSE_STATE": "/srv/gh", "XDG_STATE_HOME": "/x", "HOME": "/h"], "/srv/gh"),
            (["GATEHOUSE_STATE": "", "XDG_STATE_HOME": "/x", "HOME": "/h"], "/x/gatehouse"),
            (["XDG_STATE_HOME": "/x/state", "HOME": "/h"], "/x/state/gatehouse"),
            (["XDG_STATE_HOME": "relative", "HOME": "/h"], "/h/.local/state/gatehouse"),
            (["HOME": "/home/alice"], "/home/alice/.local/state/gatehouse"),
        ] as [([String: String], String)]
    )
    func resolves(environment: [String: String], expected: String) {
        #expect(StateDirectory.resolveDefault(environment: environment).url.path == expected)
    }

    @Test("prepare creates missing parents and an owner-only directory, whatever the umask")
    func prepare() throws {
        try withTemporaryState { base in
            let state = StateDirectory(url: base.url.appendingPathComponent("a/b/gatehouse"))
            try state.prepare()
            try state.prepare()
            #expect(try mode(of: state.url) == 0o700)
            try state.prepare(.trust)
            try state.prepare(.keys)
            #expect(try mode(of: state.trustDirectory) == 0o755)
            #expect(try mode(of: state.keysDirectory) == 0o700)
        }
    }

    @Test("prepare refuses a path that is a file")
    func prepareOnFile() throws {
        try withTemporaryState { state in
            try FileManager.default.createDirectory(
                at: state.url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("x".utf8).write(to: state.url)
            #expect(errorCode { try state.prepare() } == "not_a_directory")
        }
    }
}
