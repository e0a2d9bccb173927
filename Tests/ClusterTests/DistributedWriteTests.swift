import Foundation
import Testing

/// COPY on the cluster: tasks write into attempt-named files in a staging
/// directory, the coordinator keeps the files of the one attempt per task
/// that counts and publishes the write with one rename. (Part of the
/// distributed SQL suite: its tests kill workers and coordinators.)
extension DistributedSQLTests {
    static let copyCases: [(sql: String, options: String, target: String)] = [
        ("SELECT o_orderpriority, o_orderstatus, count(*) AS n, sum(o_custkey) AS total FROM '\(tpch)/orders.csv' GROUP BY ALL",
         "(FORMAT csv, PARTITION_BY (o_orderpriority))", "parts"),
        ("SELECT n_name, n_regionkey FROM '\(tpch)/nation.csv' ORDER BY n_name", "(FORMAT csv)", "nation.csv"),
        ("SELECT l_orderkey, l_linenumber, l_comment FROM '\(tpch)/lineitem.csv' WHERE l_shipmode = 'AIR'", "(FORMAT jsonl)", "air.jsonl"),
    ]

    /// The written files' rows, read back in one process, sorted.
    static func written(_ target: String) throws -> [[String]] {
        let pattern = target.hasSuffix("parts") || target.hasSuffix("local") ? target + "/*/*.csv" : target
        return try local("SELECT * FROM '\(pattern)'").sorted { $0.lexicographicallyPrecedes($1) }
    }

