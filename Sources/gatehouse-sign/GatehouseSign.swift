import ArgumentParser
import Foundation
import GatehouseSupplyChain

/// `gatehouse-sign`: the release signing tool scripts/release uses. Not part of the gateway binary.
///
/// It writes minisign-format keys and prehashed (`ED`) signatures, so `minisign -V` and `gatehouse verify-release`
/// both verify its output. The secret key is read from a file or an environment variable the operator names and
/// never from the repository; it is never printed.
@main
struct GatehouseSign: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse-sign",
        abstract: "Create minisign release keys and sign release files (prehashed Ed25519).",
        subcommands: [Keygen.self, PublicKey.self, Sign.self]
    )

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an unencrypted minisign key pair (secret key written with mode 0600).")

        @Option(name: .customLong("secret-key"), help: "Where to write the secret key (must not exist).")
        var secretKey: String

        @Option(name: .customLong("public-key"), help: "Where to write the public key.")
        var publicKey: String

        func run() throws {
            guard !FileManager.default.fileExists(atPath: secretKey) else {
                throw ValidationError("\(secretKey) exists; refusing to overwrite a key")
            }
            let key = MinisignSecretKey.make()
            let created = FileManager.default.createFile(
                atPath: secretKey, contents: Data(key.fileText.utf8), attributes: [.posixPermissions: 0o600])
            guard created else { throw SignFailure("cannot write \(secretKey)") }
            try Data(try key.publicKey.fileText.utf8).write(to: URL(fileURLWithPath: publicKey))
            print("key id \(try key.publicKey.keyIDHex); public key \(publicKey); secret key \(secretKey) (0600)")
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write FILE.minisig for each FILE.",
            discussion: """
                The secret key comes from --secret-key FILE or from the environment variable named by --secret-key-env \
                (its value is the key file's text or its base64 line). Only unencrypted minisign keys are accepted.
                """)

        @Option(name: .customLong("secret-key"), help: "Path of the minisign secret key file.")
        var secretKeyPath: String?

        @Option(name: .customLong("secret-key-env"), help: "Name of an environment variable holding the secret key.")
        var secretKeyEnv: String?

        @Option(name: .customLong("trusted-comment"), help: "Trusted comment; {file} is replaced by the file's name.")
        var trustedComment: String = "file:{file}\thashed"

        @Argument(help: "Files to sign.")
        var files: [String]

        func validate() throws {
            guard (secretKeyPath == nil) != (secretKeyEnv == nil) else {
                throw ValidationError("give exactly one of --secret-key and --secret-key-env")
            }
            guard !files.isEmpty else { throw ValidationError("name at least one file to sign") }
        }

        func run() throws {
            let key = try loadSecretKey(path: secretKeyPath, environmentVariable: secretKeyEnv)
            for file in files {
                let name = URL(fileURLWithPath: file).lastPathComponent
                let comment = trustedComment.replacingOccurrences(of: "{file}", with: name)
                let signature = try key.sign(digest: try Minisign.digest(ofFileAt: file), trustedComment: comment)
                try Data(signature.fileText.utf8).write(to: URL(fileURLWithPath: file + ".minisig"))
                print("signed \(file) -> \(file).minisig")
            }
        }
    }

    struct PublicKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "public-key", abstract: "Print the public key file of a secret key.")

        @Option(name: .customLong("secret-key"), help: "Path of the minisign secret key file.")
        var secretKeyPath: String?

        @Option(name: .customLong("secret-key-env"), help: "Name of an environment variable holding the secret key.")
        var secretKeyEnv: String?

        func validate() throws {
            guard (secretKeyPath == nil) != (secretKeyEnv == nil) else {
                throw ValidationError("give exactly one of --secret-key and --secret-key-env")
            }
        }

        func run() throws {
            let key = try loadSecretKey(path: secretKeyPath, environmentVariable: secretKeyEnv)
            print(try key.publicKey.fileText, terminator: "")
        }
    }
}

/// Reads an unencrypted minisign secret key from a file or from the named environment variable.
private func loadSecretKey(path: String?, environmentVariable: String?) throws -> MinisignSecretKey {
    let text: String
    if let path = path {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SignFailure("cannot read the secret key file \(path)")
        }
        text = String(decoding: data, as: UTF8.self)
    } else if let name = environmentVariable, let value = ProcessInfo.processInfo.environment[name], !value.isEmpty {
        text = value
    } else {
        throw SignFailure("environment variable \(environmentVariable ?? "") is not set")
    }
    do {
        return try MinisignSecretKey(text: text)
    } catch {
        throw SignFailure("secret key refused: \(error)")
    }
}

/// A failure reported as one line, without the usage text argument errors get.
struct SignFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}
