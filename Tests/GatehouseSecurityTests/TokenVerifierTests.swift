import Crypto
import Foundation
import Testing

@testable import GatehouseSecurity

/// A named way to damage a valid token, for table-driven refusal tests.
struct Mangle: Sendable, CustomTestStringConvertible {
    let name: String
    let apply: @Sendable (String) -> String
    var testDescription: String { name }
}

private func parts(_ token: String) -> [String] {
    token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
}

@Suite("Token verification")
struct TokenVerifierTests {
    @Test("a minted token verifies and yields its principal")
    func roundTrip() throws {
        let (authority, verifier) = makeAuthority()
        let minted = try authority.mint(
            subject: "alice", models: ["gpt-4o*", "claude-*"], ttl: 900, now: referenceNow)
        let principal = try verifier.verify(minted.token, now: referenceNow.addingTimeInterval(60))
        #expect(principal.subject == "alice")
        #expect(principal.tokenID == minted.tokenID)
        #expect(principal.modelPatterns == ["gpt-4o*", "claude-*"])
        #expect(principal.issuedAt == referenceNow)
        #expect(principal.expiresAt == referenceNow.addingTimeInterval(900))
        #expect(principal.keyID == authority.keyID)
        #expect(principal.allows(model: "gpt-4o-mini"))
        #expect(!principal.allows(model: "o1-preview"))
        // Substrings are accepted too, as HTTP layers often hand them over.
        let bearer = "Bearer " + minted.token
        #expect(try verifier.verify(bearer.dropFirst(7), now: referenceNow).tokenID == minted.tokenID)
    }

    @Test("the header is exactly the documented JSON and the claims are canonical")
    func wireFormat() throws {
        let (authority, _) = makeAuthority()
        let minted = try authority.mint(subject: "alice", models: ["openai/*"], ttl: 60, now: referenceNow)
        let pieces = parts(minted.token)
        #expect(pieces.count == 3)
        let header = try #require(Base64URL.decode(Array(pieces[0].utf8)))
        #expect(String(decoding: header, as: UTF8.self) == #"{"alg":"EdDSA","typ":"JWT","kid":"\#(authority.keyID)"}"#)
        let claims = try #require(Base64URL.decode(Array(pieces[1].utf8)))
        let expected =
            #"{"aud":"gatehouse","exp":1750000060,"iat":1750000000,"iss":"gatehouse","jti":"\#(minted.tokenID)","#
            + #""models":["openai/*"],"nbf":1750000000,"sub":"alice"}"#
        #expect(String(decoding: claims, as: UTF8.self) == expected)
        #expect(minted.tokenID.count == 32)
        #expect(minted.tokenID.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(Base64URL.decode(Array(pieces[2].utf8))?.count == 64)
        #expect(authority.keyID.hasPrefix("k") && authority.keyID.count == 9)
    }

    @Test("each mint gets a fresh token id")
    func uniqueIDs() throws {
        let (authority, _) = makeAuthority()
        let ids = try (0..<20).map { _ in try authority.mint(subject: "a", models: ["*"], ttl: 60).tokenID }
        #expect(Set(ids).count == ids.count)
    }

    @Test("a minted token never appears in its description")
    func mintedTokenRedacted() throws {
        let (authority, _) = makeAuthority()
        let minted = try authority.mint(subject: "alice", models: ["*"], ttl: 60)
        #expect(!"\(minted)".contains(minted.token))
        #expect(!"\(authority)".contains(authority.publicKey.rawRepresentation.base64EncodedString()))
    }

    @Test("refuses an expired token, allowing the clock-skew leeway")
    func expired() throws {
        let (authority, verifier) = makeAuthority()
        let token = try authority.mint(subject: "alice", models: ["*"], ttl: 60, now: referenceNow).token
        #expect(throws: Never.self) { try verifier.verify(token, now: referenceNow.addingTimeInterval(60 + 29)) }
        expectRefusal("expired") { () throws(TokenError) in
            try verifier.verify(token, now: referenceNow.addingTimeInterval(60 + 30))
        }
        expectRefusal("expired") { () throws(TokenError) in
            try verifier.verify(token, now: referenceNow.addingTimeInterval(86_400))
        }
        let strict = TokenVerifier(publicKeys: [authority.keyID: authority.publicKey], leeway: 0)
        expectRefusal("expired") { () throws(TokenError) in
            try strict.verify(token, now: referenceNow.addingTimeInterval(60))
        }
    }

