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
}