    static func stagingLeft(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.contains(".sluice-staging-") }
    }

    @Test func copyOnTheClusterWritesEveryRowOnce() throws {
        let scratch = try scratchDir("copy")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let c = try cluster(scratch: scratch)
        defer { c.shutdown() }
        for (sql, options, target) in Self.copyCases {
            let mine = scratch + "/cluster-" + target, theirs = scratch + "/theirs-" + target
            let r = try c.cli(["query", "COPY (\(sql)) TO '\(mine)' \(options)"])
            try #require(r.status == 0, "\(target): \(r.err)")
            _ = try Self.local("COPY (\(sql)) TO '\(theirs)' \(options)")
            let a = try Self.written(mine), b = try Self.written(theirs)
            #expect(a.count == b.count && a == b, "\(target): \(a.count) rows written on the cluster, \(b.count) in one process")
            #expect(r.err.contains("COPY \(b.count)"), "\(r.err)")
        }
        // The ordered COPY keeps its order in its one file.
        let nation = try String(contentsOfFile: scratch + "/cluster-nation.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[0]) }
        #expect(nation == nation.sorted() && nation.count == 25)
        #expect(Self.stagingLeft(scratch).isEmpty, "staging left: \(Self.stagingLeft(scratch))")
        // A PARTITION_BY write makes its whole directory: one that exists and holds files is refused, untouched.
        let again = try c.cli(["query", "COPY (\(Self.copyCases[0].sql)) TO '\(scratch)/cluster-parts' \(Self.copyCases[0].options)"])
        #expect(again.status == 1 && again.err.contains("not an empty directory"), "\(again.err)")
        #expect(try Self.written(scratch + "/cluster-parts") == Self.written(scratch + "/theirs-parts"))
    }

    @Test func aWorkerKilledAfterWritingItsFilesLosesNothing() throws {
        let hold = try scratchDir("hold")
        let scratch = try scratchDir("copykill")
        defer { try? FileManager.default.removeItem(atPath: hold); try? FileManager.default.removeItem(atPath: scratch) }
        let c = try cluster(scratch: scratch, workerEnv: ["SLUICE_TEST_HOLD_DIR": hold])
        defer { c.shutdown() }
        let (sql, options, _) = Self.copyCases[0]
        _ = try Self.local("COPY (\(sql)) TO '\(scratch)/local' \(options)")
        FileManager.default.createFile(atPath: hold + "/hold-wrote", contents: nil)
        let query = try c.launchCLI(["query", "COPY (\(sql)) TO '\(scratch)/parts' \(options)"])
        // A task wrote its files and waits before reporting: its worker dies with them in staging.
        let (worker, _) = try started(c, hold, "started-wrote-")
        let staged = (FileManager.default.enumerator(atPath: scratch)?.allObjects as? [String] ?? []).filter { $0.contains("data_t") }
        #expect(!staged.isEmpty, "the held task wrote nothing")
        c.kill9(c.workers[worker]!)
        try FileManager.default.removeItem(atPath: hold + "/hold-wrote")
        query.waitUntilExit()
        #expect(query.terminationStatus == 0, "\(c.log("cli"))")
        // Every row once: the dead attempt's files were not published.
        #expect(try Self.written(scratch + "/parts") == Self.written(scratch + "/local"))
        #expect(Self.stagingLeft(scratch).isEmpty)
    }

    @Test func aCoordinatorKilledMidCommitLeavesAllOrNothing() throws {
        let hold = try scratchDir("hold")
        let scratch = try scratchDir("copycommit")
        defer { try? FileManager.default.removeItem(atPath: hold); try? FileManager.default.removeItem(atPath: scratch) }
        let c = try TestCluster(name: "aCoordinatorKilledMidCommit")
        defer { c.shutdown() }
        try c.startCoordinator(["--sql-root", scratch, "--sql-root", Self.repo + "/.build"], env: ["SLUICE_TEST_HOLD_DIR": hold])
        for w in ["w1", "w2"] { try c.startWorker(w, slots: 2, allowCommands: false) }
        try c.waitForWorkers(2)
        let (sql, options, _) = Self.copyCases[0]
        FileManager.default.createFile(atPath: hold + "/hold-commit", contents: nil)
        let query = try c.launchCLI(["query", "COPY (\(sql)) TO '\(scratch)/parts' \(options)"])
        try c.eventually("the write to reach its commit", timeout: 60) { FileManager.default.fileExists(atPath: hold + "/commit-started") }
        #expect(Self.stagingLeft(scratch).count == 1, "the complete write waits in staging")
        c.kill9(c.coordinator!)
        query.waitUntilExit()
        #expect(query.terminationStatus != 0, "the client was told the query did not finish")
        #expect(!FileManager.default.fileExists(atPath: scratch + "/parts"), "nothing was published")
        // The restarted coordinator removes the staging its predecessor left.
        try FileManager.default.removeItem(atPath: hold + "/hold-commit")
        try c.startCoordinator(["--sql-root", scratch, "--sql-root", Self.repo + "/.build"])
        try c.eventually("the staging to be swept") { Self.stagingLeft(scratch).isEmpty }
        #expect(!FileManager.default.fileExists(atPath: scratch + "/parts"))
        // And the same write, run again, publishes whole.
        try c.waitForWorkers(2)
        let again = try c.cli(["query", "COPY (\(sql)) TO '\(scratch)/parts' \(options)"])
        #expect(again.status == 0, "\(again.err)")
        _ = try Self.local("COPY (\(sql)) TO '\(scratch)/local' \(options)")
        #expect(try Self.written(scratch + "/parts") == Self.written(scratch + "/local"))
    }

    /// Killed after a CREATE TABLE AS renamed its files into the dataset's
    /// version directory but before the catalog took them: no dataset, and
    /// the restarted coordinator removes the directory nobody refers to.
    @Test func aCoordinatorKilledBeforeTheCatalogTookAWriteLeavesNoOrphan() throws {
        let hold = try scratchDir("hold")
        defer { try? FileManager.default.removeItem(atPath: hold) }
        let c = try TestCluster(name: "aCoordinatorKilledBeforeTheCatalog")
        defer { c.shutdown() }
        try c.startCoordinator(["--sql-root", Self.tpch], env: ["SLUICE_TEST_HOLD_DIR": hold])
        for w in ["w1", "w2"] { try c.startWorker(w, slots: 2, allowCommands: false) }
        try c.waitForWorkers(2)
        let table = c.dir + "/coordinator/warehouse/big_orders"
        FileManager.default.createFile(atPath: hold + "/hold-catalog", contents: nil)
        let query = try c.launchCLI(["query", "CREATE TABLE big_orders AS " + Self.bigOrders])
        try c.eventually("the write to reach the catalog", timeout: 60) { FileManager.default.fileExists(atPath: hold + "/catalog-started") }
        #expect(!files(under: table).isEmpty, "the files are in their version directory")
        c.kill9(c.coordinator!)
        query.waitUntilExit()
        #expect(query.terminationStatus != 0, "the client was told the query did not finish")
        try FileManager.default.removeItem(atPath: hold + "/hold-catalog")
        try c.startCoordinator(["--sql-root", Self.tpch])
        try c.eventually("the orphan version to be removed") { files(under: table).isEmpty }
        // The sweep logs once it has removed the files: the line may reach the log a moment after they are gone.
        try c.eventually("the removal to be logged") { c.log("coordinator").contains("removed the staging of a write a killed coordinator left") }
        let show = try c.cli(["catalog", "show", "big_orders"])
        #expect(show.status != 0, "no dataset was published: \(show.out)")
        // The same write, run again, makes the dataset whole.
        try c.waitForWorkers(2)
        let again = try c.cli(["query", "CREATE TABLE big_orders AS " + Self.bigOrders])
        #expect(again.status == 0, "\(again.err)")
        let expected = try Self.local("SELECT count(*) FROM (\(Self.bigOrders))")[0][0]
        #expect(try c.cli(["query", "--format", "csv", "SELECT count(*) FROM big_orders"]).out.contains(expected))
    }

    /// Files a write replaced are deleted after their grace also when the
    /// coordinator was killed in between: the catalog recorded them with the
    /// switch, and the next coordinator deletes them when they are due.
    @Test func replacedFilesAreDeletedAfterACoordinatorRestart() throws {
        let c = try TestCluster(name: "replacedFilesAfterRestart")
        defer { c.shutdown() }
        try c.startCoordinator(["--sql-root", Self.tpch, "--replaced-files-grace", "3s"])
        for w in ["w1", "w2"] { try c.startWorker(w, slots: 2, allowCommands: false) }
        try c.waitForWorkers(2)
        let table = c.dir + "/coordinator/warehouse/big_orders"
        let made = try c.cli(["query", "CREATE TABLE big_orders AS " + Self.bigOrders])
        try #require(made.status == 0, "\(made.err)")
        let first = Set(files(under: table))
        let replaced = try c.cli(["query", "CREATE OR REPLACE TABLE big_orders AS " + Self.bigOrders + " LIMIT 10"])
        try #require(replaced.status == 0, "\(replaced.err)")
        c.kill9(c.coordinator!)
        #expect(first.isSubset(of: Set(files(under: table))), "the replaced files wait out their grace")
        try c.startCoordinator(["--sql-root", Self.tpch])
        try c.eventually("the replaced files to be deleted", timeout: 30) { Set(files(under: table)).isDisjoint(with: first) }
        #expect(!files(under: table).isEmpty, "the current version stays")
        try c.waitForWorkers(2)
        #expect(try c.cli(["query", "--format", "csv", "SELECT count(*) FROM big_orders"]).out.contains("\n10"))
    }
}

