import Foundation
import Testing

@testable import GatehouseSupplyChain

@Suite("CycloneDX SBOM")
struct SBOMTests {
    static let packages = [
        LockedPackage(
            identity: "swift-log", name: "swift-log", url: "https://github.com/apple/swift-log.git", version: "1.16.2",
            purl: "pkg:swift/github.com/apple/swift-log@1.16.2", tree: "a9a14e63ae94f24c39296bf1fcafb54b8bbf5e5f",
            isDirect: true, dependencies: [], buildTimeTargets: []),
        LockedPackage(
            identity: "swift-argument-parser", name: "swift-argument-parser",
            url: "https://github.com/apple/swift-argument-parser.git", version: "1.8.2",
            purl: "pkg:swift/github.com/apple/swift-argument-parser@1.8.2",
            tree: "e0a95470aa8a42a5c29b6caf869339bd2774e8a1", isDirect: false, dependencies: ["swift-log"],
            buildTimeTargets: [BuildTimeTarget(target: "GenerateManual", kind: "command-plugin")]),
    ]

    @Test("lists the application and every package with version, purl and tree hash")
    func contents() throws {
        let sbom = SoftwareBillOfMaterials(
            application: ApplicationInfo(name: "gatehouse", version: "1.2.3", commit: nil, buildDate: nil),
            packages: Self.packages)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(sbom.jsonBytes())) as? [String: Any])
        #expect(json["specVersion"] as? String == "1.6")
        #expect(json["bomFormat"] as? String == "CycloneDX")
        let metadata = try #require(json["metadata"] as? [String: Any])
        #expect(metadata["timestamp"] == nil)
        let app = try #require(metadata["component"] as? [String: Any])
        #expect(app["version"] as? String == "1.2.3")
        let components = try #require(json["components"] as? [[String: Any]])
        #expect(components.count == 2)
        let log = try #require(components.first)
        #expect(log["purl"] as? String == "pkg:swift/github.com/apple/swift-log@1.16.2")
        let properties = try #require(log["properties"] as? [[String: String]])
        #expect(
            properties.contains(["name": "gatehouse:git:tree", "value": "a9a14e63ae94f24c39296bf1fcafb54b8bbf5e5f"]))
        let dependencies = try #require(json["dependencies"] as? [[String: Any]])
        #expect(dependencies.first?["dependsOn"] as? [String] == ["pkg:swift/github.com/apple/swift-log@1.16.2"])
    }

    @Test("is byte-for-byte stable, and its digest changes with the build's commit")
    func stableDigest() throws {
        let dev = ApplicationInfo(name: "gatehouse", version: "1.2.3", commit: nil, buildDate: nil)
        let release = ApplicationInfo(
            name: "gatehouse", version: "1.2.3", commit: "abc123", buildDate: "2026-01-01T00:00:00Z")
        let first = SoftwareBillOfMaterials(application: dev, packages: Self.packages)
        let second = SoftwareBillOfMaterials(application: dev, packages: Self.packages)
        #expect(try first.jsonBytes() == second.jsonBytes())
        #expect(try first.digest().hasPrefix("sha256:"))
        let built = SoftwareBillOfMaterials(application: release, packages: Self.packages)
        #expect(try built.digest() != first.digest())
        let text = String(decoding: try built.jsonBytes(), as: UTF8.self)
        #expect(text.contains("\"timestamp\" : \"2026-01-01T00:00:00Z\""))
        #expect(text.hasSuffix("}\n"))
    }
}
