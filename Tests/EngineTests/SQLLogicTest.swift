import Columnar
@testable import Execution
import Foundation
import SQL
import Testing

/// Runs the golden SQL files in `sql/<area>/*.test` (sqllogictest format),
/// each on one thread, on four, and on four with every hash join partitioned
/// (both sides hashed on the keys) instead of sharing its build, and cut into
/// stages run through a shuffle as the cluster runs them: the answers must
/// not depend on it.
/// In the SQL, `__DATA__` names `data/` and `__SCRATCH__` a fresh folder of
/// the run's own (removed afterwards) for the files a test writes.
/// Set SLUICE_REWRITE_GOLDEN=1 to rewrite the expected output of every query
/// with what Sluice returns now (review the diff before committing it; and run
/// `Tests/EngineTests/duckdb_check.py` so no wrong answer becomes golden).
struct SQLLogicTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    static var files: [String] {
        let sql = root.appendingPathComponent("sql").path
        let e = FileManager.default.enumerator(atPath: sql)
        var out: [String] = []
        while let p = e?.nextObject() as? String { if p.hasSuffix(".test") { out.append(p) } }
        return out.sorted()
    }

    enum Mode: String, CaseIterable, Sendable {
        case oneThread, fourThreads, fourThreadsPartitionedJoins
        /// Cut into stages as the cluster runs them (3 partitions, scans in up to 3
        /// tasks), each task on one thread; then on two, with every join partitioned.
        case stages, stagesTwoThreadsPartitionedJoins
        /// Four threads under a 4 KiB memory limit: every operator that holds
        /// rows runs under its reservation, and spills what does not fit (the
        /// golden tables are small, so only some do; SpillTests spills every
        /// kind on larger data). A smaller limit leaves a sort's merge no room.
        case fourThreadsSpilling
    }

    @Test(arguments: files, Mode.allCases)
    func golden(_ file: String, mode: Mode) throws {
        let path = Self.root.appendingPathComponent("sql").appendingPathComponent(file).path
        let failures = try SQLLogicFile(path: path, dataDir: Self.root.appendingPathComponent("data").path).run(
            mode: mode, rewrite: mode == .oneThread && ProcessInfo.processInfo.environment["SLUICE_REWRITE_GOLDEN"] == "1")
        for f in failures { Issue.record(Comment(rawValue: f)) }
    }
}

/// One sqllogictest file: records of `statement ok`, `statement error <text>`
/// and `query <types> [rowsort|nosort|valuesort]` followed by SQL, `----`, rows.
struct SQLLogicFile {
    let path: String
    let dataDir: String

    struct Record {
        enum Kind { case ok, error(String), query(types: String, sort: String) }
        var kind: Kind
        var sql: String
        var expected: [String]
        var line: Int
        var headerLine: String
        /// `#` lines just above the record (kept when rewriting; `# duckdb:` ones
        /// tell duckdb_check.py why DuckDB answers differently).
        var comments: [String]
    }

    func parse(_ text: String) -> [Record] {
        var records: [Record] = []
        let lines = text.components(separatedBy: "\n")
        var i = 0
        var comments: [String] = []
        while i < lines.count {
            let l = lines[i].trimmingCharacters(in: .whitespaces)
            if l.hasPrefix("#") { comments.append(lines[i]); i += 1; continue }
            if l.isEmpty { if !comments.isEmpty { comments.append("") }; i += 1; continue }
            let start = i
            var kind: Record.Kind
            if l == "statement ok" { kind = .ok }
            else if l.hasPrefix("statement error") { kind = .error(String(l.dropFirst("statement error".count)).trimmingCharacters(in: .whitespaces)) }
            else if l.hasPrefix("query") {
                let parts = l.split(separator: " ").map(String.init)
                kind = .query(types: parts.count > 1 ? parts[1] : "", sort: parts.count > 2 ? parts[2] : "nosort")
            } else { i += 1; continue }
            i += 1
            var sql: [String] = []
            while i < lines.count, !lines[i].trimmingCharacters(in: .whitespaces).isEmpty, lines[i] != "----" { sql.append(lines[i]); i += 1 }
            var expected: [String] = []
            if i < lines.count, lines[i] == "----" {
                i += 1
                while i < lines.count, !lines[i].trimmingCharacters(in: .whitespaces).isEmpty { expected.append(lines[i]); i += 1 }
            }
            while comments.last == "" { comments.removeLast() }
            records.append(Record(kind: kind, sql: sql.joined(separator: "\n"), expected: expected, line: start + 1, headerLine: lines[start], comments: comments))
            comments = []
        }
        return records
    }

