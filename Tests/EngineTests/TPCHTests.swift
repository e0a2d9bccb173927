import Foundation
import TestSupport
import Testing

/// TPC-H at scale factor 0.1: each query's answer from the release build of
/// `sluice query --local`, on one thread, on four, and cut into stages of 3
/// partitions run through a shuffle, must equal DuckDB 2.0.1's on the same CSV
/// files with TPC-H's DDL types (see `TPCHAnswers`).
@Suite(.serialized)
struct TPCHTests {
    static let queries = TPCHAnswers.queries
    static let repo = SluiceProcess.repoRoot

    /// The data, made before the tests by `Benchmarks/tpch/generate 0.1 .build/tpch-sf0.1`
    /// (the README's test command does it). Not made from inside the test process:
    /// during that minute-long child run (venv, pip) a full-suite test process
    /// once filled its 20,000 descriptors with sockets.
    static let data: Result<String, TPCHSetupError> = {
        let dir = repo + "/.build/tpch-sf0.1"
        if FileManager.default.fileExists(atPath: dir + "/lineitem.csv") { return .success(dir) }
        return .failure(TPCHSetupError(message: "no TPC-H data in \(dir): run Benchmarks/tpch/generate 0.1 .build/tpch-sf0.1 first"))
    }()

    /// Threads, and partitions when cut into stages run through a shuffle (0: not cut).
    static let modes: [(threads: Int, stages: Int)] = [(1, 0), (4, 0), (1, 3)]

    @Test(arguments: queries, modes.indices)
    func matchesDuckDB(_ q: String, mode: Int) throws {
        let (threads, stages) = Self.modes[mode]
        let data = try Self.data.get()
        let release = SluiceProcess.releaseBinary
        try #require(FileManager.default.isExecutableFile(atPath: release), "build the release binary first: swift build -c release --product sluice")
        let schema = try String(contentsOfFile: Self.repo + "/Benchmarks/tpch/schema.sql", encoding: .utf8).replacingOccurrences(of: "${DATA}", with: data)
        let query = try String(contentsOfFile: Self.repo + "/Benchmarks/tpch/queries/\(q).sql", encoding: .utf8)
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-tpch-\(q)-\(mode)-\(getpid()).sql").path
        defer { try? FileManager.default.removeItem(atPath: script) }
        try (schema + "\n" + query).write(toFile: script, atomically: true, encoding: .utf8)
        let r = try SluiceProcess.run(["query", "--local", "--threads", "\(threads)", "--format", "csv", "-f", script]
                                      + (stages > 0 ? ["--stages", "\(stages)"] : []), binary: release)
        try #require(r.status == 0, "\(q) failed: \(r.stderr)")

        for d in try TPCHAnswers.differences(q, csv: r.stdout, repo: Self.repo) { Issue.record("\(d)") }
    }
}

struct TPCHSetupError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
