import Crypto
import Foundation

/// A failure minting a token or loading the signing key.
public struct TokenAuthorityError: Error, Sendable, Hashable, CustomStringConvertible, LocalizedError {
    /// A stable short code: `invalid_subject`, `invalid_ttl`, `invalid_model_pattern`, `invalid_audience`,
    /// `invalid_signing_key` or `signing_failed`.
    public let code: String
    /// A human-readable explanation for operators.
    public let message: String

    init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
    public var errorDescription: String? { message }
}

/// A freshly minted token and the facts about it worth recording.
///
/// The token is a bearer credential: `description` redacts it so it cannot reach a log by accident.
public struct MintedToken: Sendable, CustomStringConvertible {
    /// The compact JWS to hand to the caller.
    public let token: String
    /// The `jti`, for audit and revocation.
    public let tokenID: String
    /// The `sub`.
    public let subject: String
    /// The `models` patterns.
    public let models: [String]
    /// The `iat`.
    public let issuedAt: Date
    /// The `exp`.
    public let expiresAt: Date

    public var description: String {
        "MintedToken(id: \(tokenID), subject: \(subject), expires: \(Timestamp.format(expiresAt)), token: <redacted>)"
    }
}

/// The token authority: holds an Ed25519 private key and mints caller tokens.
///
/// Threat assumptions: whoever holds this key can mint any token, so it lives only in the operator's CLI
/// (`gatehouse token mint`) and never in the gateway process, which holds public keys only (``TokenVerifier``).
/// The key file is created 0600 inside a 0700 directory and refused if its mode grants group or others any access.
/// `description` never shows key material.
public struct TokenAuthority: Sendable, CustomStringConvertible {
    /// The id of the signing key, written into each token's header.
    public let keyID: String
    let signingKey: Curve25519.Signing.PrivateKey

    /// An authority around an existing key; the key id is derived from the public key.
    public init(signingKey: Curve25519.Signing.PrivateKey) {
        self.signingKey = signingKey
        self.keyID = TokenFormat.keyID(for: signingKey.publicKey)
    }

    /// The public half, for building a ``TokenVerifier``.
    public var publicKey: Curve25519.Signing.PublicKey { signingKey.publicKey }

    public var description: String { "TokenAuthority(kid: \(keyID))" }

    /// Loads the active signing key from `authority/`, or creates one on first use.
    ///
    /// Creating writes `authority/<kid>.key` (0600, base64 of the raw 32-byte key), `trust/<kid>.pub` (0644, base64 of
    /// the raw public key) and finally `authority/current` naming the kid. Concurrent first runs agree on one key.
    public static func loadOrCreate(in state: StateDirectory) throws -> TokenAuthority {
        let authority = try state.prepare(.authority)
        try state.prepare(.trust)
        let current = authority.appendingPathComponent("current")
        if let existing = try load(current: current, state: state) { return existing }

        let created = TokenAuthority(signingKey: Curve25519.Signing.PrivateKey())
        let keyFile = authority.appendingPathComponent("\(created.keyID).key")
        let publicFile = state.trustDirectory.appendingPathComponent("\(created.keyID).pub")
        let privateText = created.signingKey.rawRepresentation.base64EncodedString() + "\n"
        let publicText = created.publicKey.rawRepresentation.base64EncodedString() + "\n"
        try FileSystem.writeAtomically(Data(privateText.utf8), to: keyFile, mode: 0o600, replacing: false)
        try FileSystem.writeAtomically(Data(publicText.utf8), to: publicFile, mode: 0o644, replacing: true)
        do {
            try FileSystem.writeAtomically(
                Data((created.keyID + "\n").utf8), to: current, mode: 0o600, replacing: false)
            return created
        } catch is FileSystem.AlreadyExists {
            // Another process created an authority first; use theirs and drop ours.
            _ = try? FileSystem.removeFile(keyFile)
            _ = try? FileSystem.removeFile(publicFile)
            guard let winner = try load(current: current, state: state) else {
                throw StateError.missingFile(current.path, "the signing key pointer vanished while creating it")
            }
            return winner
        }
    }

