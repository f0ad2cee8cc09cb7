import ArgumentParser
import Foundation
import GatehouseCore
import GatehousePolicy
import GatehouseServer

/// `gatehouse guard scan`: runs a guardrail policy's scanners offline, on stdin, so that an
/// operator can test a policy before deploying it (and tests can measure it).
struct GuardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guard",
        abstract: "Test guardrail policies offline.",
        subcommands: [Scan.self]
    )

    struct Scan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Scan text from stdin with a policy's scanners and print the verdict as JSON.",
            discussion: "Without --jsonl, all of stdin is one text and one verdict is printed. With --jsonl, "
                + "each line is {\"id\", \"direction\", \"text\"} and gives one line {\"id\", \"verdict\", "
                + "\"findings\": [{\"type\", \"start\", \"end\"}], \"text\"}: the verdict is allow, flag, redact or "
                + "block, offsets count Unicode scalars of the input, and text is the input after redaction. "
                + "Personal data is redacted to placeholders ([EMAIL_1])."
        )

        @Option(help: "A policy file: the mapping that guardrails.policies.NAME holds in the configuration.")
        var policy: String

        @Option(help: "Which of the policy's scanners to run: input or output.")
        var direction: String = "input"

        @Flag(help: "Read one JSON object per line and answer one per line.")
        var jsonl = false

        @Flag(
            help: ArgumentHelp(
                "With --jsonl, print to stderr the CPU time the policy took per line (what the gateway's stage does).",
                discussion: "The median and the 90th percentile of the thread's CPU time around the scanners "
                    + "alone, without reading, parsing or printing the lines."))
        var timing = false

        func validate() throws {
            guard GuardrailDirection(rawValue: direction) != nil else {
                throw ValidationError("--direction must be input or output")
            }
        }

        func run() throws {
            let text: String
            do {
                text = try String(contentsOfFile: policy, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read \(policy): \(error.localizedDescription)")
            }
            let loaded: GuardrailPolicy
            do {
                loaded = try GatewayConfig.parseGuardrailPolicy(text, file: policy)
            } catch {
                FileHandle.standardError.write(Data("gatehouse guard: \(error)\n".utf8))
                throw ExitCode.failure
            }
            if !loaded.webhooks.isEmpty {
                FileHandle.standardError.write(
                    Data("gatehouse guard: the policy's webhooks are not called offline\n".utf8))
            }
            let fallback = GuardrailDirection(rawValue: direction) ?? .input
            let input = FileHandle.standardInput.readDataToEndOfFile()
            guard jsonl else {
                print(
                    Self.verdict(
                        id: nil, text: String(decoding: input, as: UTF8.self), direction: fallback, policy: loaded))
                return
            }
            let bytes = [UInt8](input)
            var costs: [UInt64] = []
            var start = 0
            while start < bytes.count {
                let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
                defer { start = end + 1 }
                guard end > start else { continue }
                guard let object = try? JSONSerialization.jsonObject(with: Data(bytes[start..<end])) as? [String: Any],
                    let text = object["text"] as? String
                else {
                    print(#"{"error":"each line must be a JSON object with a text"}"#)
                    continue
                }
                let lineDirection =
                    (object["direction"] as? String).flatMap(GuardrailDirection.init(rawValue:)) ?? fallback
                if timing { costs.append(Self.cost(of: text, direction: lineDirection, policy: loaded)) }
                print(Self.verdict(id: object["id"], text: text, direction: lineDirection, policy: loaded))
            }
            if timing, !costs.isEmpty {
                costs.sort()
                let median = Double(costs[costs.count / 2]) / 1000
                let p90 = Double(costs[min(costs.count - 1, costs.count * 9 / 10)]) / 1000
                FileHandle.standardError.write(
                    Data(
                        "gatehouse guard: \(costs.count) lines, policy CPU per line: median \(String(format: "%.1f", median)) µs, p90 \(String(format: "%.1f", p90)) µs\n"
                            .utf8))
            }
        }

        /// The thread CPU nanoseconds the policy's rules take on one text, as the gateway's
        /// stage applies them (the best of three runs, so that a preemption does not count).
        static func cost(of text: String, direction: GuardrailDirection, policy: GuardrailPolicy) -> UInt64 {
            let rules = direction == .input ? policy.input : policy.output
            var best = UInt64.max
            for _ in 0..<3 {
                var vault = PlaceholderVault()
                var verdict = GuardrailVerdict()
                let before = threadCPUNanoseconds()
                let cleaned = TextGuard.apply(rules, to: text, direction: direction, vault: &vault, verdict: &verdict)
                let after = threadCPUNanoseconds()
                withExtendedLifetime(cleaned) {}
                best = min(best, after &- before)
            }
            return best
        }

        /// One verdict as a line of JSON.
        static func verdict(id: Any?, text: String, direction: GuardrailDirection, policy: GuardrailPolicy) -> String {
            let rules = direction == .input ? policy.input : policy.output
            let found = TextGuard.findings(rules, in: text)
            var vault = PlaceholderVault()
            var verdict = GuardrailVerdict()
            var cleaned = TextGuard.apply(rules, to: text, direction: direction, vault: &vault, verdict: &verdict)
            var outcome = verdict.action
            if direction == .input, let limit = policy.tokenLimit,
                TokenEstimate.tokens(inUTF8Bytes: text.utf8.count) > limit
            {
                outcome = .block
            }
            if outcome == .block { cleaned = text }
            let scalarOffset = ScalarOffsets(text)
            var findings: [JSONValue] = found.map { item in
                .object([
                    "type": .string(item.finding.type.rawValue),
                    "start": .int(Int64(scalarOffset[item.finding.range.lowerBound])),
                    "end": .int(Int64(scalarOffset[item.finding.range.upperBound])),
                ])
            }
            if outcome == .block, found.isEmpty {
                findings.append(
                    .object(["type": .string(FindingType.tokenLimit.rawValue), "start": .int(0), "end": .int(0)]))
            }
            var object: [String: JSONValue] = [
                "verdict": .string(outcome == .off ? "allow" : outcome.rawValue), "findings": .array(findings),
                "text": .string(cleaned),
            ]
            switch id {
            case let value as String: object["id"] = .string(value)
            case let value as Int: object["id"] = .int(Int64(value))
            case nil: break
            default: object["id"] = .string("\(id.map { "\($0)" } ?? "")")
            }
            return JSONValue.object(object).compactText()
        }
    }
}

/// The calling thread's CPU time.
func threadCPUNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Unicode-scalar offsets of a text's UTF-8 byte offsets.
struct ScalarOffsets {
    private var scalars: [Int]

    init(_ text: String) {
        // A byte offset counts the scalars that start before it.
        var offsets = [Int](repeating: 0, count: text.utf8.count + 1)
        var scalar = 0
        for (index, byte) in text.utf8.enumerated() {
            offsets[index] = scalar
            if byte & 0xC0 != 0x80 { scalar += 1 }
        }
        offsets[text.utf8.count] = scalar
        scalars = offsets
    }

    subscript(byte: Int) -> Int { scalars[min(max(0, byte), scalars.count - 1)] }
}
