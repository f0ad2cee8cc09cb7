import Crypto
import Foundation
import Testing

@testable import GatehouseSecurity

/// Runs `body` with a fresh state directory under a unique temporary directory, removed afterwards.
@discardableResult
func withTemporaryState<R>(_ body: (StateDirectory) throws -> R) throws -> R {
    let root = FileManager.default.temporaryDirectory
        .appendingPathComponent("gatehouse-security-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    return try body(StateDirectory(url: root.appendingPathComponent("state", isDirectory: true)))
}

/// The permission bits of a file, as `0o600`-style integers.
func mode(of url: URL) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
    let value = try #require(attributes[.posixPermissions] as? NSNumber)
    return value.intValue & 0o7777
}

func setMode(_ mode: Int, of url: URL) throws {
    try FileManager.default.setAttributes([.posixPermissions: NSNumber(value: mode)], ofItemAtPath: url.path)
}

/// Builds a compact JWS from raw header and claims JSON, signed with `key` (or with `signature` bytes verbatim).
func forgeToken(
    header: String, claims: String, signingKey: Curve25519.Signing.PrivateKey?, signature: Data? = nil
) throws -> String {
    let input = Base64URL.encode(Data(header.utf8)) + "." + Base64URL.encode(Data(claims.utf8))
    let sig: Data
    if let signature {
        sig = signature
    } else if let signingKey {
        sig = try signingKey.signature(for: Data(input.utf8))
    } else {
        sig = Data()
    }
    return input + "." + Base64URL.encode(sig)
}

/// Claims JSON with every required member valid for `now`; `overrides` replace or remove (`nil`) members.
func claimsJSON(now: Date, overrides: [String: (any Sendable)?] = [:]) throws -> String {
    let issuedAt = Int(now.timeIntervalSince1970)
    var claims: [String: Any] = [
        "iss": "gatehouse", "sub": "alice", "jti": "0123456789abcdef0123456789abcdef", "iat": issuedAt,
        "nbf": issuedAt, "exp": issuedAt + 600, "aud": "gatehouse", "models": ["*"],
    ]
    for (key, value) in overrides {
        claims[key] = value
    }
    let data = try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}

/// A fixed clock so time-window tests are exact.
let referenceNow = Date(timeIntervalSince1970: 1_750_000_000)

/// An in-memory authority and a verifier that trusts it.
func makeAuthority() -> (TokenAuthority, TokenVerifier) {
    let authority = TokenAuthority(signingKey: Curve25519.Signing.PrivateKey())
    let verifier = TokenVerifier(publicKeys: [authority.keyID: authority.publicKey])
    return (authority, verifier)
}

/// Asserts `body` throws a ``TokenError`` with `code`.
func expectRefusal(
    _ code: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws(TokenError) -> Principal
) {
    do {
        let principal = try body()
        Issue.record(
            "expected refusal \(code), but the token verified for \(principal.subject)",
            sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, sourceLocation: sourceLocation)
    }
}

/// Returns the `code` of the error `body` throws, or nil if it does not throw.
func errorCode(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as KeyStoreError {
        return error.code
    } catch let error as StateError {
        return error.code
    } catch let error as TokenAuthorityError {
        return error.code
    } catch {
        return "unexpected: \(error)"
    }
}

/// Returns the message of the error `body` throws, or nil.
func errorMessage(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return String(describing: error)
    }
}