extension DistributedSQLTests {
    static let bigOrders = "SELECT o_orderkey, o_custkey, o_orderpriority FROM '\(tpch)/orders.csv' WHERE o_totalprice > 300000"

    func files(under dir: String) -> [String] {
        (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".sluice") }
    }

    @Test func createTableAsAndInsertIntoWriteDatasets() throws {
        let c = try cluster(scratch: Self.tpch, coordinatorArgs: ["--replaced-files-grace", "500ms"])
        defer { c.shutdown() }
        let warehouse = c.dir + "/coordinator/warehouse"
        func count(_ sql: String) throws -> [[String]] {
            let r = try c.cli(["query", "--format", "csv", sql])
            #expect(r.status == 0, "\(sql): \(r.err)")
            return r.out.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        }
        let expected = try Self.local("SELECT count(*), sum(o_custkey) FROM (\(Self.bigOrders))")
        let made = try c.cli(["query", "CREATE TABLE big_orders AS " + Self.bigOrders])
        try #require(made.status == 0, "\(made.err)")
        #expect(made.err.contains("CREATE TABLE \(expected[0][0])"), "\(made.err)")
        #expect(try count("SELECT count(*), sum(o_custkey) FROM big_orders") == expected)
        let show = try c.cli(["catalog", "show", "big_orders", "--json"])
        #expect(show.out.contains("\"format\" : \"sluice\"") && show.out.contains("\"rowCount\" : \(expected[0][0])")
                && show.out.contains("\"lastQuery\" : \"query-") && show.out.replacingOccurrences(of: "\\/", with: "/").contains(warehouse), "\(show.out)")

        // INSERT adds files in one step; the rows are there once.
        let small = "SELECT o_orderkey, o_custkey, o_orderpriority FROM '\(Self.tpch)/orders.csv' WHERE o_totalprice < 2000"
        let added = try Self.local("SELECT count(*) FROM (\(small))")[0][0]
        let insert = try c.cli(["query", "INSERT INTO big_orders " + small])
        #expect(insert.status == 0 && insert.err.contains("INSERT \(added)"), "\(insert.err)")
        #expect(try count("SELECT count(*) FROM big_orders") == [["\(Int(expected[0][0])! + Int(added)!)"]])

        // Refusals: a column of another type, an existing name; nothing is written by them.
        let before = files(under: warehouse)
        let mismatch = try c.cli(["query", "INSERT INTO big_orders SELECT o_orderkey, o_orderpriority, o_custkey FROM '\(Self.tpch)/orders.csv'"])
        #expect(mismatch.status == 1 && mismatch.err.contains("column 2 (o_custkey)"), "\(mismatch.err)")
        let twice = try c.cli(["query", "CREATE TABLE big_orders AS " + Self.bigOrders])
        #expect(twice.status == 1 && twice.err.contains("already exists"), "\(twice.err)")
        #expect(files(under: warehouse) == before)

        // OR REPLACE: the new version only; the old files go once the grace for queries still reading them has passed.
        let replaced = try c.cli(["query", "CREATE OR REPLACE TABLE big_orders AS " + Self.bigOrders + " LIMIT 10"])
        #expect(replaced.status == 0, "\(replaced.err)")
        #expect(try count("SELECT count(*) FROM big_orders") == [["10"]])
        try c.eventually("the replaced version's files to go") { Set(files(under: warehouse)).isDisjoint(with: before) }

        // An empty result is an empty dataset, not a broken one.
        #expect(try c.cli(["query", "CREATE TABLE nothing AS " + Self.bigOrders + " AND o_totalprice < 0"]).status == 0)
        #expect(try count("SELECT count(*) FROM nothing") == [["0"]])
        #expect(try c.cli(["query", "DROP TABLE nothing"]).status == 0)

        // DROP TABLE: out of the catalog, files gone; no staging anywhere.
        #expect(try c.cli(["query", "DROP TABLE big_orders"]).status == 0)
        #expect(try c.cli(["catalog", "list"]).out.split(separator: "\n").count == 1)
        #expect(files(under: warehouse).isEmpty)
        #expect(((FileManager.default.enumerator(atPath: warehouse)?.allObjects as? [String]) ?? []).allSatisfy { !$0.contains("staging") })
    }

    @Test func aWorkerKilledDuringCreateTableAsLosesNothing() throws {
        let hold = try scratchDir("hold")
        defer { try? FileManager.default.removeItem(atPath: hold) }
        let c = try cluster(scratch: Self.tpch, workerEnv: ["SLUICE_TEST_HOLD_DIR": hold])
        defer { c.shutdown() }
        let sql = "SELECT o_custkey, count(*) AS n, sum(o_orderkey) AS s FROM '\(Self.tpch)/orders.csv' GROUP BY o_custkey"
        let expected = try Self.local("SELECT count(*), sum(n), sum(s) FROM (\(sql))")
        FileManager.default.createFile(atPath: hold + "/hold-wrote", contents: nil)
        let query = try c.launchCLI(["query", "CREATE TABLE per_customer AS " + sql])
        let (worker, _) = try started(c, hold, "started-wrote-")
        c.kill9(c.workers[worker]!)
        try FileManager.default.removeItem(atPath: hold + "/hold-wrote")
        query.waitUntilExit()
        #expect(query.terminationStatus == 0, "\(c.log("cli"))")
        let r = try c.cli(["query", "--format", "csv", "SELECT count(*), sum(n), sum(s) FROM per_customer"])
        #expect(r.out.split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) } == expected, "\(r.out)\(r.err)")
        let show = try c.cli(["catalog", "show", "per_customer", "--json"])
        #expect(show.out.contains("\"rowCount\" : \(expected[0][0])"), "\(show.out)")
    }
}