    @Test("refuses a token that is not valid yet, allowing the clock-skew leeway")
    func notYetValid() throws {
        let (authority, verifier) = makeAuthority()
        let token = try authority.mint(subject: "alice", models: ["*"], ttl: 600, now: referenceNow).token
        #expect(throws: Never.self) { try verifier.verify(token, now: referenceNow.addingTimeInterval(-30)) }
        expectRefusal("not_yet_valid") { () throws(TokenError) in
            try verifier.verify(token, now: referenceNow.addingTimeInterval(-31))
        }
    }

    @Test("refuses a token signed by another key under a trusted kid")
    func signedByAnotherKey() throws {
        let (authority, verifier) = makeAuthority()
        let impostor = Curve25519.Signing.PrivateKey()
        let token = try forgeToken(
            header: #"{"alg":"EdDSA","typ":"JWT","kid":"\#(authority.keyID)"}"#,
            claims: claimsJSON(now: referenceNow), signingKey: impostor)
        expectRefusal("bad_signature") { () throws(TokenError) in try verifier.verify(token, now: referenceNow) }
    }

    @Test("refuses a token whose kid is not trusted")
    func unknownKey() throws {
        let (_, verifier) = makeAuthority()
        let (other, _) = makeAuthority()
        let token = try other.mint(subject: "alice", models: ["*"], ttl: 60, now: referenceNow).token
        expectRefusal("unknown_key") { () throws(TokenError) in try verifier.verify(token, now: referenceNow) }
    }

    @Test("refuses a token minted for another audience")
    func wrongAudience() throws {
        let (authority, verifier) = makeAuthority()
        let token = try authority.mint(
            subject: "alice", models: ["*"], ttl: 60, audience: "staging", now: referenceNow
        ).token
        expectRefusal("wrong_audience") { () throws(TokenError) in try verifier.verify(token, now: referenceNow) }
        let staging = TokenVerifier(publicKeys: [authority.keyID: authority.publicKey], audience: "staging")
        #expect(throws: Never.self) { try staging.verify(token, now: referenceNow) }
    }

    @Test("refuses a token whose claims were swapped after signing, before parsing them")
    func tamperedClaims() throws {
        let (authority, verifier) = makeAuthority()
        let token = try authority.mint(subject: "alice", models: ["gpt-4o"], ttl: 60, now: referenceNow).token
        var pieces = parts(token)
        let widened = try claimsJSON(now: referenceNow, overrides: ["models": ["*"]])
        pieces[1] = Base64URL.encode(Data(widened.utf8))
        expectRefusal("bad_signature") { () throws(TokenError) in
            try verifier.verify(pieces.joined(separator: "."), now: referenceNow)
        }
        // Unsigned garbage claims never reach the parser: the signature fails first.
        pieces[1] = Base64URL.encode(Data("not json".utf8))
        expectRefusal("bad_signature") { () throws(TokenError) in
            try verifier.verify(pieces.joined(separator: "."), now: referenceNow)
        }
    }

