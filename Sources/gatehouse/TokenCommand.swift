import ArgumentParser
import Foundation
import GatehouseSecurity

/// `gatehouse token …`: mint and inspect caller tokens. Runs on the operator's side, where the signing key lives.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Mint and inspect caller tokens (Ed25519-signed, short-lived, scoped to models).",
        subcommands: [Mint.self, Verify.self, Revoke.self, RotateKey.self]
    )

    struct Mint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mint a token and print it on stdout.",
            discussion: "Creates the token authority's signing key in <state>/authority on first use."
        )

        @Option(help: "Who the token is for (1-128 printable characters).")
        var subject: String

        @Option(help: "Comma-separated model globs the token may use; * matches any run of characters.")
        var models: String = "*"

        @Option(help: "Lifetime: 30s, 15m, 2h, 1d or plain seconds (at most 30d).")
        var ttl: String = "15m"

        @Option(help: "Audience the gateway expects.")
        var audience: String = TokenFormat.defaultAudience

        @Option(
            name: .customLong("scope"),
            help:
                "What else the token may do (repeatable or comma-separated): \(TokenScope.allCases.map(\.rawValue).joined(separator: ", "))."
        )
        var scopes: [String] = []

        @Option(help: "A guardrail policy the token's requests must pass (besides the model's; the stricter applies).")
        var guardrails: String?

        @Option(help: "The caller's team (team budgets and limits in the config apply; usage groups by it).")
        var team: String?

        @Option(name: .customLong("budget-usd"), help: "The most the token may spend, in US dollars (like 0.50).")
        var budgetUSD: String?

        @Option(name: .customLong("budget-period"), help: "When the budget starts again: day, week, month or total.")
        var budgetPeriod: String?

        @Option(help: "Requests per minute the token may make.")
        var rpm: Int64?

        @Option(help: "Tokens (prompt and completion) per minute the token may use.")
        var tpm: Int64?

        var limits: TokenLimits {
            TokenLimits(
                team: team, budgetUSD: budgetUSD, budgetPeriod: budgetPeriod, requestsPerMinute: rpm,
                tokensPerMinute: tpm)
        }

        /// The `--scope` values, split at commas.
        var scopeNames: [String] {
            scopes.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
        }

        @Flag(help: "Print a JSON object instead of the bare token.")
        var json = false

        @OptionGroup var options: StateOptions

        func validate() throws {
            guard TokenLifetime.parse(ttl) != nil else {
                throw ValidationError("--ttl must look like 30s, 15m, 2h, 1d or a number of seconds")
            }
            if let unknown = scopeNames.first(where: { TokenScope(rawValue: $0) == nil }) {
                let known = TokenScope.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("--scope '\(unknown)' is not a scope (expected one of: \(known))")
            }
        }

        func run() throws {
            let patterns = models.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let lifetime = TokenLifetime.parse(ttl) else {
                throw ValidationError("--ttl must look like 30s, 15m, 2h, 1d or a number of seconds")
            }
            let minted: MintedToken
            do {
                let authority = try TokenAuthority.loadOrCreate(in: options.resolve())
                minted = try authority.mint(
                    subject: subject, models: patterns, ttl: lifetime, audience: audience,
                    scopes: scopeNames.compactMap(TokenScope.init(rawValue:)), guardrails: guardrails, limits: limits)
            } catch {
                reportFailure(error)
                throw ExitCode.failure
            }
            // The token itself is never audited: its id, subject, scope and expiry are.
            auditOperatorAction(
                .tokenMinted, state: options.resolve(),
                fields: [
                    "token_id": .string(minted.tokenID), "subject": .string(minted.subject),
                    "models": .string(patterns.joined(separator: ",")), "key_id": .string(authority(of: minted)),
                    "scopes": .string(scopeNames.joined(separator: ",")), "guardrails": .string(guardrails ?? ""),
                    "team": .string(team ?? ""), "budget_usd": .string(budgetUSD ?? ""),
                    "budget_period": .string(budgetUSD == nil ? "" : (budgetPeriod ?? "total")),
                    "rpm": .int(rpm ?? 0), "tpm": .int(tpm ?? 0),
                    "expires_at": .string(minted.expiresAt.formatted(Date.ISO8601FormatStyle())),
                ])
            if json {
                let output = MintOutput(
                    token: minted.token, tokenID: minted.tokenID, subject: minted.subject,
                    expiresAt: minted.expiresAt.formatted(Date.ISO8601FormatStyle()))
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(output), as: UTF8.self))
            } else {
                print(minted.token)
            }
        }

        private struct MintOutput: Encodable {
            let token: String
            let tokenID: String
            let subject: String
            let expiresAt: String

            enum CodingKeys: String, CodingKey {
                case token, subject
                case tokenID = "token_id"
                case expiresAt = "expires_at"
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a token against the trusted keys and show what it allows.",
            discussion: "Prints the refusal code and exits 1 if the token is not accepted."
        )

        @Argument(help: "The token to check, or - to read it from standard input.")
        var token: String

        @Option(help: "Audience the gateway expects.")
        var audience: String = TokenFormat.defaultAudience

        @Option(
            name: .customLong("scope"),
            help:
                "What else the token may do (repeatable or comma-separated): \(TokenScope.allCases.map(\.rawValue).joined(separator: ", "))."
        )
        var scopes: [String] = []

        @Option(help: "A guardrail policy the token's requests must pass (besides the model's; the stricter applies).")
        var guardrails: String?

        /// The `--scope` values, split at commas.
        var scopeNames: [String] {
            scopes.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
        }

        @OptionGroup var options: StateOptions

        func run() throws {
            let verifier: TokenVerifier
            do {
                verifier = try TokenVerifier.load(from: options.resolve(), audience: audience)
            } catch {
                reportFailure(error)
                throw ExitCode.failure
            }
            let presented =
                token == "-"
                ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                : token
            do {
                let principal = try verifier.verify(presented)
                print("subject:    \(principal.subject)")
                print("token id:   \(principal.tokenID)")
                print("models:     \(principal.modelPatterns.joined(separator: ", "))")
                print("issued at:  \(principal.issuedAt.formatted(Date.ISO8601FormatStyle()))")
                print("expires at: \(principal.expiresAt.formatted(Date.ISO8601FormatStyle()))")
                print("key id:     \(principal.keyID ?? "-")")
                let limits = principal.limits
                if let team = limits.team { print("team:       \(team)") }
                if let budget = limits.budgetUSD { print("budget:     $\(budget) per \(limits.budgetPeriod ?? "total")") }
                if let rpm = limits.requestsPerMinute { print("rpm:        \(rpm)") }
                if let tpm = limits.tokensPerMinute { print("tpm:        \(tpm)") }
            } catch {
                FileHandle.standardError.write(Data("refused: \(error.code)\n".utf8))
                throw ExitCode.failure
            }
        }
    }
}

