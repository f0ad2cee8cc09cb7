import ArgumentParser
import Foundation
import GatehouseSecurity

/// `gatehouse keys …`: manage provider keys sealed at rest under the master key.
///
/// Keys are read from stdin or a named environment variable, never from an argument (arguments show up in `ps`
/// and shell history), and are never printed: only names and fingerprints are.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage provider keys sealed at rest (AES-256-GCM under the master key).",
        discussion: """
            The master key comes from $GATEHOUSE_MASTER_KEY (64 hex digits or base64 of 32 bytes) or from \
            <state>/master.key, which is created with mode 0600 on first use.
            """,
        subcommands: [Add.self, List.self, Rotate.self, Remove.self]
    )

    /// Where to read a key from: exactly one of `--stdin` or `--from-env VAR`.
    struct SecretSource: ParsableArguments {
        @Flag(help: "Read the key from standard input (one trailing newline is ignored).")
        var stdin = false

        @Option(
            name: .customLong("from-env"),
            help: ArgumentHelp("Read the key from this environment variable.", valueName: "var"))
        var fromEnvironment: String?

        func validate() throws {
            guard stdin != (fromEnvironment != nil) else {
                throw ValidationError(
                    "give exactly one of --stdin or --from-env VAR; keys are never taken as arguments")
            }
        }

        func read() throws -> Secret {
            if let variable = fromEnvironment {
                guard let value = ProcessInfo.processInfo.environment[variable] else {
                    throw InputError(description: "environment variable \(variable) is not set")
                }
                return Secret(utf8: value)
            }
            if isatty(STDIN_FILENO) == 1 {
                FileHandle.standardError.write(Data("Paste the key, then press Ctrl-D:\n".utf8))
            }
            var data = FileHandle.standardInput.readDataToEndOfFile()
            defer { data.resetBytes(in: 0..<data.count) }
            return Secret(bytes: data)
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Seal a new provider key.")

        @Argument(help: "Key name: 1-64 characters from [A-Za-z0-9._-], starting with a letter or digit.")
        var name: String

        @OptionGroup var source: SecretSource

        @Flag(help: "Overwrite a key that already exists under this name.")
        var replace = false

        @OptionGroup var options: StateOptions

        func run() throws {
            let info = try runReportingFailures {
                let secret = try source.read()
                return try makeStore(options).add(name: name, secret: secret, replace: replace)
            }
            auditOperatorAction(
                .keyAdded, state: options.resolve(), fields: ["name": .string(info.name), "fingerprint": .string(info.fingerprint)])
            print("sealed \(info.name) \(info.fingerprint)")
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace an existing provider key, keeping its name.")

        @Argument(help: "Name of an existing key.")
        var name: String

        @OptionGroup var source: SecretSource

        @OptionGroup var options: StateOptions

        func run() throws {
            let info = try runReportingFailures {
                let secret = try source.read()
                return try makeStore(options).rotate(name: name, secret: secret)
            }
            auditOperatorAction(
                .keyRotated, state: options.resolve(), fields: ["name": .string(info.name), "fingerprint": .string(info.fingerprint)])
            print("rotated \(info.name) \(info.fingerprint)")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a sealed provider key.")

        @Argument(help: "Name of the key to delete.")
        var name: String

        @OptionGroup var options: StateOptions

        func run() throws {
            try runReportingFailures { try makeStore(options).remove(name: name) }
            auditOperatorAction(.keyRemoved, state: options.resolve(), fields: ["name": .string(name)])
            print("removed \(name)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List sealed provider keys (names and fingerprints only).")

        @Flag(help: "Print a JSON array instead of a table.")
        var json = false

        @OptionGroup var options: StateOptions

        func run() throws {
            let infos = try runReportingFailures { try makeStore(options).list() }
            let iso = Date.ISO8601FormatStyle()
            if json {
                let rows = infos.map {
                    ListRow(
                        name: $0.name, fingerprint: $0.fingerprint, createdAt: $0.createdAt.formatted(iso),
                        rotatedAt: $0.rotatedAt?.formatted(iso), kekID: $0.kekID)
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(rows), as: UTF8.self))
                return
            }
            let table =
                [["NAME", "FINGERPRINT", "CREATED", "ROTATED"]]
                + infos.map {
                    [$0.name, $0.fingerprint, $0.createdAt.formatted(iso), $0.rotatedAt?.formatted(iso) ?? "-"]
                }
            let widths = (0..<4).map { column in table.map { $0[column].count }.max() ?? 0 }
            for row in table {
                let cells = row.enumerated().map { column, cell in
                    column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                }
                print(cells.joined(separator: "  "))
            }
        }

        private struct ListRow: Encodable {
            let name: String
            let fingerprint: String
            let createdAt: String
            let rotatedAt: String?
            let kekID: String

            enum CodingKeys: String, CodingKey {
                case name, fingerprint
                case createdAt = "created_at"
                case rotatedAt = "rotated_at"
                case kekID = "kek_id"
            }
        }
    }
}

/// Opens the sealed key store in the chosen state directory with the master key from the environment or file.
private func makeStore(_ options: StateOptions) throws -> SealedKeyStore {
    let state = options.resolve()
    let kek = try KeyEncryptionKey.load(from: state, environment: ProcessInfo.processInfo.environment)
    return SealedKeyStore(state: state, kek: kek)
}

/// Runs `body`; on a library error prints one line to stderr and exits 1. Messages never contain key material.
private func runReportingFailures<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ValidationError {
        throw error
    } catch {
        FileHandle.standardError.write(Data("gatehouse: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

/// A problem with where the key was to be read from; reported like library errors (stderr, exit 1).
private struct InputError: Error, CustomStringConvertible {
    let description: String
}
