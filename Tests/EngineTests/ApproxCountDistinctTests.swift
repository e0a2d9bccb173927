import Columnar
@testable import Execution
import Testing

/// approx_count_distinct is a HyperLogLog sketch: within 2% of the exact
/// count on a million distinct values (integers and strings), exact on small
/// groups, NULLs not counted, the same answer on 1 thread and on 4 (its values
/// are an intended difference from DuckDB's, which sketches differently).
struct ApproxCountDistinctTests {
    func values(_ sql: String, threads: Int = 2) throws -> [[Value]] {
        let s = Session()
        try s.setThreads(threads)
        guard case .rows(_, let batches)? = try s.execute(sql).last else { return [] }
        return batches.flatMap { b in (0..<b.rowCount).map { b.row($0) } }
    }

    func int(_ v: Value) -> Int64 { if case .int(let x) = v { return x }; return -1 }

    @Test func aMillionDistinctValuesWithinTwoPercent() throws {
        for sql in ["SELECT approx_count_distinct(x), count(DISTINCT x) FROM range(1000000) t(x)",
                    "SELECT approx_count_distinct('k' || x), count(DISTINCT 'k' || x) FROM range(1000000) t(x)",
                    "SELECT approx_count_distinct(x % 250000), count(DISTINCT x % 250000) FROM range(1000000) t(x)"] {
            let row = try values(sql)[0]
            let estimate = Double(int(row[0])), exact = Double(int(row[1]))
            #expect(abs(estimate - exact) / exact < 0.02, "\(sql): \(estimate) for \(exact)")
        }
    }

    @Test func smallGroupsAreExactAndNullsDoNotCount() throws {
        let sql = "SELECT x % 7 AS g, approx_count_distinct(CASE WHEN x % 3 = 0 THEN NULL ELSE x % 500 END), count(DISTINCT CASE WHEN x % 3 = 0 THEN NULL ELSE x % 500 END) FROM range(20000) t(x) GROUP BY g ORDER BY g"
        let one = try values(sql, threads: 1), four = try values(sql, threads: 4)
        #expect(one.count == 7)
        for r in one { #expect(int(r[1]) == int(r[2]), "\(r)") }
        #expect(one.map { $0.map(int) } == four.map { $0.map(int) })
        #expect(try values("SELECT approx_count_distinct(NULL::INTEGER), approx_count_distinct(x) FROM range(0) t(x)")[0].map(int) == [0, 0])
    }
}
