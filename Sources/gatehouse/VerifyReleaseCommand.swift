import ArgumentParser
import Foundation
import GatehouseSupplyChain

/// `gatehouse verify-release`: check minisign signatures (and SHA256SUMS) of release files.
struct VerifyReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-release",
        abstract: "Verify release files against their minisign signatures (FILE.minisig) and a public key.",
        discussion: """
            Accepts prehashed (ED) minisign signatures, the kind scripts/release writes and `minisign -V` checks: \
            the Ed25519 signature over the file's BLAKE2b-512 digest and the global signature over the trusted \
            comment must both verify. A verified file named SHA256SUMS also has every file it lists that is present \
            beside it checked against its SHA-256. Exits 1 if anything fails.
            """
    )

    @Option(name: [.short, .customLong("public-key")], help: "Public key file (minisign format).")
    var publicKeyPath: String?

    @Option(name: [.customShort("P"), .customLong("public-key-base64")], help: "Public key as its base64 line.")
    var publicKeyBase64: String?

    @Option(name: [.customShort("x"), .customLong("signature")], help: "Signature file (default FILE.minisig).")
    var signaturePath: String?

    @Argument(help: "Files to verify.")
    var files: [String]

    func validate() throws {
        guard (publicKeyPath == nil) != (publicKeyBase64 == nil) else {
            throw ValidationError("give exactly one of --public-key and --public-key-base64")
        }
        guard !files.isEmpty else { throw ValidationError("name at least one file") }
        guard signaturePath == nil || files.count == 1 else {
            throw ValidationError("--signature applies to a single file")
        }
    }

    func run() throws {
        let key: MinisignPublicKey
        do {
            if let path = publicKeyPath {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw ValidationError("cannot read the public key \(path)")
                }
                key = try MinisignPublicKey(text: String(decoding: data, as: UTF8.self))
            } else {
                key = try MinisignPublicKey(text: publicKeyBase64 ?? "")
            }
        } catch let error as MinisignError {
            throw ValidationError("public key refused: \(error)")
        }
        var failures = 0
        for file in files {
            do {
                let comment = try verifySignature(of: file, signaturePath: signaturePath ?? file + ".minisig", key: key)
                print("\(file): signature OK (key \(key.keyIDHex); trusted comment: \(comment))")
                if URL(fileURLWithPath: file).lastPathComponent == "SHA256SUMS" {
                    failures += checkSums(listedIn: file)
                }
            } catch {
                failures += 1
                printError("\(file): FAILED: \(error)")
            }
        }
        if failures > 0 {
            printError("verify-release: \(failures) failure(s)")
            throw ExitCode.failure
        }
    }

    private func verifySignature(of file: String, signaturePath: String, key: MinisignPublicKey) throws -> String {
        guard let sigData = FileManager.default.contents(atPath: signaturePath) else {
            throw ValidationError("cannot read the signature \(signaturePath)")
        }
        let signature = try MinisignSignature(text: String(decoding: sigData, as: UTF8.self))
        try signature.verify(digest: try Minisign.digest(ofFileAt: file), publicKey: key)
        return signature.trustedComment
    }

    /// Checks `sha256sum` lines (`HEX  NAME`) against the files present beside the list; returns the failure count.
    private func checkSums(listedIn sumsPath: String) -> Int {
        let directory = URL(fileURLWithPath: sumsPath).deletingLastPathComponent()
        guard let data = FileManager.default.contents(atPath: sumsPath) else { return 1 }
        var failures = 0
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where !line.isEmpty {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else {
                printError("\(sumsPath): FAILED: malformed line")
                failures += 1
                continue
            }
            let expected = parts[0].lowercased()
            let name = parts[1].trimmingCharacters(in: .whitespaces).trimmingPrefix("*")
            guard !name.contains("/"), name != "..", name != "." else {
                printError("\(sumsPath): FAILED: refuses path \(name)")
                failures += 1
                continue
            }
            let path = directory.appendingPathComponent(String(name)).path
            guard FileManager.default.fileExists(atPath: path) else {
                print("  \(name): not present, not checked")
                continue
            }
            guard let actual = try? Minisign.sha256Hex(ofFileAt: path), actual == expected else {
                printError("  \(name): FAILED: SHA-256 does not match SHA256SUMS")
                failures += 1
                continue
            }
            print("  \(name): SHA-256 OK")
        }
        return failures
    }

    private func printError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
