// swift-tools-version:6.1
// Benchmarks live in their own package so their dependencies never slow the
// main build. It depends on Sluice by path.
import PackageDescription

let package = Package(
    name: "sluice-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "sluice", path: ".."),
    ],
    targets: [
        .executableTarget(name: "SchedulerBenchmark", dependencies: [
            .product(name: "SluiceClient", package: "sluice"),
        ]),
        .executableTarget(name: "SchedulerCoreBenchmark", dependencies: [
            .product(name: "SluiceScheduler", package: "sluice"),
        ]),
        .executableTarget(name: "BlockServeBenchmark", dependencies: [
            .product(name: "SluiceClient", package: "sluice"),
        ]),
        .executableTarget(name: "MetricsRenderBenchmark", dependencies: [
            .product(name: "SluiceCoordinator", package: "sluice"),
            .product(name: "SluiceClient", package: "sluice"),
        ]),
        .executableTarget(name: "BatchCodecBenchmark", dependencies: [
            .product(name: "SluiceEngine", package: "sluice"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
