import Foundation
import Synchronization
import Testing

/// The coordinator's catalog of datasets, through the CLI of a real cluster:
/// register, list, show, drop; datasets by name in SQL on the cluster and in
/// `query --local --catalog`; and the registrations it refuses.
@Suite(.serialized)
struct CatalogTests {
    /// A partitioned CSV dataset: sales/date=.../part-N.csv, 2 files a day for 3 days.
    func lake(_ root: String) throws -> [(date: String, amount: Int)] {
        var rows: [(String, Int)] = []
        for (d, date) in ["2026-11-01", "2026-11-02", "2026-11-03"].enumerated() {
            let dir = root + "/sales/date=\(date)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for part in 0..<2 {
                var text = "id,product,amount\n"
                for i in 0..<50 {
                    let amount = (d + 1) * 100 + part * 10 + i
                    text += "\(i),p\(i % 3),\(amount)\n"
                    rows.append((date, amount))
                }
                try text.write(toFile: dir + "/part-\(part).csv", atomically: true, encoding: .utf8)
            }
        }
        return rows
    }

    func cluster(_ name: String = #function, root: String) throws -> TestCluster {
        let c = try TestCluster(name: name)
        do {
            try c.startCoordinator(["--sql-root", root])
            try c.startWorker("w1", slots: 2, allowCommands: false)
            try c.startWorker("w2", slots: 2, allowCommands: false)
            try c.waitForWorkers(2)
        } catch {
            c.shutdown()
            throw error
        }
        return c
    }

    func scratch(_ name: String) throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-catalog-\(name)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func datasetsAreRegisteredListedShownQueriedAndDropped() throws {
        let root = try scratch("lake")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let rows = try lake(root)
        let c = try cluster(root: root)
        defer { c.shutdown() }

        let reg = try c.cli(["catalog", "register", "sales", "--path", root + "/sales", "--format", "csv", "--partitioned-by", "date"])
        try #require(reg.status == 0, "\(reg.err)")
        #expect(reg.out.contains("sales: csv at \(root)/sales") && reg.out.contains("6 files"), "\(reg.out)")
        #expect(reg.out.contains("date=2026-11-02") && reg.out.contains("amount BIGINT"), "\(reg.out)")

        let list = try c.cli(["catalog", "list", "--json"])
        #expect(list.status == 0 && list.out.contains("\"name\" : \"sales\"") && list.out.contains("\"files\" : 6"), "\(list.out)\(list.err)")
        let show = try c.cli(["catalog", "show", "SALES", "--json"])
        #expect(show.status == 0 && show.out.contains("\"partitionColumns\" : [\n    \"date\"\n  ]"), "\(show.out)\(show.err)")

        // By name on the cluster, with a partition filter.
        let q = try c.cli(["query", "--format", "csv", "SELECT date, count(*) AS n, sum(amount) AS total FROM sales WHERE date >= '2026-11-02' GROUP BY date ORDER BY date"])
        try #require(q.status == 0, "\(q.err)")
        var expected = "date,n,total\n"
        for date in ["2026-11-02", "2026-11-03"] {
            let day = rows.filter { $0.date == date }
            expected += "\(date),\(day.count),\(day.reduce(0) { $0 + $1.amount })\n"
        }
        #expect(q.out == expected)

        // In one process, from the coordinator's catalog file: the filter prunes the listed files, no directory walk.
        let local = try c.cli(["query", "--local", "--threads", "1", "--catalog", c.dir + "/coordinator", "--format", "csv",
                               "EXPLAIN ANALYZE SELECT count(*) FROM sales WHERE date = '2026-11-03'"])
        #expect(local.status == 0 && local.out.contains("files=2 files_skipped=4"), "\(local.out)\(local.err)")

        // Registering again refreshes the file list (a new day).
        _ = try lake(root + "/more")
        try FileManager.default.createDirectory(atPath: root + "/sales/date=2026-11-04", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/more/sales/date=2026-11-01/part-0.csv", toPath: root + "/sales/date=2026-11-04/part-0.csv")
        #expect(try c.cli(["catalog", "register", "sales", "--path", root + "/sales", "--partitioned-by", "date"]).status == 0)
        let days = try c.cli(["query", "--format", "csv", "SELECT count(DISTINCT date) AS d FROM sales"])
        #expect(days.out == "d\n4\n", "\(days.out)\(days.err)")

        // A file that changed since: a clear error, never an answer from other data.
        try "999,p0,1\n".appendLine(to: root + "/sales/date=2026-11-01/part-0.csv")
        let stale = try c.cli(["query", "SELECT count(*) FROM sales"])
        #expect(stale.status == 1 && stale.err.contains("register it again") && stale.err.contains("part-0.csv"), "\(stale.err)")

        let drop = try c.cli(["catalog", "drop", "sales"])
        #expect(drop.status == 0 && drop.out.contains("dropped sales"), "\(drop.err)")
        let gone = try c.cli(["query", "SELECT count(*) FROM sales"])
        #expect(gone.status == 1 && gone.err.contains("does not exist"), "\(gone.err)")
        #expect(FileManager.default.fileExists(atPath: root + "/sales/date=2026-11-02/part-0.csv"), "drop without --purge keeps the files")

        // --purge deletes the files.
        #expect(try c.cli(["catalog", "register", "day3", "--path", root + "/sales/date=2026-11-03/*.csv"]).status == 0)
        #expect(try c.cli(["catalog", "drop", "day3", "--purge"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: root + "/sales/date=2026-11-03/part-0.csv"))
    }

    @Test func badRegistrationsAreRefusedSayingWhy() throws {
        let root = try scratch("bad")
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try lake(root)
        try "a,b\n1,x\n".write(toFile: root + "/text.csv", atomically: true, encoding: .utf8)
        let c = try cluster(root: root)
        defer { c.shutdown() }
        func refused(_ args: [String], _ words: String...) throws {
            let r = try c.cli(["catalog", "register"] + args)
            #expect(r.status == 1, "\(args) was accepted: \(r.out)")
            for w in words { #expect(r.err.contains(w), "\(args): \(r.err)") }
        }
        try refused(["t", "--path", "/etc/passwd", "--format", "csv"], "--sql-root")
        try refused(["t", "--path", root + "/nothing/*.csv"], "no files match")
        try refused(["t", "--path", root + "/missing.csv"], "does not exist")
        try refused(["bad-name", "--path", root + "/text.csv"], "letters, digits and underscores")
        try refused(["t", "--path", root + "/text.csv", "--schema", "a INTEGER, b NOTATYPE"], "unknown type", "NOTATYPE")
        try refused(["t", "--path", root + "/text.csv", "--schema", "a INTEGER, b INTEGER"], "x")
        try refused(["t", "--path", root + "/text.csv", "--schema", "a"], "needs a name and a type")
        try refused(["t", "--path", root + "/sales", "--partitioned-by", "region"], "region=VALUE")
        let format = try c.cli(["catalog", "register", "t", "--path", root + "/text.csv", "--format", "parquet"])
        #expect(format.status != 0 && format.err.contains("csv, jsonl or sluice"), "\(format.err)")
        let unknown = try c.cli(["catalog", "show", "nope"])
        #expect(unknown.status == 1 && unknown.err.contains("no dataset \"nope\""), "\(unknown.err)")
        #expect(try c.cli(["catalog", "list"]).out.split(separator: "\n").count == 1, "nothing was registered")
        // A given schema that fits is used as given.
        let ok = try c.cli(["catalog", "register", "t", "--path", root + "/text.csv", "--schema", "a BIGINT, b VARCHAR"])
        #expect(ok.status == 0 && ok.out.contains("a BIGINT"), "\(ok.err)")
    }

    /// INSERT OVERWRITE ... PARTITION switches one partition's files in one
    /// catalog transaction: readers running meanwhile see the old partition or
    /// the new one, never a mix, and the other partitions are untouched.
    @Test func overwritingAPartitionIsAllOrNothingForReaders() throws {
        let root = try scratch("overwrite")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let rows = try lake(root)
        let c = try cluster(root: root)
        defer { c.shutdown() }
        #expect(try c.cli(["catalog", "register", "sales", "--path", root + "/sales", "--partitioned-by", "date"]).status == 0)
        let day = rows.filter { $0.date == "2026-11-02" }
        let old = "\(day.count),\(day.reduce(0) { $0 + $1.amount })"
        // Two new versions of the day, written in turn: 7 rows summing to 700, and 3 summing to 3000.
        func version(_ n: Int, _ amount: Int) -> String {
            "SELECT CAST(id AS BIGINT) AS id, product, CAST(amount AS BIGINT) AS amount FROM (VALUES "
                + (0..<n).map { "(\($0), 'p', \(amount))" }.joined(separator: ", ") + ") v(id, product, amount)"
        }
        let versions = [version(7, 100), version(3, 1000)]
        let states: Set<String> = [old, "7,700", "3,3000"]
        let seen = Mutex<[String]>([])
        let stop = Atomic<Bool>(false)
        let reader = Thread {
            while !stop.load(ordering: .relaxed) {
                guard let r = try? c.cli(["query", "--format", "csv", "SELECT count(*) AS n, sum(amount) AS s FROM sales WHERE date = '2026-11-02'"]) else { continue }
                seen.withLock { $0.append(r.status == 0 ? String(r.out.split(separator: "\n").last ?? "") : "error: " + r.err) }
            }
        }
        reader.start()
        for k in 0..<4 {
            let w = try c.cli(["query", "INSERT OVERWRITE sales PARTITION (date = '2026-11-02') " + versions[k % 2]])
            #expect(w.status == 0 && w.err.contains("INSERT \(k % 2 == 0 ? 7 : 3)"), "\(w.err)")
        }
        stop.store(true, ordering: .relaxed)
        while !reader.isFinished { Thread.sleep(forTimeInterval: 0.05) }
        let answers = seen.withLock { $0 }
        #expect(!answers.isEmpty)
        for a in answers { #expect(states.contains(a), "a reader saw \(a)") }
        // The last version stands; the other days are as they were.
        let now = try c.cli(["query", "--format", "csv", "SELECT date, count(*) AS n, sum(amount) AS s FROM sales GROUP BY date ORDER BY date"])
        var expected = "date,n,s\n"
        for date in ["2026-11-01", "2026-11-02", "2026-11-03"] {
            let d = rows.filter { $0.date == date }
            expected += date == "2026-11-02" ? "\(date),3,3000\n" : "\(date),\(d.count),\(d.reduce(0) { $0 + $1.amount })\n"
        }
        #expect(now.out == expected, "\(now.err)")
        // Refusals: not a partition column, a missing one, a column of another type, a dataset without partitions.
        func refused(_ sql: String, _ words: String) throws {
            let r = try c.cli(["query", sql])
            #expect(r.status == 1 && r.err.contains(words), "\(sql): \(r.err)")
        }
        try refused("INSERT OVERWRITE sales PARTITION (product = 'x') SELECT 1, 'a', 2", "partitioned by (date)")
        try refused("INSERT OVERWRITE sales PARTITION (date = '2026-11-02') SELECT 'a', 'b', 2", "column 1 (id)")
        #expect(try c.cli(["catalog", "register", "flat", "--path", root + "/sales/date=2026-11-01/part-0.csv"]).status == 0)
        try refused("INSERT OVERWRITE flat PARTITION (date = '2026-11-01') SELECT 1, 'a', 2", "partitioned by ()")
        try refused("INSERT OVERWRITE nothing PARTITION (date = '2026-11-01') SELECT 1", "no dataset \"nothing\"")
    }

    @Test func localQueriesNeedAnExistingCatalog() throws {
        let root = try scratch("nocat")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try runSluice(["query", "--local", "--catalog", root, "SELECT 1"], env: [:])
        #expect(r.status == 1 && r.err.contains("no catalog in \(root)"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: root + "/catalog.db"), "a read-only open creates nothing")
        // A catalog file that is not one: an error naming it.
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: root + "/catalog.db"))
        let garbage = try runSluice(["query", "--local", "--catalog", root, "SELECT 1"], env: [:])
        #expect(garbage.status == 1 && garbage.err.contains(root + "/catalog.db"), "\(garbage.err)")
    }
}

extension String {
    func appendLine(to path: String) throws {
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data(utf8))
    }
}
