import Columnar
@testable import Execution
import Foundation
import SQL
import Testing

/// Queries under a memory limit: grouping with many groups (string
/// aggregates, kept values), sorts of more than the budget, give the answers
/// they give without a limit, spilling to the temp dir; a limit too small to
/// make progress and a spill write that fails give clear errors; the temp
/// dir is empty afterwards, every time; the pool never passes its limit.
@Suite(.serialized)
final class SpillTests {
    let dir: String
    let temp: String
    static let limit = 8 << 20

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-spill-tests-\(getpid())-\(UUID().uuidString.prefix(8))").path
        dir = base + "/data"
        temp = base + "/temp"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: temp, withIntermediateDirectories: true)
        var r: UInt64 = 7
        func next(_ n: Int) -> Int { r = r &* 6364136223846793005 &+ 1442695040888963407; return Int((r >> 33) % UInt64(n)) }
        var facts = "id,k,g,v,note\n"
        for i in 0..<120_000 {
            let note = String(repeating: "abcdefghij", count: 1 + next(3)) + "-\(next(100_000))"
            facts += "\(i),\(next(40_000)),g\(next(7)),\(next(1000)),\(note)\n"
        }
        try facts.write(toFile: dir + "/facts.csv", atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }

    var queries: [String] {
        let f = "'\(dir)/facts.csv'"
        return [
            "SELECT k, count(*), sum(v), max(note), min(g) FROM \(f) GROUP BY k",
            "SELECT g, k % 100 AS b, count(*), avg(v), min(note), median(v) FROM \(f) GROUP BY g, b",
            "SELECT id, k, note FROM \(f) ORDER BY note DESC, id",
            "SELECT note, count(*) AS n FROM \(f) GROUP BY note ORDER BY n DESC, note LIMIT 20",
            // A top-N whose rows do not fit: sorted externally, the first N kept.
            "SELECT id, note, v FROM \(f) ORDER BY note DESC, v, id LIMIT 90000",
            // Build sides larger than the limit's share: partitioned, and spilled as a grace hash join.
            "SELECT a.id, a.k, b.note FROM \(f) a JOIN \(f) b ON a.id = b.id",
            "SELECT a.k, count(b.id), max(b.note) FROM \(f) a LEFT JOIN (SELECT * FROM \(f) WHERE v < 500) b ON a.id = b.id AND a.v > b.v GROUP BY a.k",
            "SELECT a.id, b.id FROM (SELECT * FROM \(f) WHERE v < 300) a FULL JOIN (SELECT * FROM \(f) WHERE v > 600) b ON a.k = b.k AND a.g = b.g",
            // A CTE read twice is materialized: beyond its share of the budget its rows go to a spill file, read back by each reader.
            "WITH big AS (SELECT id, k, note FROM \(f)) SELECT a.k, count(*), max(b.note) FROM big a JOIN big b ON a.id = b.id GROUP BY a.k",
            // Windows over a sort that spills; set operations that group every row.
            "SELECT id, g, note, row_number() OVER (PARTITION BY g ORDER BY note, id) AS rn, sum(v) OVER (PARTITION BY g ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s FROM \(f)",
            "SELECT k, note FROM \(f) WHERE v < 700 EXCEPT SELECT k, note FROM \(f) WHERE v < 300 UNION SELECT k, g FROM \(f) WHERE v > 990",
        ]
    }

    func session(_ limit: Int?) -> Session {
        let s = Session()
        try? s.setThreads(2)
        if let limit { s.memoryLimit = limit }
        s.tempDirectory = temp
        return s
    }

    var tempIsEmpty: Bool { ((try? FileManager.default.contentsOfDirectory(atPath: temp)) ?? ["?"]).isEmpty }

    @Test func answersUnderALimitEqualThoseWithout() throws {
        for sql in queries {
            let ordered = sql.contains("ORDER BY")
            var expected = try renderedRows(session(nil), sql)
            let limited = session(Self.limit)
            var actual = try renderedRows(limited, sql)
            #expect(limited.lastMemoryPeak <= Self.limit && limited.lastMemoryPeak > 0, "\(sql): peak \(limited.lastMemoryPeak)")
            if !ordered {
                expected.sort { $0.lexicographicallyPrecedes($1) }
                actual.sort { $0.lexicographicallyPrecedes($1) }
            }
            #expect(sameRows(actual, expected), "\(sql): \(actual.count) rows, \(expected.count) expected")
            #expect(tempIsEmpty, "\(sql) left spill files")
        }
    }

    @Test func explainAnalyzeShowsWhatSpilled() throws {
        for sql in [queries[0], queries[2], queries[4], queries[5], queries[9]] {
            let plan = try renderedRows(session(Self.limit), "EXPLAIN ANALYZE " + sql).map { $0[0] }.joined(separator: "\n")
            let spilled = plan.split(separator: "\n").first { $0.contains("spilled=") && !$0.contains("spilled=0B") }
            #expect(spilled != nil && plan.contains("peak_memory="), "\(sql)\n\(plan)")
            #expect(tempIsEmpty)
        }
    }

    /// Cut into stages and run through the in-process shuffle, as on the
    /// cluster: a task's output beyond its share of the budget is written to
    /// a file per bucket as it comes (the map side), read back by the next stage.
    @Test func stageOutputsBeyondTheBudgetGoToFiles() throws {
        let f = "'\(dir)/facts.csv'"
        for sql in ["SELECT id, k, note, v FROM \(f) WHERE v >= 0",
                    "SELECT a.id, a.v, b.note FROM \(f) a JOIN \(f) b ON a.id = b.id"] {
            var expected = try renderedRows(session(nil), sql)
            let staged = session(4 << 20)
            staged.stages = StageCutter(partitions: 3, scanTasks: 1, minTaskBytes: 0)
            staged.broadcastLimit = 0
            var actual = try renderedRows(staged, sql)
            expected.sort { $0.lexicographicallyPrecedes($1) }
            actual.sort { $0.lexicographicallyPrecedes($1) }
            #expect(sameRows(actual, expected), "\(sql): \(actual.count) rows, \(expected.count) expected")
            let plan = try renderedRows(staged, "EXPLAIN ANALYZE " + sql).map { $0[0] }
            // A stage that only scans has nothing to spill but its output.
            let stages = plan.split { $0.hasPrefix("STAGE") }.filter { $0.contains { $0.contains("SCAN") } }
            let onlyScans = stages.filter { !$0.contains { l in ["JOIN", "AGGREGATE", "SORT", "TOP"].contains { l.contains($0) } } }
            #expect(onlyScans.contains { $0.first?.contains("spilled=") == true }, "\(plan.joined(separator: "\n"))")
            #expect(tempIsEmpty, "\(sql) left spill files")
        }
    }

    /// A join's build side that every partition shares cannot be spilled: past the budget it is a clear error.
    @Test func aSharedBuildSideBeyondTheLimitIsAClearError() throws {
        let s = session(4 << 20)
        s.broadcastLimit = 1e12
        let f = "'\(dir)/facts.csv'"
        do {
            _ = try s.execute("SELECT count(*) FROM \(f) a JOIN \(f) b ON a.id = b.id AND a.note <> b.note")
            Issue.record("a 4 MiB budget held a shared build side of 120,000 rows")
        } catch {
            #expect(error.message.contains("Out of Memory Error") && error.message.contains("broadcast side") && error.message.contains("memory_limit"),
                    "\(error.message)")
        }
        #expect(tempIsEmpty)
    }

    /// A window partition is held whole while its calls are computed: one
    /// larger than the limit is a clear error, not memory taken unseen.
    @Test func aWindowPartitionBeyondTheLimitIsAClearError() throws {
        let s = session(2 << 20)
        do {
            _ = try s.execute("SELECT max(c) FROM (SELECT count(*) OVER (ORDER BY range) AS c, 'padding ' || range AS p FROM range(400000)) t")
            Issue.record("a 2 MiB budget held a window partition of 400,000 rows")
        } catch {
            #expect(error.message.contains("Out of Memory Error") && error.message.contains("window partition") && error.message.contains("memory_limit"),
                    "\(error.message)")
        }
        #expect(tempIsEmpty)
        // Many small partitions under the same limit are fine.
        let rows = try renderedRows(s, "SELECT count(*) FROM (SELECT row_number() OVER (PARTITION BY range % 50000 ORDER BY range) AS r FROM range(400000)) t")
        #expect(rows == [["400000"]])
        #expect(tempIsEmpty)
    }

    /// State that cannot spill (the rows an ordered aggregate holds, the rows a
    /// recursive UNION has seen) is held under the limit too: past it, a clear error.
    @Test func heldAggregateRowsAndRecursiveUnionRowsCountAgainstTheLimit() throws {
        let s = session(2 << 20)
        for sql in ["SELECT length(string_agg(range::VARCHAR, ',' ORDER BY range DESC)) FROM range(400000)",
                    "SELECT count(*) FROM (SELECT range % 3 AS g, string_agg(range::VARCHAR, ',' ORDER BY range) AS s FROM range(400000) GROUP BY g) t",
                    "WITH RECURSIVE r(n) AS (SELECT 1 UNION SELECT n + 1 FROM r WHERE n < 200000) SELECT count(*) FROM r"] {
            do {
                _ = try s.execute(sql)
                Issue.record("a 2 MiB budget held the rows of: \(sql)")
            } catch {
                #expect(error.message.contains("Out of Memory Error") && error.message.contains("memory_limit"), "\(error.message)")
            }
            #expect(tempIsEmpty)
        }
        // Within the limit they answer.
        #expect(try renderedRows(s, "SELECT string_agg(range::VARCHAR, ',' ORDER BY range DESC) FROM range(5)") == [["4,3,2,1,0"]])
        #expect(try renderedRows(s, "WITH RECURSIVE r(n) AS (SELECT 1 UNION SELECT n % 50 + 1 FROM r) SELECT count(*) FROM r") == [["50"]])
    }

    @Test func aLimitTooSmallToMakeProgressIsAClearError() throws {
        let s = session(1 << 20)
        do {
            _ = try s.execute(queries[2])
            Issue.record("a 1 MiB budget sorted batches larger than itself")
        } catch {
            #expect(error.message.contains("Out of Memory Error") && error.message.contains("ORDER BY") && error.message.contains("memory_limit"),
                    "\(error.message)")
        }
        #expect(tempIsEmpty)
        // Kept values (DISTINCT, median) of groups in memory cannot be spilled apart from their group.
        do {
            _ = try session(Self.limit).execute("SELECT k, g, median(v), count(DISTINCT note) FROM '\(dir)/facts.csv' GROUP BY k, g")
        } catch {
            #expect(error.message.contains("Out of Memory Error") && error.message.contains("memory_limit"), "\(error.message)")
        }
        #expect(tempIsEmpty)
        // A setting below 1 MiB is refused as such.
        #expect(throws: SQLError.self) { try s.execute("SET memory_limit = '100KB'") }
    }

    @Test func aSpillWriteThatFailsIsAClearErrorAndLeavesNothing() throws {
        for sql in [queries[0], queries[2]] {
            SpillSpace.failNextWrite.store(true, ordering: .relaxed)
            defer { SpillSpace.failNextWrite.store(false, ordering: .relaxed) }
            do {
                _ = try session(Self.limit).execute(sql)
                Issue.record("\(sql) finished with its spill write failing")
            } catch {
                #expect(error.message.contains("cannot write the spill file") && error.message.contains("temp_directory"), "\(error.message)")
            }
            #expect(tempIsEmpty)
        }
    }

    @Test func whatAKilledProcessLeftIsSweptAndNothingElse() throws {
        let dead = temp + "/sluice-spill-999999-abc", mine = temp + "/sluice-spill-\(getpid())-def", other = temp + "/keep-me"
        for d in [dead, mine, other] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        defer { for d in [dead, mine, other] { try? FileManager.default.removeItem(atPath: d) } }
        #expect(SpillSpace.sweep(temp) == [dead])
        #expect(FileManager.default.fileExists(atPath: mine) && FileManager.default.fileExists(atPath: other))
    }
}