    /// Starts signing with a new key: writes it, publishes its public key in `trust/`, then points
    /// `authority/current` at it. Old public keys stay trusted, so tokens already minted verify
    /// until they expire; remove an old `trust/<kid>.pub` to distrust its tokens at once.
    public static func rotate(in state: StateDirectory) throws -> TokenAuthority {
        let authority = try state.prepare(.authority)
        try state.prepare(.trust)
        let created = TokenAuthority(signingKey: Curve25519.Signing.PrivateKey())
        let keyFile = authority.appendingPathComponent("\(created.keyID).key")
        let publicFile = state.trustDirectory.appendingPathComponent("\(created.keyID).pub")
        try FileSystem.writeAtomically(
            Data((created.signingKey.rawRepresentation.base64EncodedString() + "\n").utf8), to: keyFile, mode: 0o600,
            replacing: false)
        try FileSystem.writeAtomically(
            Data((created.publicKey.rawRepresentation.base64EncodedString() + "\n").utf8), to: publicFile, mode: 0o644,
            replacing: true)
        try FileSystem.writeAtomically(
            Data((created.keyID + "\n").utf8), to: authority.appendingPathComponent("current"), mode: 0o600,
            replacing: true)
        return created
    }

    private static func load(current: URL, state: StateDirectory) throws -> TokenAuthority? {
        guard let pointer = try FileSystem.readFile(current, maxBytes: 128, exposure: .notWritableByOthers) else {
            return nil
        }
        let kid = String(decoding: pointer, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard TokenFormat.isValidKeyID(kid) else {
            throw StateError.invalidFile(current.path, "expected a key id like k1a2b3c4d")
        }
        let keyFile = state.authorityDirectory.appendingPathComponent("\(kid).key")
        guard let keyData = try FileSystem.readFile(keyFile, maxBytes: 256, exposure: .privateToOwner) else {
            throw StateError.missingFile(keyFile.path, "'\(current.path)' names signing key \(kid)")
        }
        let text = String(decoding: keyData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let raw = Data(base64Encoded: text), raw.count == 32,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else {
            throw StateError.invalidFile(keyFile.path, "expected base64 of a 32-byte Ed25519 private key")
        }
        let authority = TokenAuthority(signingKey: key)
        guard authority.keyID == kid else {
            throw StateError.invalidFile(keyFile.path, "the key inside does not match its id \(kid)")
        }
        // Make sure the gateway can verify what we mint: restore a missing public key, refuse a conflicting one.
        let publicFile = state.trustDirectory.appendingPathComponent("\(kid).pub")
        let publicText = authority.publicKey.rawRepresentation.base64EncodedString()
        if let published = try FileSystem.readFile(publicFile, maxBytes: 256, exposure: .unchecked) {
            let publishedText = String(decoding: published, as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard publishedText == publicText else {
                throw StateError.invalidFile(publicFile.path, "it does not match signing key \(kid)")
            }
        } else {
            try state.prepare(.trust)
            try FileSystem.writeAtomically(Data((publicText + "\n").utf8), to: publicFile, mode: 0o644, replacing: true)
        }
        return authority
    }

    /// Mints a token for `subject`, valid from `now` for `ttl` seconds, allowing `models`.
    ///
    /// - Parameters:
    ///   - subject: who the token is for; 1–128 printable ASCII characters.
    ///   - models: one or more ``ModelPattern`` globs (at most 64).
    ///   - ttl: the lifetime; more than 0 and at most 30 days. Rounded up to whole seconds.
    ///   - audience: the `aud` claim; 1–128 printable ASCII characters.
    ///   - scopes: what the token may do besides calling models (none for a plain caller).
    public func mint(
        subject: String,
        models: [String],
        ttl: TimeInterval,
        audience: String = TokenFormat.defaultAudience,
        scopes: [TokenScope] = [],
        guardrails: String? = nil,
        limits: TokenLimits = TokenLimits(),
        now: Date = Date()
    ) throws -> MintedToken {
        try Self.validateName(subject, code: "invalid_subject", what: "subject")
        try Self.validateName(audience, code: "invalid_audience", what: "audience")
        if let guardrails {
            try Self.validateName(guardrails, code: "invalid_guardrails", what: "guardrails policy name")
        }
        try Self.validate(limits)
        guard ttl.isFinite, ttl > 0, ttl <= TokenFormat.maximumLifetime else {
            throw TokenAuthorityError(code: "invalid_ttl", message: "ttl must be more than 0 and at most 30 days")
        }
        guard !models.isEmpty, models.count <= 64 else {
            throw TokenAuthorityError(
                code: "invalid_model_pattern", message: "give between 1 and 64 model patterns")
        }
        for (index, pattern) in models.enumerated() where ModelPattern(pattern) == nil {
            let shown = ASCII.isPrintable(pattern) && pattern.utf8.count <= 200 ? " '\(pattern)'" : ""
            throw TokenAuthorityError(
                code: "invalid_model_pattern",
                message: "model pattern \(index + 1)\(shown) must be 1-128 characters from [A-Za-z0-9._:/@*-]"
            )
        }

        let issuedAt = Int64(now.timeIntervalSince1970.rounded(.down))
        let expiresAt = issuedAt + Int64(ttl.rounded(.up))
        let tokenID = FileSystem.randomHex(byteCount: 16)
        let claims = TokenClaims(
            aud: audience, budget_period: limits.budgetUSD == nil ? nil : (limits.budgetPeriod ?? "total"),
            budget_usd: limits.budgetUSD, exp: expiresAt, guardrails: guardrails, iat: issuedAt,
            iss: TokenFormat.issuer, jti: tokenID, models: models, nbf: issuedAt, rpm: limits.requestsPerMinute,
            scopes: scopes.isEmpty ? nil : Array(Set(scopes.map(\.rawValue))).sorted(), sub: subject,
            team: limits.team, tpm: limits.tokensPerMinute)
        let signingInput: String
        let signature: Data
        do {
            signingInput =
                Base64URL.encode(Data(TokenFormat.header(keyID: keyID).utf8)) + "."
                + Base64URL.encode(try claims.canonicalJSON())
            signature = try signingKey.signature(for: Data(signingInput.utf8))
        } catch {
            throw TokenAuthorityError(code: "signing_failed", message: "could not sign the token")
        }
        return MintedToken(
            token: signingInput + "." + Base64URL.encode(signature),
            tokenID: tokenID,
            subject: subject,
            models: models,
            issuedAt: Date(timeIntervalSince1970: TimeInterval(issuedAt)),
            expiresAt: Date(timeIntervalSince1970: TimeInterval(expiresAt))
        )
    }

    private static func validate(_ limits: TokenLimits) throws {
        if let team = limits.team { try validateName(team, code: "invalid_team", what: "team") }
        if let amount = limits.budgetUSD, !TokenLimits.isValidAmount(amount) {
            throw TokenAuthorityError(
                code: "invalid_budget", message: "the budget must be decimal dollars with at most nine places, like 0.50")
        }
        if let period = limits.budgetPeriod {
            guard limits.budgetUSD != nil else {
                throw TokenAuthorityError(code: "invalid_budget", message: "a budget period needs a budget")
            }
            guard TokenLimits.periods.contains(period) else {
                throw TokenAuthorityError(code: "invalid_budget", message: "the budget period must be day, week, month or total")
            }
        }
        for (name, value) in [("rpm", limits.requestsPerMinute), ("tpm", limits.tokensPerMinute)] {
            if let value, !(1...1_000_000_000).contains(value) {
                throw TokenAuthorityError(code: "invalid_limit", message: "\(name) must be from 1 to 1000000000")
            }
        }
    }

    private static func validateName(_ value: String, code: String, what: String) throws {
        guard !value.isEmpty, value.utf8.count <= 128, ASCII.isPrintable(value),
            !value.trimmingCharacters(in: .whitespaces).isEmpty
        else {
            throw TokenAuthorityError(code: code, message: "\(what) must be 1-128 printable ASCII characters")
        }
    }
}
