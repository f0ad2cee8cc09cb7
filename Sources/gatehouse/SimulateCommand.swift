import ArgumentParser
import Foundation
import GatehouseSimulator
import Logging

/// `gatehouse simulate`: runs the provider simulator until SIGINT/SIGTERM.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Serve the OpenAI, Anthropic and Gemini APIs with deterministic replies and injected faults.",
        discussion: "See docs/simulator.md for the reply contract, control endpoints and fault kinds."
    )

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to bind (0 picks an ephemeral port).")
    var port = 4010

    @Option(name: .customLong("latency-ms"), help: "Delay before a non-streamed response, in milliseconds.")
    var latencyMilliseconds = 0

    @Option(name: .customLong("ttft-ms"), help: "Delay before the first stream event (defaults to --latency-ms).")
    var timeToFirstTokenMilliseconds: Int?

    @Option(help: "Pace of stream content events after the first (0 = no pacing).")
    var tokensPerSecond = 0.0

    @Option(help: "Pad text replies with filler words up to this many words.")
    var replyWords: Int?

    @Option(
        name: .customLong("fault"),
        help: ArgumentHelp(
            "Inject a fault: KIND or KIND:RATE, repeatable, rates adding up to at most 1. "
                + "Kinds: \(SimulateCommand.faultKinds).",
            valueName: "kind[:rate]"))
    var faults: [String] = []

    @Option(help: "Probability (0...1) that a --fault given without a rate applies to a request.")
    var faultRate = 1.0

    @Option(help: "Largest prompt, in words, a chat request may have (default: no limit).")
    var contextWindow: Int?

    @Option(help: "Content events a stream sends before the reset fault drops the connection.")
    var resetAfter = 2

    @Option(name: .customLong("retry-after"), help: "Seconds sent in retry-after with simulated 429s.")
    var retryAfterSeconds = 1

    @Option(name: .customLong("slow-ms"), help: "How long the slow fault waits, in milliseconds.")
    var slowMilliseconds = 5000

    @Option(name: .customLong("api-key"), help: "An accepted API key (repeatable; none = accept any key).")
    var apiKeys: [String] = []

    @Option(
        name: .customLong("api-keys-file"),
        help: "A file of accepted API keys, one per line (keeps them out of the process list, unlike --api-key).")
    var apiKeysFile: String?

    @Option(help: "Seed of the generator deciding when each --fault applies.")
    var seed: UInt64 = 0

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535.") }
        guard latencyMilliseconds >= 0, (timeToFirstTokenMilliseconds ?? 0) >= 0, slowMilliseconds >= 0 else {
            throw ValidationError("Delays must not be negative.")
        }
        guard tokensPerSecond >= 0 else { throw ValidationError("--tokens-per-second must not be negative.") }
        guard (replyWords ?? 1) >= 1 else { throw ValidationError("--reply-words must be at least 1.") }
        guard (0...1).contains(faultRate) else { throw ValidationError("--fault-rate must be in 0...1.") }
        guard retryAfterSeconds >= 0 else { throw ValidationError("--retry-after must not be negative.") }
        guard (contextWindow ?? 1) >= 1 else { throw ValidationError("--context-window must be at least 1.") }
        guard resetAfter >= 0 else { throw ValidationError("--reset-after must not be negative.") }
        let total = try faults.map(Self.faultRule).map { $0.rate ?? faultRate }.reduce(0, +)
        guard total <= 1 + 1e-9 else {
            let shown = (total * 1000).rounded() / 1000
            throw ValidationError("The --fault rates add up to \(shown); they must add up to at most 1.")
        }
    }

    static let faultKinds = SimulatorFault.allCases.map(\.rawValue).joined(separator: ", ")

    /// `KIND` or `KIND:RATE`.
    static func faultRule(_ argument: String) throws -> SimulatorFaultRule {
        let parts = argument.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let kind = SimulatorFault(rawValue: String(parts[0])) else {
            throw ValidationError("Unknown --fault '\(parts[0])'; expected one of \(faultKinds).")
        }
        guard parts.count == 2 else { return SimulatorFaultRule(kind) }
        guard let rate = Double(parts[1]), (0...1).contains(rate) else {
            throw ValidationError("The rate in --fault '\(argument)' must be a number in 0...1.")
        }
        return SimulatorFaultRule(kind, rate: rate)
    }

    /// Keys read from `--api-keys-file` (blank lines ignored).
    var fileKeys: [String] {
        guard let apiKeysFile, let text = try? String(contentsOfFile: apiKeysFile, encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    var options: SimulatorOptions {
        SimulatorOptions(
            host: host,
            port: port,
            latency: .milliseconds(latencyMilliseconds),
            timeToFirstToken: timeToFirstTokenMilliseconds.map { .milliseconds($0) },
            tokensPerSecond: tokensPerSecond,
            replyWords: replyWords,
            faultRate: faultRate,
            faults: faults.compactMap { try? Self.faultRule($0) },
            retryAfterSeconds: retryAfterSeconds,
            slow: .milliseconds(slowMilliseconds),
            apiKeys: apiKeys + fileKeys,
            seed: seed,
            contextWindow: contextWindow,
            resetAfterEvents: resetAfter
        )
    }

    func run() async throws {
        let logger = Logger(label: "gatehouse.simulator")
        let host = self.host
        try await Simulator.run(options: options, logger: logger) { port in
            let line = "gatehouse simulate listening on http://\(host):\(port)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
    }
}
