import Crypto
import Foundation

/// Verifies caller tokens against trusted Ed25519 public keys.
///
/// Threat assumptions: tokens are attacker-controlled bytes. The verifier holds public keys only, so a compromised
/// gateway cannot mint tokens. Keys come only from the trust store given at construction, never from the token
/// (`jwk`, `jku`, `x5u` and any other extra header member are refused), and only `EdDSA` is accepted, which rules
/// out `none` and algorithm-confusion forgeries. The signature is checked before the claims are parsed. Clock skew
/// between authority and gateway is tolerated up to ``leeway``. See ``TokenFormat`` for the wire format.
public struct TokenVerifier: Sendable {
    private let publicKeys: [String: Curve25519.Signing.PublicKey]
    /// The `aud` a token must carry.
    public let audience: String
    /// How far `exp` and `nbf` may be off, in seconds, to absorb clock skew.
    public let leeway: TimeInterval
    /// Tokens this verifier has already checked (see ``VerifiedTokenCache``).
    let cache = VerifiedTokenCache()

    /// A verifier trusting `publicKeys`, indexed by key id.
    public init(
        publicKeys: [String: Curve25519.Signing.PublicKey],
        audience: String = TokenFormat.defaultAudience,
        leeway: TimeInterval = 30
    ) {
        self.publicKeys = publicKeys
        self.audience = audience
        self.leeway = max(0, leeway)
    }

    /// The ids of the trusted keys, sorted.
    public var keyIDs: [String] { publicKeys.keys.sorted() }

    /// Builds a verifier from `trust/*.pub` in the state directory; reads nothing else.
    ///
    /// Each file holds base64 of a raw 32-byte Ed25519 public key and is named after its key id. A file writable by
    /// group or others is refused (anyone who can add a key there can mint tokens). Throws ``StateError`` with code
    /// `no_trusted_keys` when there is no key to trust.
    public static func load(
        from state: StateDirectory,
        audience: String = TokenFormat.defaultAudience,
        leeway: TimeInterval = 30
    ) throws -> TokenVerifier {
        let directory = state.trustDirectory
        var keys: [String: Curve25519.Signing.PublicKey] = [:]
        for entry in try FileSystem.entries(of: directory) ?? [] where entry.hasSuffix(".pub") {
            let kid = String(entry.dropLast(4))
            guard TokenFormat.isValidKeyID(kid) else { continue }
            let file = directory.appendingPathComponent(entry)
            guard let data = try FileSystem.readFile(file, maxBytes: 256, exposure: .notWritableByOthers) else {
                continue
            }
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let raw = Data(base64Encoded: text), raw.count == 32,
                let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
            else {
                throw StateError.invalidFile(file.path, "expected base64 of a 32-byte Ed25519 public key")
            }
            keys[kid] = key
        }
        guard !keys.isEmpty else {
            throw StateError(
                code: "no_trusted_keys",
                message: "no trusted token keys in '\(directory.path)'; run `gatehouse token mint` to create the "
                    + "token authority, or copy its <kid>.pub there"
            )
        }
        return TokenVerifier(publicKeys: keys, audience: audience, leeway: leeway)
    }

    /// Verifies a compact token and returns the principal it speaks for.
    ///
    /// Order: size and shape, header, key lookup, signature, then claims (types, issuer, time window, audience).
    public func verify(_ token: some StringProtocol, now: Date = Date()) throws(TokenError) -> Principal {
        guard token.utf8.count <= TokenFormat.maximumLength else { throw .malformed }
        let key = VerifiedTokenCache.key(token)
        let current = now.timeIntervalSince1970
        if let entry = cache.lookup(key) {
            // The signature and claims were verified before; only the time window can have changed.
            guard entry.principal.expiresAt.timeIntervalSince1970 > current - leeway else { throw .expired }
            guard entry.notBefore <= current + leeway else { throw .notYetValid }
            return entry.principal
        }
        let (principal, notBefore) = try verifyUncached(token, now: current)
        cache.store(key, .init(principal: principal, notBefore: notBefore))
        return principal
    }

    /// The full check: shape, header, key, signature, claims and time window.
    func verifyUncached(_ token: some StringProtocol, now current: TimeInterval) throws(TokenError) -> (
        Principal, TimeInterval
    ) {
        let bytes = Array(token.utf8)
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Base64URL.decode(parts[0]) else { throw .malformed }
        let kid = try Self.checkHeader(headerData)
        guard let key = publicKeys[kid] else { throw .unknownKey }
        guard let signatureStart = parts[2].indices.first, let claimsData = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2]), signature.count == 64
        else { throw .malformed }
        let signingInput = bytes[..<(signatureStart - 1)]
        guard key.isValidSignature(signature, for: Data(signingInput)) else { throw .badSignature }

        // Everything below is authenticated: it was signed by a trusted authority.
        let claims: TokenClaims
        do {
            claims = try JSONDecoder().decode(TokenClaims.self, from: claimsData)
        } catch {
            throw .invalidClaims
        }
        guard claims.iss == TokenFormat.issuer, !claims.sub.isEmpty, !claims.jti.isEmpty,
            !claims.models.isEmpty, claims.models.allSatisfy({ ModelPattern($0) != nil }),
            claims.iat <= claims.exp, claims.nbf <= claims.exp
        else { throw .invalidClaims }
        guard TimeInterval(claims.exp) > current - leeway else { throw .expired }
        guard TimeInterval(claims.nbf) <= current + leeway else { throw .notYetValid }
        guard claims.aud == audience else { throw .wrongAudience }

        let principal = Principal(
            subject: claims.sub,
            tokenID: claims.jti,
            modelPatterns: claims.models,
            issuedAt: Date(timeIntervalSince1970: TimeInterval(claims.iat)),
            expiresAt: Date(timeIntervalSince1970: TimeInterval(claims.exp)),
            keyID: kid,
            scopes: Set((claims.scopes ?? []).compactMap(TokenScope.init(rawValue:))),
            guardrails: claims.guardrails,
            limits: TokenLimits(
                team: claims.team, budgetUSD: claims.budget_usd, budgetPeriod: claims.budget_period,
                requestsPerMinute: claims.rpm, tokensPerMinute: claims.tpm)
        )
        return (principal, TimeInterval(claims.nbf))
    }

    /// Accepts exactly `{"alg":"EdDSA","typ":"JWT","kid":…}` (any member order) and returns the kid.
    private static func checkHeader(_ data: Data) throws(TokenError) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: data), let header = object as? [String: Any] else {
            throw .malformed
        }
        guard let alg = header["alg"] as? String, alg == TokenFormat.algorithm else { throw .unsupportedAlgorithm }
        guard Set(header.keys).isSubset(of: TokenFormat.headerMembers) else { throw .unsupportedAlgorithm }
        guard let typ = header["typ"] as? String, typ == "JWT" else { throw .malformed }
        guard let kid = header["kid"] as? String, TokenFormat.isValidKeyID(kid) else { throw .malformed }
        return kid
    }
}
