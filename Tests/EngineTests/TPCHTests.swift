import Foundation
import TestSupport
import Testing

/// TPC-H at scale factor 0.1: each query's answer from the release build of
/// `sluice query --local`, on one thread, on four, cut into stages of 3
/// partitions run through a shuffle, and on two threads within a 16 MB memory
/// limit (spilling), must equal DuckDB 2.0.1's on the same CSV files with
/// TPC-H's DDL types (see `TPCHAnswers`).
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

    /// Threads, partitions when cut into stages run through a shuffle (0: not cut), and a memory limit.
    static let modes: [(threads: Int, stages: Int, memory: String?)] = [(1, 0, nil), (4, 0, nil), (1, 3, nil), (2, 0, "16MB")]

    @Test(arguments: queries, modes.indices)
    func matchesDuckDB(_ q: String, mode: Int) throws {
        let (threads, stages, memory) = Self.modes[mode]
        let data = try Self.data.get()
        let release = SluiceProcess.releaseBinary
        try #require(FileManager.default.isExecutableFile(atPath: release), "build the release binary first: swift build -c release --product sluice")
        let schema = try String(contentsOfFile: Self.repo + "/Benchmarks/tpch/schema.sql", encoding: .utf8).replacingOccurrences(of: "${DATA}", with: data)
        let query = try String(contentsOfFile: Self.repo + "/Benchmarks/tpch/queries/\(q).sql", encoding: .utf8)
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-tpch-\(q)-\(mode)-\(getpid()).sql").path
        defer { try? FileManager.default.removeItem(atPath: script) }
        try (schema + "\n" + query).write(toFile: script, atomically: true, encoding: .utf8)
        let r = try SluiceProcess.run(["query", "--local", "--threads", "\(threads)", "--format", "csv", "-f", script]
                                      + (stages > 0 ? ["--stages", "\(stages)"] : []) + (memory.map { ["--memory-limit", $0] } ?? []), binary: release)
        try #require(r.status == 0, "\(q) failed: \(r.stderr)")

        for d in try TPCHAnswers.differences(q, csv: r.stdout, repo: Self.repo) { Issue.record("\(d)") }
    }
}

/// The memory limit at SF0.1, in the release binary: 600,000 groups with a
/// string aggregate, a sort of all of lineitem and orders joined with
/// lineitem within 16 MB give the answers they give without a limit, spill,
/// and leave the temp dir empty.
@Suite(.serialized)
struct TPCHSpillTests {
    @Test func groupingSortingAndJoiningLineitemWithin16MB() throws {
        let data = try TPCHTests.data.get()
        let release = SluiceProcess.releaseBinary
        try #require(FileManager.default.isExecutableFile(atPath: release), "build the release binary first: swift build -c release --product sluice")
        let temp = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-tpch-spill-\(getpid())").path
        try FileManager.default.createDirectory(atPath: temp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let l = "'\(data)/lineitem.csv'"
        let queries = [
            ("SELECT l_orderkey, l_linenumber, count(*) AS n, sum(l_quantity) AS q, max(l_comment) AS c FROM \(l) GROUP BY l_orderkey, l_linenumber", false),
            ("SELECT l_orderkey, l_linenumber, l_shipdate, l_comment FROM \(l) ORDER BY l_comment, l_orderkey, l_linenumber", true),
            ("SELECT o_orderkey, o_orderdate, o_comment, l_linenumber, l_extendedprice FROM '\(data)/orders.csv' JOIN \(l) ON o_orderkey = l_orderkey", false),
        ]
        for (sql, ordered) in queries {
            let free = try SluiceProcess.run(["query", "--local", "--threads", "2", "--format", "csv", sql], binary: release)
            let limited = try SluiceProcess.run(["query", "--local", "--threads", "2", "--memory-limit", "16MB", "--temp-dir", temp, "--format", "csv", sql],
                                                binary: release)
            try #require(free.status == 0 && limited.status == 0, "\(free.stderr)\(limited.stderr)")
            var a = free.stdout.split(separator: "\n"), b = limited.stdout.split(separator: "\n")
            if !ordered { a.sort(); b.sort() }
            #expect(a.count > 600_000 && a == b, "\(sql): \(b.count) lines under the limit, \(a.count) without")
            let explain = try SluiceProcess.run(["query", "--local", "--threads", "2", "--memory-limit", "16MB", "--temp-dir", temp, "--format", "csv",
                                                 "EXPLAIN ANALYZE " + sql], binary: release)
            let spilled = explain.stdout.split(separator: "\n").first { $0.contains("spilled=") && !$0.contains("spilled=0B") }
            #expect(spilled != nil, "\(explain.stdout)\(explain.stderr)")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: temp)) ?? ["?"]).isEmpty, "spill files were left")
        }
    }
}

struct TPCHSetupError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
