import Foundation
import Testing

/// `sluice query --local` as a separate process: output formats, errors and exit
/// codes, files named as tables, EXPLAIN, corrupt files, Ctrl-C.
@Suite(.serialized)
struct QueryCommandTests {
    let data = SQLLogicTests.root.appendingPathComponent("data").path
    let bin = SluiceProcess.debugBinary

    /// A fresh folder under the temporary directory; the caller removes it.
    func scratch() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-query-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func printsAnAlignedTableByDefault() throws {
        let r = try SluiceProcess.run(["query", "--local", "SELECT name, age FROM '\(data)/people.csv' WHERE age > 30 ORDER BY age"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("name") && $0.contains("age") })
        #expect(lines.contains { $0.contains("Ada") && $0.contains("36") })
        #expect(lines.last == "2 rows")
        // Columns line up: every table line has the same width.
        let widths = Set(lines.dropLast().map { $0.count })
        #expect(widths.count == 1)
    }

    @Test(arguments: [("csv", "name,age\nAda,36\nDan,41\n"),
                      ("jsonl", "{\"name\":\"Ada\",\"age\":36}\n{\"name\":\"Dan\",\"age\":41}\n"),
                      ("json", "[{\"name\":\"Ada\",\"age\":36},\n {\"name\":\"Dan\",\"age\":41}]\n")])
    func formats(_ format: String, _ expected: String) throws {
        let r = try SluiceProcess.run(["query", "--local", "--format", format, "SELECT name, age FROM '\(data)/people.csv' WHERE age > 30 ORDER BY age"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == expected)
    }

    @Test func sqlFromStdinAndJSONAsAFlag() throws {
        let sql = "SELECT name, age FROM '\(data)/people.csv' WHERE age > 30 ORDER BY age"
        for args in [["query", "--local", "--format", "csv"], ["query", "--local", "--format", "csv", "-f", "-"]] {
            let r = try SluiceProcess.run(args, stdin: sql)
            #expect(r.status == 0 && r.stdout == "name,age\nAda,36\nDan,41\n", "\(args): \(r.stdout)\(r.stderr)")
        }
        let j = try SluiceProcess.run(["query", "--local", "--json", sql])
        #expect(j.stdout == "[{\"name\":\"Ada\",\"age\":36},\n {\"name\":\"Dan\",\"age\":41}]\n", "\(j.stdout)\(j.stderr)")
        let both = try SluiceProcess.run(["query", "--local", "--json", "--format", "csv", sql])
        #expect(both.status != 0 && both.stderr.contains("--json is --format json"))
        let empty = try SluiceProcess.run(["query", "--local"], stdin: "  \n")
        #expect(empty.status != 0 && empty.stderr.contains("no SQL given"))
    }

    @Test func tablesFromGlobsAndScriptsFromFiles() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = dir + "/report.sql"
        try "CREATE TABLE big AS SELECT * FROM sales WHERE amount > 5;\nSELECT date, count(*) AS n FROM big GROUP BY date ORDER BY date;".write(toFile: script, atomically: true, encoding: .utf8)
        let r = try SluiceProcess.run(["query", "--local", "--format", "csv", "--table", "sales=\(data)/sales/*/*.csv", "-f", script])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "date,n\n2026-11-01,1\n2026-11-02,2\n")
    }

    @Test func errorsPointAtTheSpotAndExitNonZero() throws {
        let r = try SluiceProcess.run(["query", "--local", "SELECT nme\nFROM '\(data)/people.csv'"])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("column \"nme\" not found; did you mean \"name\"?"))
        #expect(r.stderr.contains("LINE 1: SELECT nme\n               ^"))
        let syntax = try SluiceProcess.run(["query", "--local", "SELECT * FROM WHERE"])
        #expect(syntax.status == 1)
        #expect(syntax.stderr.contains("Syntax error"))
        let missing = try SluiceProcess.run(["query", "--local", "-f", "/nonexistent.sql"])
        #expect(missing.status != 0)
        let noLocal = try SluiceProcess.run(["query", "SELECT 1"])
        #expect(noLocal.status != 0)
        #expect(noLocal.stderr.contains("--local"))
    }

    @Test func explainShowsOneOperatorPerLineAndAnalyzeAddsCounts() throws {
        let sql = "SELECT product, sum(amount) FROM '\(data)/sales/*/*.csv' WHERE date = '2026-11-02' GROUP BY product ORDER BY product"
        // CSV quotes the indented lines; unquote them.
        func lines(_ out: String) -> [String] {
            out.split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        let plan = try SluiceProcess.run(["query", "--local", "--threads", "1", "--format", "csv", "EXPLAIN " + sql])
        #expect(plan.status == 0, "\(plan.stderr)")
        let serial = lines(plan.stdout)
        #expect(serial.first?.hasPrefix("ORDER_BY") == true)
        #expect(serial.contains { $0.hasPrefix("  ") && $0.trimmingCharacters(in: .whitespaces).hasPrefix("HASH_AGGREGATE") })
        #expect(serial.contains { $0.contains("SCAN read_csv") && $0.contains("filters:") })
        #expect(!serial.contains { $0.contains("EXCHANGE") }, "one thread needs no exchanges")
        // On four threads: partial aggregates, a repartition on the key, sorted partitions merged.
        let parallel = lines(try SluiceProcess.run(["query", "--local", "--threads", "4", "--format", "csv", "EXPLAIN " + sql]).stdout)
        #expect(parallel.first?.hasPrefix("EXCHANGE gather merging product") == true, "\(parallel)")
        #expect(parallel.contains { $0.contains("EXCHANGE repartition by hash(product)") })
        #expect(parallel.contains { $0.contains("HASH_AGGREGATE (partial)") } && parallel.contains { $0.contains("HASH_AGGREGATE (final)") })
        for threads in ["1", "4"] {
            let analyzed = try SluiceProcess.run(["query", "--local", "--threads", threads, "--format", "csv", "EXPLAIN ANALYZE " + sql])
            #expect(analyzed.status == 0, "\(analyzed.stderr)")
            let scan = analyzed.stdout.split(separator: "\n").first { $0.contains("SCAN") } ?? ""
            // The partition filter skips two of the three directories unopened.
            #expect(scan.contains("files=1 files_skipped=2"), "\(scan)")
            #expect(scan.contains("rows=3"))
            #expect(scan.contains("threads=\(threads)"), "\(scan)")
            #expect(analyzed.stdout.contains("Total: "))
        }
    }

    @Test func explainRunsNothingEvenForASubqueryOverAFile() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/numbers.csv"
        // With the columns given, planning reads no values; running the subquery fails on 'x'.
        try "n\n1\nx\n".write(toFile: file, atomically: true, encoding: .utf8)
        let sql = "SELECT 1 AS one WHERE 2 > (SELECT max(n) FROM read_csv('\(file)', columns={'n': 'BIGINT'}))"
        let explained = try SluiceProcess.run(["query", "--local", "--format", "csv", "EXPLAIN " + sql])
        #expect(explained.status == 0, "\(explained.stderr)")
        #expect(explained.stdout.contains("SUBQUERY $subquery1"))
        #expect(explained.stdout.contains("(2 > $subquery1)"), "\(explained.stdout)")
        let run = try SluiceProcess.run(["query", "--local", "--format", "csv", sql])
        #expect(run.status == 1)
        #expect(run.stderr.contains("could not convert 'x'"), "\(run.stderr)")
    }

    @Test func corruptAndTruncatedSluiceFilesAreRefused() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/people.sluice"
        let w = try SluiceProcess.run(["query", "--local", "COPY (SELECT * FROM '\(data)/people.csv') TO '\(file)' (FORMAT sluice)"])
        #expect(w.status == 0, "\(w.stderr)")
        let ok = try SluiceProcess.run(["query", "--local", "--format", "csv", "SELECT count(*) AS n FROM '\(file)'"])
        #expect(ok.stdout == "n\n5\n")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let corrupt = dir + "/corrupt.sluice"
        bytes[bytes.count - 3] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: corrupt))
        let c = try SluiceProcess.run(["query", "--local", "SELECT * FROM '\(corrupt)'"])
        #expect(c.status == 1)
        #expect(c.stderr.contains("checksum mismatch"), "\(c.stderr)")
        let truncated = dir + "/truncated.sluice"
        try Data(contentsOf: URL(fileURLWithPath: file)).prefix(30).write(to: URL(fileURLWithPath: truncated))
        let t = try SluiceProcess.run(["query", "--local", "SELECT * FROM read_sluice('\(truncated)')"])
        #expect(t.status == 1)
        #expect(t.stderr.contains("truncated"), "\(t.stderr)")
    }

    @Test func quarantineKeepsTheRejectedRowsWithTheirReason() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let q = dir + "/rejected.csv"
        let r = try SluiceProcess.run(["query", "--local", "--format", "csv",
                                       "SELECT id, value FROM read_csv('\(data)/bad_rows.csv', types={'value': 'BIGINT'}, on_error='quarantine', quarantine='\(q)') ORDER BY id"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "id,value\n1,10\n4,40\n")
        let rejected = try String(contentsOfFile: q, encoding: .utf8)
        #expect(rejected.contains("line,reason,row"))
        #expect(rejected.contains(",3,\"expected 2 fields but found 3\",\"2,20,extra\""))
        #expect(rejected.contains("could not convert 'abc' to BIGINT"))
    }

    @Test func ctrlCCancelsARunningQuery() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let big = dir + "/big.csv"
        var text = "a,b\n"
        for i in 0..<200_000 { text += "\(i),\(i % 97)\n" }
        try text.write(toFile: big, atomically: true, encoding: .utf8)
        // A cross join far too large to finish: only Ctrl-C ends it.
        let r = try SluiceProcess.run(["query", "--local", "SELECT count(*) FROM '\(big)' x, '\(big)' y WHERE x.a + y.a = -1"], interruptAfter: 1.5)
        #expect(r.status == 130, "\(r.stderr)")
        #expect(r.stderr.contains("Query cancelled"))
    }
}
