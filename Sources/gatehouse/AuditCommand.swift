import ArgumentParser
import Foundation
import GatehouseSecurity

/// `gatehouse audit …`: verify and read the tamper-evident audit log. Works offline, on a copy if need be.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify and read the tamper-evident audit log (hash chain with signed checkpoints).",
        discussion: "See docs/audit.md for the format and what verification does and does not prove.",
        subcommands: [Verify.self, Show.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the whole audit log and its signed checkpoints.",
            discussion: """
                Reports the record count and the last checkpoint, or the first record at which an edit, deletion, \
                insertion, reordering or truncation is detected, and exits 1. Reads <state>/audit/audit.log, or \
                FILE with the checkpoints and audit.pub next to it. For an independent check, give the public key \
                and a checkpoint kept off this machine with --pubkey and --checkpoint.
                """
        )

        @Argument(
            help: ArgumentHelp("An audit log file to check instead of <state>/audit/audit.log.", valueName: "file"))
        var file: String?

        @Option(help: ArgumentHelp("The audit public key (default: audit.pub next to the log).", valueName: "file"))
        var pubkey: String?

        @Option(
            name: .customLong("checkpoint"),
            help: ArgumentHelp(
                "A signed checkpoint kept elsewhere to check against as well (repeatable).", valueName: "file"))
        var checkpoints: [String] = []

        @OptionGroup var options: StateOptions

        func validate() throws {
            guard file == nil || options.state == nil else { throw ValidationError("give --state or FILE, not both") }
        }

        func run() throws {
            let paths =
                file.map { AuditPaths(logFile: URL(fileURLWithPath: $0)) } ?? AuditPaths(state: options.resolve())
            let key: AuditVerifierKey?
            if let pubkey {
                do {
                    guard let loaded = try AuditVerifierKey.load(from: URL(fileURLWithPath: pubkey)) else {
                        throw ValidationError("there is no public key file '\(pubkey)'")
                    }
                    key = loaded
                } catch let error as ValidationError {
                    throw error
                } catch {
                    fail("\(error)")
                }
            } else {
                key = nil
            }
            let result = AuditVerifier.verify(
                paths: paths, publicKey: key, extraCheckpoints: checkpoints.map { URL(fileURLWithPath: $0) })
            if let problem = result.problem {
                let location = problem.record.map { " at record \($0)" } ?? ""
                print("FAILED\(location): \(problem.kind.rawValue): \(problem.message)")
                if problem.kind != .unreadable { print("log: \(paths.log.path) (\(result.recordCount) lines)") }
                throw ExitCode.failure
            }
            let last = result.lastRecordTime.map { ", last at \($0)" } ?? ""
            print("OK: \(result.recordCount) records\(last); hash chain intact")
            if let checkpoint = result.latestCheckpoint {
                let unsigned = result.recordCount - checkpoint.size
                print(
                    "last checkpoint: \(checkpoint.size) records, root \(checkpoint.rootHash.base64EncodedString()), "
                        + "origin \(checkpoint.origin) (\(result.validCheckpoints.count) signed checkpoints checked)")
                if unsigned > 0 {
                    print("records after the last checkpoint: \(unsigned) (protected by the hash chain only)")
                }
            }
            for warning in result.warnings {
                print("warning: \(warning)")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print audit records (unverified; run `gatehouse audit verify` to check them).")

        @Option(help: "Print only the last N records.")
        var tail: Int?

        @Flag(help: "Print the raw JSON lines.")
        var json = false

        @OptionGroup var options: StateOptions

        func validate() throws {
            if let tail, tail < 0 { throw ValidationError("--tail must be 0 or more") }
        }

        func run() throws {
            let paths = AuditPaths(state: options.resolve())
            let lines: [AuditLogReader.Line]
            do {
                lines = try AuditLogReader.lines(of: paths.log, tail: tail)
            } catch {
                fail("\(error)")
            }
            for line in lines {
                if json {
                    print(Self.printable(line.text))
                } else if let record = line.record {
                    let fields = record.fields.keys.sorted().map {
                        "\($0)=\(Self.quoted(record.fields[$0]?.description ?? ""))"
                    }
                    print(
                        ([
                            "#\(record.seq)", record.time, Self.printable(record.kind),
                            "actor=\(Self.quoted(record.actor))",
                        ]
                            + fields).joined(separator: " "))
                } else {
                    print("#\(line.number) (not a record) \(Self.printable(line.text))")
                }
            }
        }

        /// Quotes a value with spaces, quotes or control characters so one record stays one line.
        static func quoted(_ value: String) -> String {
            let plain =
                !value.isEmpty && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "\"" && $0.value != 0x7F }
            if plain { return printable(value) }
            return "\""
                + printable(
                    value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))
                + "\""
        }

        /// Replaces control characters (terminal escapes among them) with `\u{…}`.
        static func printable(_ text: String) -> String {
            var out = ""
            for scalar in text.unicodeScalars {
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
            return out
        }
    }
}

/// Writes an operator-facing error line to stderr and exits 1. Audit errors never contain field values.
private func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("gatehouse: \(message)\n".utf8))
    Foundation.exit(1)
}
