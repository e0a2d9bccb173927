import Columnar
import Execution
import Foundation
import SQL
import Testing

/// CSV output quotes exactly what needs it and formats every type as the
/// engine renders it; what it writes reads back to the same rows.
struct CSVWriterTests {
    @Test func quotesWhatMustBeQuotedAndFormatsEveryType() throws {
        var s = ColumnBuilder(type: .varchar)
        for v in ["plain", "a,b", "say \"hi\"", "two\nlines", " lead", "trail ", "", "cr\r"] { s.append(string: v) }
        var i = ColumnBuilder(type: .bigint)
        for v: Int64 in [0, -1, 42, .min, .max, 7, 1_000_000, -90] { i.append(int64: v) }
        var d = ColumnBuilder(type: .decimal(precision: 15, scale: 2))
        for v: Int64 in [0, -50, 12345, -1, 100, 5, -99_999, 1] { d.append(int64: v) }
        var n = ColumnBuilder(type: .integer)
        for k in 0..<8 { if k % 3 == 0 { n.appendNull() } else { n.append(.int(Int64(k))) } }
        let schema = Schema([Field("s", .varchar), Field("i", .bigint), Field("d", .decimal(precision: 15, scale: 2)), Field("n,", .integer)])
        let batch = RecordBatch(schema: schema, columns: [s.finish(), i.finish(), d.finish(), n.finish()], rowCount: 8)
        var out: [UInt8] = []
        let w = CSVWriter()
        w.header(schema, into: &out)
        w.append(batch, into: &out)
        let expected = ["s,i,d,\"n,\"", "plain,0,0.00,", "\"a,b\",-1,-0.50,1", "\"say \"\"hi\"\"\",42,123.45,2",
                        "\"two\nlines\",-9223372036854775808,-0.01,", "\" lead\",9223372036854775807,1.00,4", "\"trail \",7,0.05,5",
                        "\"\",1000000,-999.99,", "\"cr\r\",-90,0.01,7"]
        #expect(String(decoding: out, as: UTF8.self) == expected.joined(separator: "\n") + "\n")
    }

    /// (An empty string would read back as NULL: the reader takes an empty field
    /// as NULL, quoted or not, as DuckDB does by default.)
    @Test func whatCopyWritesReadsBackTheSame() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-csvwriter-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let session = Session()
        let sql = """
            SELECT * FROM (VALUES (1, 'a;b', 1.25::DECIMAL(10,2), DATE '2026-02-03', TIMESTAMP '2026-02-03 04:05:06.5', 2.5::DOUBLE, true, INTERVAL 2 DAY),
                                  (NULL, ' ', -0.05::DECIMAL(10,2), NULL, NULL, -1e300::DOUBLE, NULL, NULL),
                                  (-7, 'x"y', NULL, DATE '1969-12-31', TIMESTAMP '1900-01-01 00:00:00', NULL, false, INTERVAL 1 MONTH)) v(i, s, d, dt, ts, f, b, iv)
            """
        guard case .rows(_, let original)? = try session.execute(sql).last else { Issue.record("no rows"); return }
        _ = try session.execute("COPY (\(sql)) TO '\(dir)/out.csv' (DELIMITER ';')")
        let back = "SELECT * FROM read_csv('\(dir)/out.csv', delim=';', columns={'i': 'INTEGER', 's': 'VARCHAR', 'd': 'DECIMAL(10,2)', 'dt': 'DATE', 'ts': 'TIMESTAMP', 'f': 'DOUBLE', 'b': 'BOOLEAN', 'iv': 'INTERVAL'}, header=true)"
        guard case .rows(_, let read)? = try session.execute(back).last else { Issue.record("no rows"); return }
        let rows = { (bs: [RecordBatch]) in bs.flatMap { b in (0..<b.rowCount).map { b.row($0) } } }
        #expect(rows(read) == rows(original))
    }
}
