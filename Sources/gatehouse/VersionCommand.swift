import ArgumentParser
import Foundation
import GatehouseSupplyChain

/// The application's identity, shared by `gatehouse version` and `gatehouse sbom`.
enum GatehouseRelease {
    /// The version of this source tree. Bump it in the commit that is tagged for a release.
    static let version = "0.1.0"

    /// What the binary knows about itself: version, and commit and date when built by scripts/release.
    static let application = ApplicationInfo(
        name: "gatehouse", version: version, commit: BuildInfo.commit, buildDate: BuildInfo.date)

    /// The SBOM of this binary, built from the lock compiled into it.
    static let sbom = SoftwareBillOfMaterials(application: application, packages: GeneratedDependencyLock.packages)
}

/// `gatehouse version`: the version, and with `--verbose` what ties this process to its SBOM.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the version; --verbose adds git commit, build date and the SBOM digest.",
        discussion: """
            The SBOM digest is the SHA-256 of the exact bytes `gatehouse sbom` prints, so \
            `gatehouse sbom | sha256sum` on any copy of the binary reproduces it.
            """
    )

    @Flag(name: .shortAndLong, help: "Also print git commit, build date, SBOM digest and dependency counts.")
    var verbose = false

    func run() throws {
        print("gatehouse \(GatehouseRelease.version)")
        guard verbose else { return }
        let packages = GeneratedDependencyLock.packages
        print("commit: \(BuildInfo.commit ?? "unknown (dev build)")")
        print("build date: \(BuildInfo.date ?? "unknown (dev build)")")
        print("sbom: \(try GatehouseRelease.sbom.digest()) (CycloneDX 1.6, `gatehouse sbom`)")
        print(
            "dependencies: \(packages.count) packages (\(packages.filter(\.isDirect).count) direct), "
                + "as locked in dependencies.lock.json")
    }
}