extension TokenCommand {
    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token by id, or every token of a subject issued until now.",
            discussion: "Running gateways using the same state directory refuse the revoked tokens within seconds."
        )

        @Option(help: "The token id (`jti`, shown by `token mint --json` and `token verify`).")
        var id: String?

        @Option(help: "Revoke every token of this subject issued until now.")
        var subject: String?

        @OptionGroup var options: StateOptions

        func validate() throws {
            guard (id == nil) != (subject == nil) else {
                throw ValidationError("give exactly one of --id or --subject")
            }
        }

        func run() throws {
            do {
                let state = options.resolve()
                let list = try RevocationList.revoke(tokenID: id, subject: subject, in: state)
                var fields: AuditFields = [:]
                if let id { fields["token_id"] = .string(id) }
                if let subject { fields["subject"] = .string(subject) }
                auditOperatorAction(.tokenRevoked, state: state, fields: fields)
                if let id { print("revoked token \(id)") }
                if let subject { print("revoked tokens of \(subject) issued until now") }
                print("revocations in force: \(list.tokenIDs.count) token ids, \(list.subjects.count) subjects")
            } catch {
                reportFailure(error)
                throw ExitCode.failure
            }
        }
    }

    struct RotateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Start signing tokens with a new key; tokens signed by the old key verify until they expire."
        )

        @OptionGroup var options: StateOptions

        func run() throws {
            do {
                let state = options.resolve()
                let authority = try TokenAuthority.rotate(in: state)
                auditOperatorAction(
                    try AuditKind("token.key_rotated"), state: state, fields: ["key_id": .string(authority.keyID)])
                print("signing with key \(authority.keyID); running gateways trust it within seconds")
            } catch {
                reportFailure(error)
                throw ExitCode.failure
            }
        }
    }
}

/// The key id in a minted token's header (for the audit record), without parsing anything else.
private func authority(of minted: MintedToken) -> String {
    guard let header = minted.token.split(separator: ".").first else { return "unknown" }
    var base64 = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64 += "=" }
    guard let data = Data(base64Encoded: base64),
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let kid = object["kid"] as? String
    else { return "unknown" }
    return kid
}

/// Writes an operator-facing error line to stderr. Library errors never contain key material.
private func reportFailure(_ error: any Error) {
    FileHandle.standardError.write(Data("gatehouse: \(error)\n".utf8))
}
