import ArgumentParser

/// The `gatehouse` command: the gateway, its provider simulator, and the operator's
/// tools for tokens and sealed keys.
@main
struct Gatehouse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse",
        abstract: "A zero-trust LLM gateway: OpenAI- and Anthropic-compatible, scoped tokens, sealed provider keys.",
        subcommands: [
            ServeCommand.self, EgressCommand.self, SimulateCommand.self, TokenCommand.self, KeysCommand.self,
            VersionCommand.self, SBOMCommand.self, VerifyReleaseCommand.self, AuditCommand.self, GuardCommand.self,
            UsageCommand.self,
        ]
    )
}
