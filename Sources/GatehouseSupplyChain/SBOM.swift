import Crypto
import Foundation

/// One package of the resolved dependency graph, as `dependencies.lock.json` records it.
public struct LockedPackage: Sendable, Hashable {
    /// SwiftPM's identity (the lower-cased last path component of the URL).
    public let identity: String
    /// The package's declared name.
    public let name: String
    /// The repository URL the package was resolved from.
    public let url: String
    /// The exact version resolved.
    public let version: String
    /// Package URL, `pkg:swift/github.com/OWNER/NAME@VERSION`.
    public let purl: String
    /// Git tree hash (SHA-1 of git's tree object) of the checked-out source: a content address that is the same
    /// whichever clone or mirror the source came from.
    public let tree: String
    /// Whether Package.swift names this package directly.
    public let isDirect: Bool
    /// Identities of the packages this one depends on.
    public let dependencies: [String]
    /// Plugins, macros and binary targets the package declares (each allowlisted with a reason).
    public let buildTimeTargets: [BuildTimeTarget]

    /// Creates a locked package record.
    public init(
        identity: String, name: String, url: String, version: String, purl: String, tree: String, isDirect: Bool,
        dependencies: [String], buildTimeTargets: [BuildTimeTarget]
    ) {
        self.identity = identity
        self.name = name
        self.url = url
        self.version = version
        self.purl = purl
        self.tree = tree
        self.isDirect = isDirect
        self.dependencies = dependencies
        self.buildTimeTargets = buildTimeTargets
    }
}

/// A target whose code runs at build time (plugin, macro) or arrives prebuilt (binary).
public struct BuildTimeTarget: Sendable, Hashable {
    /// The target's name.
    public let target: String
    /// `build-tool-plugin`, `command-plugin`, `macro` or `binary`.
    public let kind: String

    /// Creates a record of one build-time target.
    public init(target: String, kind: String) {
        self.target = target
        self.kind = kind
    }
}

/// What the binary knows about itself.
public struct ApplicationInfo: Sendable, Hashable {
    /// The application's name.
    public let name: String
    /// Its version.
    public let version: String
    /// The git commit it was built from; nil for a development build.
    public let commit: String?
    /// The build date (ISO 8601, UTC; from `SOURCE_DATE_EPOCH` in releases); nil for a development build.
    public let buildDate: String?

    /// Creates the application's description.
    public init(name: String, version: String, commit: String?, buildDate: String?) {
        self.name = name
        self.version = version
        self.commit = commit
        self.buildDate = buildDate
    }
}

/// A CycloneDX 1.6 software bill of materials for a binary and the packages compiled into it.
///
/// Each package appears as a `library` component with name, version, `purl`, a `vcs` external reference and its
/// git tree hash as the property `gatehouse:git:tree`. The tree hash is deliberately not put in `hashes`: CycloneDX
/// hashes are digests of the component's own bytes (an archive or file), and a git tree id is the SHA-1 of git's
/// tree object, so a consumer checking it as a file's SHA-1 would report a false mismatch. `git rev-parse
/// VERSION^{tree}` in any clone of the package reproduces the property's value. The `dependencies` section records
/// the graph. The document has no random serial number and only the build's own date, so the same binary always
/// prints the same bytes and ``digest`` identifies it.
public struct SoftwareBillOfMaterials: Sendable {
    /// The application the SBOM describes.
    public let application: ApplicationInfo
    /// The packages compiled into it.
    public let packages: [LockedPackage]

    /// Creates an SBOM for an application and its locked packages.
    public init(application: ApplicationInfo, packages: [LockedPackage]) {
        self.application = application
        self.packages = packages
    }

    /// The exact bytes `gatehouse sbom` prints: pretty-printed JSON with sorted keys and a final newline.
    public func jsonBytes() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(document())) + [UInt8(ascii: "\n")]
    }

    /// `sha256:` and the hex SHA-256 of ``jsonBytes()``; what `gatehouse version --verbose` prints.
    public func digest() throws -> String {
        let hash = SHA256.hash(data: try jsonBytes())
        return "sha256:" + hash.map { String(format: "%02x", $0) }.joined()
    }

    private var applicationRef: String { "\(application.name)@\(application.version)" }

    private func document() -> CycloneDX.Document {
        var appProperties: [CycloneDX.Property] = []
        if let commit = application.commit {
            appProperties.append(.init(name: "gatehouse:build:commit", value: commit))
        }
        if let date = application.buildDate { appProperties.append(.init(name: "gatehouse:build:date", value: date)) }
        let app = CycloneDX.Component(
            type: "application", bomRef: applicationRef, name: application.name, version: application.version,
            purl: nil, scope: nil, externalReferences: nil,
            properties: appProperties.isEmpty ? nil : appProperties)
        let purls = Dictionary(packages.map { ($0.identity, $0.purl) }, uniquingKeysWith: { first, _ in first })
        let components = packages.map { package in
            var properties = [
                CycloneDX.Property(name: "gatehouse:git:tree", value: package.tree),
                CycloneDX.Property(name: "gatehouse:dependency", value: package.isDirect ? "direct" : "transitive"),
            ]
            for target in package.buildTimeTargets {
                properties.append(
                    .init(name: "gatehouse:build-time-target", value: "\(target.target) (\(target.kind))"))
            }
            return CycloneDX.Component(
                type: "library", bomRef: package.purl, name: package.name, version: package.version,
                purl: package.purl, scope: "required",
                externalReferences: [.init(type: "vcs", url: package.url)], properties: properties)
        }
        var dependencies = [
            CycloneDX.Dependency(ref: applicationRef, dependsOn: packages.filter(\.isDirect).map(\.purl))
        ]
        dependencies += packages.map { package in
            CycloneDX.Dependency(ref: package.purl, dependsOn: package.dependencies.compactMap { purls[$0] })
        }
        return CycloneDX.Document(
            schema: "http://cyclonedx.org/schema/bom-1.6.schema.json", bomFormat: "CycloneDX", specVersion: "1.6",
            version: 1,
            metadata: .init(timestamp: application.buildDate, component: app),
            components: components, dependencies: dependencies)
    }
}

/// The subset of the CycloneDX 1.6 JSON format Gatehouse writes.
enum CycloneDX {
    struct Document: Encodable {
        let schema: String
        let bomFormat: String
        let specVersion: String
        let version: Int
        let metadata: Metadata
        let components: [Component]
        let dependencies: [Dependency]

        enum CodingKeys: String, CodingKey {
            case schema = "$schema"
            case bomFormat, specVersion, version, metadata, components, dependencies
        }
    }

    struct Metadata: Encodable {
        let timestamp: String?
        let component: Component
    }

    struct Component: Encodable {
        let type: String
        let bomRef: String
        let name: String
        let version: String
        let purl: String?
        let scope: String?
        let externalReferences: [ExternalReference]?
        let properties: [Property]?

        enum CodingKeys: String, CodingKey {
            case type
            case bomRef = "bom-ref"
            case name, version, purl, scope, externalReferences, properties
        }
    }

    struct ExternalReference: Encodable {
        let type: String
        let url: String
    }

    struct Property: Encodable {
        let name: String
        let value: String
    }

    struct Dependency: Encodable {
        let ref: String
        let dependsOn: [String]
    }
}
