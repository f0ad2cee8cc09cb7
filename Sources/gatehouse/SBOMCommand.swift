import ArgumentParser
import Foundation
import GatehouseSupplyChain

/// `gatehouse sbom`: print the CycloneDX 1.6 SBOM of this binary.
struct SBOMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sbom",
        abstract: "Print the CycloneDX 1.6 JSON software bill of materials of this binary.",
        discussion: """
            Built from dependencies.lock.json as compiled into the binary: the application and every package \
            (direct and transitive) with name, version, purl and git tree hash. The bytes are stable for a given \
            binary; their SHA-256 is the digest `gatehouse version --verbose` prints.
            """
    )

    func run() throws {
        FileHandle.standardOutput.write(Data(try GatehouseRelease.sbom.jsonBytes()))
    }
}