    static let mangles: [Mangle] = [
        Mangle(name: "empty") { _ in "" },
        Mangle(name: "one part") { _ in "abc" },
        Mangle(name: "two parts") { token in parts(token).prefix(2).joined(separator: ".") },
        Mangle(name: "four parts") { token in token + ".abc" },
        Mangle(name: "only dots") { _ in ".." },
        Mangle(name: "empty signature") { token in parts(token).prefix(2).joined(separator: ".") + "." },
        Mangle(name: "padded signature") { token in token + "==" },
        Mangle(name: "standard base64 characters") { token in token.replacingOccurrences(of: "-", with: "+") + "+/" },
        Mangle(name: "whitespace inside") { token in token.replacingOccurrences(of: ".", with: ". ") },
        Mangle(name: "trailing newline") { token in token + "\n" },
        Mangle(name: "non-canonical base64 tail") { token in
            // A 64-byte signature encodes to 86 chars whose last char carries 2 unused bits; set them.
            var pieces = parts(token)
            let last = pieces[2].removeLast()
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            let index = alphabet.firstIndex(of: last) ?? 0
            pieces[2].append(alphabet[index | 1])
            return pieces.joined(separator: ".")
        },
        Mangle(name: "short signature") { token in
            parts(token).prefix(2).joined(separator: ".") + "." + Base64URL.encode(Data(repeating: 7, count: 10))
        },
        Mangle(name: "header is not JSON") { token in
            ([Base64URL.encode(Data("hello".utf8))] + parts(token).dropFirst()).joined(separator: ".")
        },
        Mangle(name: "header is a JSON array") { token in
            ([Base64URL.encode(Data(#"["EdDSA"]"#.utf8))] + parts(token).dropFirst()).joined(separator: ".")
        },
        Mangle(name: "longer than 4096 bytes") { token in
            let pieces = parts(token)
            return [pieces[0], pieces[1] + String(repeating: "A", count: 4096), pieces[2]].joined(separator: ".")
        },
    ]

    @Test("refuses malformed tokens", arguments: mangles)
    func malformed(mangle: Mangle) throws {
        let (authority, verifier) = makeAuthority()
        let token = try authority.mint(subject: "alice", models: ["*"], ttl: 60, now: referenceNow).token
        expectRefusal("malformed") { () throws(TokenError) in
            try verifier.verify(mangle.apply(token), now: referenceNow)
        }
    }

    @Test(
        "refuses headers that ask for anything but plain EdDSA, even when correctly signed",
        arguments: [
            #"{"alg":"none","typ":"JWT","kid":"KID"}"#,
            #"{"alg":"HS256","typ":"JWT","kid":"KID"}"#,
            #"{"alg":"RS256","typ":"JWT","kid":"KID"}"#,
            #"{"alg":"ES256","typ":"JWT","kid":"KID"}"#,
            #"{"alg":"eddsa","typ":"JWT","kid":"KID"}"#,
            #"{"alg":"Ed25519","typ":"JWT","kid":"KID"}"#,
            #"{"alg":["EdDSA"],"typ":"JWT","kid":"KID"}"#,
            #"{"typ":"JWT","kid":"KID"}"#,
            #"{"alg":"EdDSA","typ":"JWT","kid":"KID","crit":["exp"]}"#,
            #"{"alg":"EdDSA","typ":"JWT","kid":"KID","jwk":{"kty":"OKP","crv":"Ed25519","x":"AAAA"}}"#,
            #"{"alg":"EdDSA","typ":"JWT","kid":"KID","jku":"https://attacker.example/keys.json"}"#,
            #"{"alg":"EdDSA","typ":"JWT","kid":"KID","x5u":"https://attacker.example/cert.pem"}"#,
            #"{"alg":"EdDSA","typ":"JWT","kid":"KID","x5c":["MIIB"]}"#,
            #"{"alg":"EdDSA","typ":"JWT","kid":"KID","b64":false}"#,
        ]
    )
    func unsupportedHeaders(header: String) throws {
        let (authority, verifier) = makeAuthority()
        let forged = try forgeToken(
            header: header.replacingOccurrences(of: "KID", with: authority.keyID),
            claims: claimsJSON(now: referenceNow), signingKey: authority.signingKey)
        expectRefusal("unsupported_algorithm") { () throws(TokenError) in
            try verifier.verify(forged, now: referenceNow)
        }
    }

    @Test("refuses alg none with an empty signature and HS256 keyed with the public key")
    func classicForgeries() throws {
        let (authority, verifier) = makeAuthority()
        let claims = try claimsJSON(now: referenceNow)
        let none = try forgeToken(
            header: #"{"alg":"none","typ":"JWT","kid":"\#(authority.keyID)"}"#, claims: claims, signingKey: nil)
        expectRefusal("unsupported_algorithm") { () throws(TokenError) in try verifier.verify(none, now: referenceNow) }

        let hsHeader = #"{"alg":"HS256","typ":"JWT","kid":"\#(authority.keyID)"}"#
        let input = Base64URL.encode(Data(hsHeader.utf8)) + "." + Base64URL.encode(Data(claims.utf8))
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data(input.utf8), using: SymmetricKey(data: authority.publicKey.rawRepresentation))
        let hs256 = input + "." + Base64URL.encode(Data(mac))
        expectRefusal("unsupported_algorithm") { () throws(TokenError) in try verifier.verify(hs256, now: referenceNow)
        }
    }

    @Test(
        "refuses headers without a usable kid or typ",
        arguments: [
            #"{"alg":"EdDSA","typ":"JWT"}"#,
            #"{"alg":"EdDSA","kid":"KID"}"#,
            #"{"alg":"EdDSA","typ":"JOSE","kid":"KID"}"#,
            #"{"alg":"EdDSA","typ":"JWT","kid":7}"#,
            #"{"alg":"EdDSA","typ":"JWT","kid":"../KID"}"#,
        ]
    )
    func headerWithoutKid(header: String) throws {
        let (authority, verifier) = makeAuthority()
        let forged = try forgeToken(
            header: header.replacingOccurrences(of: "KID", with: authority.keyID),
            claims: claimsJSON(now: referenceNow), signingKey: authority.signingKey)
        expectRefusal("malformed") { () throws(TokenError) in try verifier.verify(forged, now: referenceNow) }
    }

    @Test(
        "refuses correctly signed tokens whose claims are missing or of the wrong type",
        arguments: [
            ("sub", nil), ("jti", nil), ("iat", nil), ("nbf", nil), ("exp", nil), ("aud", nil), ("models", nil),
            ("iss", nil), ("sub", ""), ("iss", "someone-else"), ("exp", "1750000600"), ("iat", true),
            ("nbf", 1.5), ("aud", ["gatehouse"]), ("models", "*"), ("models", [String]()), ("models", ["gpt 4o"]),
            ("models", [1]), ("sub", 42), ("exp", 1_749_999_999),
        ] as [(String, (any Sendable)?)]
    )
    func invalidClaims(member: String, value: (any Sendable)?) throws {
        let (authority, verifier) = makeAuthority()
        let forged = try forgeToken(
            header: TokenFormat.header(keyID: authority.keyID),
            claims: claimsJSON(now: referenceNow, overrides: [member: value]),
            signingKey: authority.signingKey)
        expectRefusal("invalid_claims") { () throws(TokenError) in try verifier.verify(forged, now: referenceNow) }
    }

    @Test("refuses correctly signed claims that are not JSON")
    func signedGarbage() throws {
        let (authority, verifier) = makeAuthority()
        let forged = try forgeToken(
            header: TokenFormat.header(keyID: authority.keyID), claims: "not json",
            signingKey: authority.signingKey)
        expectRefusal("invalid_claims") { () throws(TokenError) in try verifier.verify(forged, now: referenceNow) }
    }

    @Test("accepts header members in any order and ignores unknown claims")
    func tolerantOrder() throws {
        let (authority, verifier) = makeAuthority()
        let forged = try forgeToken(
            header: #"{"kid":"\#(authority.keyID)","typ":"JWT","alg":"EdDSA"}"#,
            claims: claimsJSON(now: referenceNow, overrides: ["extra": "ignored"]),
            signingKey: authority.signingKey)
        #expect(try verifier.verify(forged, now: referenceNow).subject == "alice")
    }

    @Test("error codes are stable strings")
    func codes() {
        let all: [TokenError] = [
            .malformed, .unsupportedAlgorithm, .unknownKey, .badSignature, .expired, .notYetValid, .wrongAudience,
            .invalidClaims,
        ]
        #expect(
            all.map(\.code) == [
                "malformed", "unsupported_algorithm", "unknown_key", "bad_signature", "expired", "not_yet_valid",
                "wrong_audience", "invalid_claims",
            ])
    }
}

@Suite("Verified token cache")
struct VerifiedTokenCacheTests {
    @Test("a token verified once is served from the cache, with its time window checked on every hit")
    func hits() throws {
        let (authority, verifier) = makeAuthority()
        let minted = try authority.mint(subject: "alice", models: ["*"], ttl: 600, now: referenceNow)
        #expect(try verifier.verify(minted.token, now: referenceNow).tokenID == minted.tokenID)
        #expect(verifier.cache.count == 1)
        #expect(try verifier.verify(minted.token, now: referenceNow.addingTimeInterval(10)).tokenID == minted.tokenID)
        #expect(verifier.cache.count == 1)
        #expect(throws: TokenError.expired) {
            try verifier.verify(minted.token, now: referenceNow.addingTimeInterval(600 + verifier.leeway + 1))
        }
        #expect(throws: TokenError.notYetValid) {
            try verifier.verify(minted.token, now: referenceNow.addingTimeInterval(-verifier.leeway - 5))
        }
    }

    @Test("a token differing by one byte from a cached one is verified in full, and refused")
    func forgeryMisses() throws {
        let (authority, verifier) = makeAuthority()
        let minted = try authority.mint(subject: "alice", models: ["*"], ttl: 600, now: referenceNow)
        _ = try verifier.verify(minted.token, now: referenceNow)
        var bytes = Array(minted.token.utf8)
        let index = bytes.count - 10
        bytes[index] = bytes[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: TokenError.badSignature) {
            try verifier.verify(String(decoding: bytes, as: UTF8.self), now: referenceNow)
        }
        #expect(verifier.cache.count == 1)
    }

    @Test("refused tokens are never cached, and a full cache starts over")
    func capacity() throws {
        let cache = VerifiedTokenCache(capacity: 2)
        let principal = Principal(
            subject: "s", tokenID: "t", modelPatterns: ["*"], issuedAt: referenceNow, expiresAt: referenceNow, keyID: nil)
        for token in ["a", "b", "c"] { cache.store(VerifiedTokenCache.key(token), .init(principal: principal, notBefore: 0)) }
        #expect(cache.count == 1)
        #expect(cache.lookup(VerifiedTokenCache.key("c")) != nil)
        let (_, verifier) = makeAuthority()
        #expect(throws: TokenError.self) { try verifier.verify("x.y.z", now: referenceNow) }
        #expect(verifier.cache.count == 0)
    }
}
