// swift-tools-version:6.1
// Sluice: a distributed data-processing cluster. One executable, `sluice`,
// plays coordinator, worker and client. See README.md and docs/.
import PackageDescription

let engineSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .library(name: "SluiceClient", targets: ["Client", "Wire", "Transport"]),
        .library(name: "SluiceScheduler", targets: ["Scheduler"]),
        .library(name: "SluiceEngine", targets: ["Columnar", "SQL", "Execution"]),
        .library(name: "SluiceCoordinator", targets: ["Coordinator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries, each wrapped by exactly one Swift module.
        .systemLibrary(name: "CNNG", path: "Sources/CNNG"),
        .systemLibrary(name: "CProtobufC", path: "Sources/CProtobufC", pkgConfig: "libprotobuf-c"),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3"),
        .target(name: "CSluiceProto", dependencies: ["CProtobufC"], path: "Sources/CSluiceProto"),
        .target(name: "CPlanProto", dependencies: ["CProtobufC"], path: "Sources/CPlanProto"),
        .target(name: "CSpawn", path: "Sources/CSpawn"),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CPCRE2", path: "Sources/CPCRE2"),

        // What the daemons need of the host: data-dir locks, joined threads,
        // guarded task processes, supervised children, /proc readings (wraps CSpawn).
        .target(name: "Platform", dependencies: ["CSpawn"]),
        // nng sockets: REQ clients and a REP server driven by aio callbacks.
        .target(name: "Transport", dependencies: ["CNNG"]),
        // protobuf-c memory for Swift: an arena for building messages, readers of unpacked ones.
        .target(name: "ProtobufSupport", dependencies: ["CProtobufC"]),
        // The wire contract: message mirrors, envelopes, HMAC sealing, replay guard.
        .target(name: "Wire", dependencies: [
            "CSluiceProto", "CProtobufC", "ProtobufSupport", "Transport",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // A thin SQLite wrapper for the journal and the catalog.
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        // Named datasets: the catalog (SQLite), what registering one checks,
        // and how the engine reads one by name.
        .target(name: "Datasets", dependencies: ["SQLite", "Execution", "SQL", "Columnar"]),
        // The pure scheduling state machine: events in, actions out, no I/O.
        .target(name: "Scheduler"),
        // Pipelines: their YAML files, validation and DAG, and the pure state
        // machine of runs, backfills and schedules that feeds the scheduler jobs.
        .target(name: "Pipelines", dependencies: ["SQL", "Columnar", .product(name: "Yams", package: "Yams")]),
        .target(name: "Coordinator", dependencies: [
            "Scheduler", "Wire", "Transport", "SQLite", "Platform", "Execution", "PlanCodec", "SQL", "Columnar", "Datasets", "Pipelines",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "Worker", dependencies: [
            "Wire", "Transport", "Platform", "Execution", "PlanCodec", "SQL", "Columnar",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Client", dependencies: ["Wire", "Transport"]),

        // The engine tier: knows nothing of the network (docs/engine.md). Its
        // release builds skip the runtime exclusivity checks on class
        // properties (about 15% of a CSV scan's time); debug builds, which
        // the tests run, keep them, as the standard library's own build does.
        // LZ4 blocks, gzip streams and CRC-32.
        .target(name: "Compression", dependencies: ["CLZ4", "CZlib"]),
        // Regular expressions (PCRE2): compiled patterns, matches, replacement.
        .target(name: "Patterns", dependencies: ["CPCRE2"]),
        // Types, column buffers, record batches, hashing, the batch encoding.
        .target(name: "Columnar", dependencies: ["Compression"], swiftSettings: engineSettings),
        // Parser, binder, logical plan, optimizer, expression evaluation.
        .target(name: "SQL", dependencies: ["Columnar", "Patterns", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: engineSettings),
        // Operators, file formats, the in-process session (`sluice query --local`).
        .target(name: "Execution", dependencies: ["SQL", "Columnar", "Compression"], swiftSettings: engineSettings),
        // Physical plans to and from protobuf (proto/plan.proto): what workers are sent.
        .target(name: "PlanCodec", dependencies: ["Execution", "SQL", "Columnar", "CPlanProto", "CProtobufC", "ProtobufSupport"]),
        .executableTarget(name: "sluice", dependencies: [
            "Coordinator", "Worker", "Client", "Wire", "Transport", "Platform", "Execution", "SQL", "Columnar", "Datasets", "Pipelines",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler"]),
        .testTarget(name: "PipelinesTests", dependencies: ["Pipelines"]),
        .testTarget(name: "WireTests", dependencies: ["Wire", "Transport"]),
        .testTarget(name: "SQLiteTests", dependencies: ["SQLite"]),
        .testTarget(name: "ColumnarTests", dependencies: ["Columnar", "Compression"]),
        .testTarget(name: "PatternsTests", dependencies: ["Patterns"]),
        // What more than one test target checks against (DuckDB's TPC-H answers).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "EngineTests", dependencies: ["Execution", "SQL", "Columnar", "TestSupport"], exclude: ["sql", "data", "tpch-sf0.1", "duckdb_check.py"]),
        .testTarget(name: "PlatformTests", dependencies: ["Platform"]),
        .testTarget(name: "CoordinatorTests", dependencies: ["Coordinator", "Transport"]),
        .testTarget(name: "PlanCodecTests", dependencies: ["PlanCodec", "Execution", "SQL", "Columnar"]),
        .testTarget(name: "ClusterTests", dependencies: ["Client", "Wire", "Transport", "SQLite", "Platform", "Execution", "SQL", "Columnar", "TestSupport"],
                    exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
