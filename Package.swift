// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil", targets: ["vigil"]),
        .library(name: "VigilKafka", targets: ["VigilKafka"]),
        .library(name: "VigilCore", targets: ["VigilCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // One CPU hint Swift cannot spell: prefetching a cache line (used where the next events' state is known early).
        .target(name: "CPrefetch"),
        // Memory mappings for per-key state, grown by moving page tables (mremap) instead of copying.
        .target(name: "CStateMemory"),
        .target(
            name: "VigilCore",
            dependencies: ["CPrefetch", "CStateMemory", .product(name: "Atomics", package: "swift-atomics")]
        ),
        .target(
            name: "VigilFeatures",
            dependencies: ["VigilCore"]
        ),
        .target(
            name: "VigilModels",
            dependencies: ["VigilCore"]
        ),
        .target(
            name: "VigilKafka",
            dependencies: [
                "CRdKafka", "VigilCore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "VigilDaemon",
            dependencies: [
                "VigilCore", "VigilFeatures", "VigilModels", "VigilKafka",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "vigil",
            dependencies: [
                "VigilDaemon",
                "VigilKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "VigilCoreTests",
            dependencies: ["VigilCore"]
        ),
        .testTarget(
            name: "VigilFeaturesTests",
            dependencies: ["VigilFeatures", "VigilCore"]
        ),
        .testTarget(
            name: "VigilModelsTests",
            dependencies: ["VigilModels", "VigilCore"]
        ),
        .testTarget(
            name: "VigilDaemonTests",
            dependencies: [
                "VigilDaemon", "VigilCore", "VigilFeatures", "VigilModels", "VigilKafka",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .testTarget(
            name: "VigilKafkaTests",
            dependencies: ["VigilKafka", .product(name: "Logging", package: "swift-log")]
        ),
    ]
)

// Settings every Swift target shares.
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    // Swift 6 language mode: complete strict concurrency checking.
    settings.append(.swiftLanguageMode(.v6))
    // Imports of other modules' internals must be spelled out.
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    // `any` must be written for existential types.
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
