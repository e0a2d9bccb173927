import Columnar
@testable import Execution
import Foundation
import SQL
import Testing

/// The same queries over files large enough to be read in ranges, on one
/// thread, on four, and on four with every hash join partitioned: the answers
/// must be the same rows (as multisets where the query has no total order;
/// DOUBLE within 1e-9 relative). Joins of every kind (with residuals, without
/// keys), aggregates (grouped, global, DISTINCT, median), sorts with ties
/// broken, top-N, LIMIT, subqueries and shared CTEs.
@Suite(.serialized)
final class ParallelDifferentialTests {
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-differential-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var r: UInt64 = 3
        func next(_ n: Int) -> Int { r = r &* 6364136223846793005 &+ 1442695040888963407; return Int((r >> 33) % UInt64(n)) }
        var facts = "id,k,g,v,d,dt,note\n"
        for i in 0..<40_000 {   // about 2.4 MB: read in three ranges on four threads
            let k = next(10) == 0 ? "" : String(next(1200))
            let g = next(15) == 0 ? "" : "g\(next(20))"
            facts += "\(i),\(k),\(g),\(next(100_000) - 50_000).\(next(100)),\(Double(next(1_000_000)) / 7),2026-\(1 + next(12))-\(1 + next(28)),\"n\(next(1000))\"\n"
        }
        try facts.write(toFile: dir + "/facts.csv", atomically: true, encoding: .utf8)
        var dims = "k,name,weight\n"
        for k in 0..<1000 where next(5) != 0 { dims += "\(k + next(3) * 100),name\(k % 37),\(next(50))\n" }
        try dims.write(toFile: dir + "/dims.csv", atomically: true, encoding: .utf8)
        var small = "lo,hi,label\n"
        for i in 0..<12 { small += "\(i * 100),\(i * 100 + 150),band\(i)\n" }
        try small.write(toFile: dir + "/bands.csv", atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// (SQL, ordered): ordered queries compare row for row, the others as multisets.
    var queries: [(String, Bool)] {
        let f = "'\(dir)/facts.csv'", d = "'\(dir)/dims.csv'", b = "'\(dir)/bands.csv'"
        return [
            ("SELECT * FROM \(f)", true),
            ("SELECT id, v FROM \(f) WHERE g = 'g3' AND v > 100", true),
            ("SELECT g, count(*), sum(v), avg(d), min(dt), max(note) FROM \(f) GROUP BY g", false),
            ("SELECT count(*), sum(v), count(k), count(DISTINCT k), median(v) FROM \(f)", false),
            ("SELECT g, count(DISTINCT k) AS n, median(d) FROM \(f) GROUP BY g ORDER BY g NULLS FIRST", true),
            ("SELECT f.id, d.name FROM \(f) f JOIN \(d) d ON f.k = d.k", false),
            ("SELECT f.id, d.name FROM \(f) f LEFT JOIN \(d) d ON f.k = d.k AND d.weight > 10", false),
            ("SELECT f.id, d.k, d.name FROM \(f) f RIGHT JOIN \(d) d ON f.k = d.k", false),
            ("SELECT f.id, d.k FROM \(f) f FULL JOIN \(d) d ON f.k = d.k AND f.v < d.weight * 100", false),
            ("SELECT d.name, count(*), sum(f.v) FROM \(f) f JOIN \(d) d ON f.k = d.k WHERE f.g IN ('g1', 'g2') GROUP BY d.name", false),
            ("SELECT f.id, b.label FROM \(f) f JOIN \(b) b ON f.k >= b.lo AND f.k < b.hi", false),
            ("SELECT f.id, b.label FROM (SELECT * FROM \(f) WHERE id < 500) f RIGHT JOIN \(b) b ON f.k BETWEEN b.lo AND b.hi", false),
            ("SELECT b.label, count(f.id) FROM \(b) b LEFT JOIN \(f) f ON f.k > b.hi AND f.id < 3000 GROUP BY b.label", false),
            ("SELECT id, v, dt FROM \(f) ORDER BY v DESC, id", true),
            ("SELECT id, d FROM \(f) ORDER BY dt, g NULLS FIRST, id DESC LIMIT 100 OFFSET 7", true),
            ("SELECT g, k, count(*) AS n FROM \(f) GROUP BY g, k ORDER BY n DESC, g, k LIMIT 25", true),
            ("SELECT * FROM \(f) WHERE k IS NULL LIMIT 15", true),
            ("SELECT id FROM \(f) WHERE k IN (SELECT k FROM \(d) WHERE weight = 7) AND v > (SELECT avg(v) FROM \(f))", false),
            ("SELECT id FROM \(f) WHERE k NOT IN (SELECT k FROM \(d) WHERE k IS NOT NULL) AND id % 11 = 0", false),
            ("WITH t AS (SELECT k, sum(v) AS s FROM \(f) GROUP BY k) SELECT a.k, a.s, b.s FROM t a JOIN t b ON a.k = b.k + 1", false),
            ("SELECT DISTINCT g FROM \(f)", false),
            // Large build sides: the shared table is built in regions by several threads.
            ("SELECT count(*), sum(a.v - b.v) FROM \(f) a JOIN \(f) b ON a.id = b.id + 1", false),
            ("SELECT a.k, count(*) FROM \(f) a JOIN (SELECT * FROM \(f) WHERE id % 3 = 0) b ON a.k = b.k WHERE a.id < 2000 GROUP BY a.k", false),
            ("SELECT a.id, b.id FROM (SELECT * FROM \(f) WHERE id < 300) a JOIN \(f) b ON a.g = b.g AND a.dt = b.dt", false),
            ("SELECT count(*), count(a.id), count(b.id) FROM (SELECT * FROM \(f) WHERE id < 500) a FULL JOIN \(f) b ON a.note = b.note AND a.k = b.k", false),
            // Grouped by another column than the join's key, which sits at the key's position in the aggregate's
            // output: the join's partitioning must not pass for the grouping's (it did, by column position).
            ("SELECT a.k, count(*), sum(b.v) FROM \(f) a JOIN \(f) b ON a.id = b.id GROUP BY a.k", false),
            ("SELECT x, count(*) FROM (SELECT a.g AS x, a.id FROM \(f) a JOIN \(f) b ON a.id = b.id) GROUP BY x", false),
        ]
    }

    @Test func parallelAnswersEqualSerialOnes() throws {
        let serial = Session()
        try serial.setThreads(1)
        let parallel = Session()
        try parallel.setThreads(4)
        let partitioned = Session()
        try partitioned.setThreads(4)
        partitioned.broadcastLimit = 0
        for (sql, ordered) in queries {
            let expected = try renderedRows(serial, sql)
            #expect(!expected.isEmpty, "\(sql) returned nothing")
            for (name, s) in [("four threads", parallel), ("partitioned joins", partitioned)] {
                var actual = try renderedRows(s, sql)
                var want = expected
                if !ordered {
                    actual.sort { $0.lexicographicallyPrecedes($1) }
                    want.sort { $0.lexicographicallyPrecedes($1) }
                }
                #expect(sameRows(actual, want), "\(name): \(sql) (\(actual.count) rows, \(want.count) expected)")
            }
        }
    }
}