    static func render(_ schema: Schema, _ batches: [RecordBatch]) -> [[String]] {
        var rows: [[String]] = []
        for b in batches {
            for r in 0..<b.rowCount {
                rows.append(b.columns.indices.map { c in
                    let s = Columnar.render(b.columns[c].value(at: r), as: schema.fields[c].type) ?? "NULL"
                    // One row per line: newlines and tabs inside values are written escaped.
                    return s.isEmpty ? "(empty)" : s.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
                })
            }
        }
        return rows
    }

    static func sameValue(_ a: String, _ b: String, real: Bool) -> Bool {
        if a == b { return true }
        guard real, let x = Double(a), let y = Double(b) else { return false }
        return abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-300)
    }

    func run(mode: SQLLogicTests.Mode, rewrite: Bool) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let session = Session()
        switch mode {
        case .oneThread, .stages: try session.setThreads(1)
        case .fourThreads, .fourThreadsPartitionedJoins: try session.setThreads(4)
        case .fourThreadsSpilling:
            try session.setThreads(4)
            session.memoryLimit = 4 << 10
        case .stagesTwoThreadsPartitionedJoins: try session.setThreads(2)
        }
        if mode == .fourThreadsPartitionedJoins || mode == .stagesTwoThreadsPartitionedJoins { session.broadcastLimit = 0 }
        if mode == .stages || mode == .stagesTwoThreadsPartitionedJoins {
            // Small files too are shared out by bytes, as large ones are on a cluster.
            session.stages = StageCutter(partitions: 3, scanTasks: 3, minTaskBytes: 0)
        }
        var failures: [String] = []
        var rewritten: [String] = []
        let name = URL(fileURLWithPath: path).lastPathComponent + " (\(mode))"
        // Files a test writes go to a folder of this run's own: the modes run at
        // the same time and must not read each other's output.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-golden-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for rec in parse(text) {
            let sql = rec.sql.replacingOccurrences(of: "__DATA__", with: dataDir)
                .replacingOccurrences(of: "__SCRATCH__", with: scratch.path)
            var out = [rec.headerLine, rec.sql]
            switch rec.kind {
            case .ok:
                do { _ = try session.execute(sql) } catch { failures.append("\(name):\(rec.line): statement failed: \(error.render(in: sql))") }
            case .error(let want):
                do {
                    _ = try session.execute(sql)
                    failures.append("\(name):\(rec.line): statement should fail with \"\(want)\" but succeeded")
                } catch {
                    let msg = error.render(in: sql)
                    if !want.isEmpty, !msg.contains(want) { failures.append("\(name):\(rec.line): error \"\(msg)\" lacks \"\(want)\"") }
                }
            case .query(let types, let sort):
                do {
                    guard case .rows(let schema, let batches)? = try session.execute(sql).last else {
                        failures.append("\(name):\(rec.line): query returned no rows result"); continue
                    }
                    var rows = SQLLogicFile.render(schema, batches)
                    if !types.isEmpty, schema.count != types.count {
                        failures.append("\(name):\(rec.line): \(schema.count) columns, header says \(types.count)")
                    }
                    var actual: [String]
                    if sort == "valuesort" { actual = rows.flatMap { $0 }.sorted() }
                    else {
                        if sort == "rowsort" { rows.sort { $0.joined(separator: "\t") < $1.joined(separator: "\t") } }
                        actual = rows.map { $0.joined(separator: "\t") }
                    }
                    out.append("----")
                    out += actual
                    let real = Array(types).map { $0 == "R" }
                    let matches = actual.count == rec.expected.count && zip(actual, rec.expected).allSatisfy { a, e in
                        let ac = a.components(separatedBy: "\t"), ec = e.components(separatedBy: "\t")
                        return ac.count == ec.count && ac.indices.allSatisfy { SQLLogicFile.sameValue(ac[$0], ec[$0], real: $0 < real.count && real[$0]) }
                    }
                    if !matches {
                        failures.append("\(name):\(rec.line): query\n\(rec.sql)\nexpected:\n\(rec.expected.joined(separator: "\n"))\nactual:\n\(actual.joined(separator: "\n"))")
                    }
                } catch {
                    failures.append("\(name):\(rec.line): query failed: \(error.render(in: sql))")
                    out.append("----")
                    out += rec.expected
                }
            }
            if case .query = rec.kind {} else { out = [rec.headerLine, rec.sql] }
            rewritten.append((rec.comments + out).joined(separator: "\n"))
        }
        if rewrite {
            try (rewritten.joined(separator: "\n\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
        return failures
    }
}

extension Error {
    func render(in sql: String) -> String { (self as? SQLError)?.render(in: sql) ?? "\(self)" }
}
