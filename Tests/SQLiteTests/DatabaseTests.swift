import Foundation
import Testing
import SQLite

@Suite struct DatabaseTests {
    func scratch() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("sluice-sqlite-\(UUID().uuidString).db").path
    }

    @Test func writesInATransactionAndReadsBack() throws {
        let path = scratch()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try Database(path: path)
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB, x REAL)")
        try db.transaction {
            for i in 0..<100 {
                try db.statement("INSERT INTO t VALUES (?, ?, ?, ?)").run(.integer(Int64(i)), .text("n\(i)"), .blob([UInt8(i), 0]), .real(Double(i) / 2))
            }
        }
        var rows: [(Int64, String, [UInt8], Double)] = []
        try db.statement("SELECT id, name, data, x FROM t WHERE id >= ? ORDER BY id").query(.integer(98)) { r in
            rows.append((r.int(0), r.text(1), r.blob(2), r.double(3)))
        }
        #expect(rows.map(\.0) == [98, 99])
        #expect(rows[1].1 == "n99" && rows[1].2 == [99, 0] && rows[1].3 == 49.5)
    }

    @Test func aFailedTransactionRollsBack() throws {
        let path = scratch()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try Database(path: path)
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        #expect(throws: SQLiteError.self) {
            try db.transaction {
                try db.statement("INSERT INTO t VALUES (?)").run(.integer(1))
                try db.statement("INSERT INTO t VALUES (?)").run(.integer(1))
            }
        }
        var count: Int64 = -1
        try db.statement("SELECT count(*) FROM t").query { count = $0.int(0) }
        #expect(count == 0)
    }

    @Test func badSQLNamesTheStatement() throws {
        let db = try Database(path: ":memory:")
        let error = #expect(throws: SQLiteError.self) { try db.execute("SELEKT 1") }
        #expect(error?.description.contains("SELEKT") == true)
    }
}
