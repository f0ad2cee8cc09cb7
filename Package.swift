// swift-tools-version:6.1
// Every dependency is pinned with `exact:` and justified in DEPENDENCIES.md.
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "gatehouse",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gatehouse", targets: ["gatehouse"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", exact: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
    ],
    targets: [
        // Security core: tokens, sealed secrets. swift-crypto and Foundation only.
        .target(
            name: "GatehouseSecurity",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // Internal request/response/stream types, provider protocol, SSE, errors, catalog.
        .target(
            name: "GatehouseCore",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        // Pure translation, one folder per provider. Never sees a key, never does I/O.
        .target(
            name: "GatehouseProviders",
            dependencies: ["GatehouseCore"],
            swiftSettings: strict
        ),
        // Policy on the request path: routing (deployment health, strategies, retries). Pure logic, no I/O.
        .target(
            name: "GatehousePolicy",
            dependencies: ["GatehouseCore"],
            swiftSettings: strict
        ),
        // The link between front and keyholder: frames over a Unix socket, and the front's client.
        .target(
            name: "GatehouseLink",
            dependencies: [
                "GatehouseCore", "GatehouseSecurity",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The keyholder: the only target that connects to providers; unseals keys, injects credentials.
        .target(
            name: "GatehouseEgress",
            dependencies: [
                "GatehouseCore", "GatehouseSecurity", "GatehouseLink",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The front: its HTTP/1.1 server (on SwiftNIO's codec), routes, dialects, config.
        .target(
            name: "GatehouseServer",
            dependencies: [
                "GatehouseCore", "GatehouseProviders", "GatehouseSecurity", "GatehousePolicy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // SQLite 3 from the system (Debian's libsqlite3-dev): the ledger's embedded store.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // PostgreSQL's client library from the system (Debian's libpq-dev): the ledger's shared store.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // The ledger: spend, budgets, rate-limit state and request metadata, in SQLite or PostgreSQL.
        // Runs in the keyholder process; the front reaches it only through the link.
        .target(
            name: "GatehouseLedger",
            dependencies: ["GatehouseCore", "GatehousePolicy", "GatehouseSecurity", "CSQLite", "CLibPQ"],
            swiftSettings: strict
        ),
        // The front's seccomp sandbox (no network sockets once listening). C, no dependencies.
        .target(name: "CGatehouseSandbox"),
        // Provider simulator: a test and benchmark fixture, independent of the gateway's translation code.
        .target(
            name: "GatehouseSimulator",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Supply chain: CycloneDX SBOM, minisign signatures (BLAKE2b + Ed25519). swift-crypto and Foundation only.
        .target(
            name: "GatehouseSupplyChain",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // Release signing tool (keygen, sign) used by scripts/release; not part of the gateway binary.
        .executableTarget(
            name: "gatehouse-sign",
            dependencies: [
                "GatehouseSupplyChain", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "gatehouse",
            dependencies: [
                "GatehouseCore", "GatehouseSecurity", "GatehouseServer", "GatehouseEgress", "GatehouseLink", "GatehousePolicy",
                "GatehouseLedger", "GatehouseSimulator", "CGatehouseSandbox",
                "GatehouseSupplyChain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The attack-suite hook (a simulated backdoor in the front) exists in debug (test) builds only.
            swiftSettings: strict + [.define("GATEHOUSE_ATTACK_HOOK", .when(configuration: .debug))]
        ),
        .testTarget(name: "GatehouseSecurityTests", dependencies: ["GatehouseSecurity"]),
        .testTarget(name: "GatehouseCoreTests", dependencies: ["GatehouseCore"]),
        .testTarget(name: "GatehouseSupplyChainTests", dependencies: ["GatehouseSupplyChain"]),
        .testTarget(name: "GatehouseEgressTests", dependencies: ["GatehouseEgress", "GatehouseCore"]),
        .testTarget(name: "GatehousePolicyTests", dependencies: ["GatehousePolicy", "GatehouseCore"]),
        .testTarget(name: "GatehouseLedgerTests", dependencies: ["GatehouseLedger", "GatehousePolicy", "GatehouseCore", "GatehouseSecurity"]),
        .testTarget(name: "GatehouseProvidersTests", dependencies: ["GatehouseProviders", "GatehouseCore"]),
        .testTarget(
            name: "GatehouseLinkTests",
            dependencies: [
                "GatehouseLink", "GatehouseCore", "GatehouseSecurity",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "GatehouseServerTests",
            dependencies: [
                "GatehouseServer", "GatehouseCore", "GatehouseSecurity", "GatehousePolicy",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)

// Fuzz targets (Fuzz/NAME/), built only by scripts/fuzz: it sets GATEHOUSE_FUZZ=1 and builds with
// -sanitize=fuzzer,address into .build-fuzz. The normal build does not see them.
if Context.environment["GATEHOUSE_FUZZ"] == "1" {
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("json", ["GatehouseCore"]),
        ("sse", ["GatehouseCore", .product(name: "NIOCore", package: "swift-nio")]),
        ("link", ["GatehouseLink", .product(name: "NIOCore", package: "swift-nio")]),
        ("token", ["GatehouseSecurity", .product(name: "Crypto", package: "swift-crypto")]),
        ("config", ["GatehouseServer"]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: "fuzz-\(name)", dependencies: dependencies, path: "Fuzz/\(name)",
                exclude: ["seeds", "dictionary"],
                swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
        package.products.append(.executable(name: "fuzz-\(name)", targets: ["fuzz-\(name)"]))
    }
}
