import Foundation
import Testing

/// Random queries (joins, correlated subqueries, set operations, windows,
/// aggregates) over random small tables, answered by DuckDB (`fuzz.py`
/// writes them as a golden file) and by Sluice, which must agree: as
/// multisets, as sequences where every row is ordered, doubles to 1e-9
/// relative, errors with errors. A fixed seed here; FUZZ_SEED and
/// FUZZ_QUERIES run others by hand. A disagreement is saved, with the tables,
/// as a golden file under `.build/fuzz-failures/` to move into `sql/fuzz/`.
@Suite(.serialized)
struct DifferentialFuzzTests {
    static let python = SluiceProcess.repoRoot + "/Benchmarks/.venv-engine/bin/python"

    @Test func sluiceAgreesWithDuckDBOnRandomQueries() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.python), "make the venv first: Benchmarks/tpch/venv")
        let env = ProcessInfo.processInfo.environment
        let seed = env["FUZZ_SEED"] ?? "20261202"
        let count = env["FUZZ_QUERIES"] ?? "3000"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-fuzz-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/fuzz-\(seed).test"
        let made = try SluiceProcess.run([SQLLogicTests.root.appendingPathComponent("fuzz.py").path, "--seed", seed, "--queries", count, "--out", file],
                                         binary: Self.python)
        try #require(made.status == 0, "fuzz.py failed: \(made.stderr)")
        let golden = SQLLogicFile(path: file, dataDir: SQLLogicTests.root.appendingPathComponent("data").path)
        let failures = try golden.run(mode: .fourThreads, rewrite: false)
        for f in failures { Issue.record(Comment(rawValue: f)) }
        guard !failures.isEmpty else { return }
        // The tables and the records that disagreed, as a golden file of their own.
        let records = golden.parse(try String(contentsOfFile: file, encoding: .utf8))
        let failed = Set(failures.compactMap { f in f.split(separator: ":").dropFirst().first.flatMap { Int($0) } })
        var out = ["# Disagreements found by fuzz.py --seed \(seed) --queries \(count)."]
        for r in records {
            guard case .ok = r.kind else {
                if failed.contains(r.line) { out += [r.headerLine, r.sql, "----"] + r.expected + [""] }
                continue
            }
            out += [r.headerLine, r.sql, ""]
        }
        let saved = SluiceProcess.repoRoot + "/.build/fuzz-failures"
        try FileManager.default.createDirectory(atPath: saved, withIntermediateDirectories: true)
        try out.joined(separator: "\n").write(toFile: saved + "/seed-\(seed).test", atomically: true, encoding: .utf8)
        Issue.record("\(failures.count) disagreement(s) saved to \(saved)/seed-\(seed).test")
    }
}
