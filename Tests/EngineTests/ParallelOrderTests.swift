import Columnar
import Execution
import Foundation
import SQL
import Testing

/// On many threads a query keeps its input's order where no operator changes
/// it: scans in file order through filters and projections, LIMIT without
/// ORDER BY taking the file's first rows, COPY writing rows in result order,
/// for files large enough to be read in ranges (CSV, JSON Lines, Sluice).
@Suite(.serialized)
struct ParallelOrderTests {
    static let dir: String = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-order-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    /// 150,000 rows, about 6 MiB of CSV, with values that compress poorly so
    /// the Sluice copy is large enough to be read in ranges too.
    static let csv: String = {
        let path = dir + "/events.csv"
        var text = "id,kind,note\n"
        var h: UInt64 = 1
        for i in 0..<150_000 {
            h = h &* 6364136223846793005 &+ 1442695040888963407
            text += "\(i),k\(i % 13),\"\(String(h, radix: 36))\(i % 1000 == 0 ? "\nwith a newline" : "")\"\n"
        }
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }()

    func session(_ threads: Int) throws -> Session {
        let s = Session()
        try s.setThreads(threads)
        return s
    }

    func rows(_ s: Session, _ sql: String) throws -> [[Value]] {
        guard case .rows(_, let batches)? = try s.execute(sql).last else { return [] }
        return batches.flatMap { b in (0..<b.rowCount).map { b.row($0) } }
    }

    @Test func scansFiltersAndLimitsKeepFileOrder() throws {
        defer { try? FileManager.default.removeItem(atPath: Self.dir) }
        let one = try session(1), four = try session(4)
        for sql in ["SELECT * FROM '\(Self.csv)'",
                    "SELECT id, note FROM '\(Self.csv)' WHERE id % 7 = 3",
                    "SELECT id * 2 AS twice FROM '\(Self.csv)' WHERE kind <> 'k5' LIMIT 1000 OFFSET 20000",
                    "SELECT * FROM '\(Self.csv)' LIMIT 10"] {
            let serial = try rows(one, sql)
            #expect(!serial.isEmpty)
            #expect(try rows(four, sql) == serial, "\(sql)")
        }
        #expect(try rows(four, "SELECT id FROM '\(Self.csv)' LIMIT 3") == [[.int(0)], [.int(1)], [.int(2)]])

        // COPY on four threads writes rows in result order, in every format; reading
        // each copy back (in ranges, on four threads) gives the rows in the same order.
        let all = try rows(one, "SELECT * FROM '\(Self.csv)'")
        for format in ["csv", "jsonl", "sluice"] {
            let copy = Self.dir + "/copy.\(format)"
            _ = try four.execute("COPY (SELECT * FROM '\(Self.csv)') TO '\(copy)' (FORMAT \(format))")
            let size = try FileManager.default.attributesOfItem(atPath: copy)[.size] as! Int
            #expect(size > 2 << 20, "\(format): \(size) bytes is too small to be read in ranges")
            #expect(try rows(four, "SELECT * FROM '\(copy)'") == all, "\(format)")
            #expect(try rows(four, "SELECT id FROM '\(copy)' WHERE id >= 149998") == [[.int(149_998)], [.int(149_999)]], "\(format)")
        }
    }
}
