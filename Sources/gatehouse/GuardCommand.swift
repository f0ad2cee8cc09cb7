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
            let fallback = GuardrailDirection(rawValue: direction) ?? .input
            let input = FileHandle.standardInput.readDataToEndOfFile()
            guard jsonl else {
                print(
                    Self.verdict(
                        id: nil, text: String(decoding: input, as: UTF8.self), direction: fallback, policy: loaded))
                return
            }
            for line in input.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                    let text = object["text"] as? String
                else {
                    print(#"{"error":"each line must be a JSON object with a text"}"#)
                    continue
                }
                let lineDirection =
                    (object["direction"] as? String).flatMap(GuardrailDirection.init(rawValue:)) ?? fallback
                print(Self.verdict(id: object["id"], text: text, direction: lineDirection, policy: loaded))
            }
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
