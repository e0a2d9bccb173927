import Client
import Columnar
import Execution
import Foundation
import SQL
import TestSupport
import Testing
import Transport
import Wire

/// SQL on a real cluster: a coordinator and three worker processes, every
/// query cut into stages whose data moves through the shuffle between them.
/// The answers must be the ones one process gives: every golden SQL file,
/// TPC-H, and queries whose workers die under them.
@Suite(.serialized)
struct DistributedSQLTests {
    static let repo = repoRoot
    static let golden = repo + "/Tests/EngineTests/sql"
    static let data = repo + "/Tests/EngineTests/data"

    /// A cluster of three workers whose queries may use the test data, a scratch folder and the TPC-H files.
    func cluster(_ name: String = #function, scratch: String, workerEnv: [String: String] = [:], workerArgs: [String] = [],
                 coordinatorArgs: [String] = [], deadAfter: String = "1500ms") throws -> TestCluster {
        let c = try TestCluster(name: name, deadAfter: deadAfter)
        do {
            try c.startCoordinator(["--sql-root", Self.data, "--sql-root", scratch, "--sql-root", Self.repo + "/.build"] + coordinatorArgs)
            for w in ["w1", "w2", "w3"] { try c.startWorker(w, slots: 2, allowCommands: false, extraArgs: workerArgs, env: workerEnv) }
            try c.waitForWorkers(3)
        } catch {
            c.shutdown()   // its processes and folder go even when it never came up
            throw error
        }
        return c
    }

    // MARK: golden files

    @Test func everyGoldenFileAnswersAsInOneProcess() throws {
        let scratch = try scratchDir("dsql")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let c = try cluster(scratch: scratch)
        defer { c.shutdown() }
        var compared = 0
        for file in try goldenFiles() {
            let records = GoldenRecord.parse(try String(contentsOfFile: Self.golden + "/" + file, encoding: .utf8))
                .filter { !$0.expectsError && !$0.sql.uppercased().hasPrefix("EXPLAIN") }
                .map { r in var r = r; r.sql = r.sql.replacingOccurrences(of: "__DATA__", with: Self.data)
                    .replacingOccurrences(of: "__SCRATCH__", with: scratch + "/" + file.replacingOccurrences(of: "/", with: "-")); return r }
            try? FileManager.default.createDirectory(atPath: scratch + "/" + file.replacingOccurrences(of: "/", with: "-"), withIntermediateDirectories: true)
            // In one process, each statement on its own.
            let session = Session()
            try session.setThreads(1)
            var local: [Int: [[String]]] = [:]
            for (i, r) in records.enumerated() {
                let results = try session.execute(r.sql)
                if r.isQuery, case .rows(let schema, let batches)? = results.last { local[i] = Rendered.rows(schema, batches) }
            }
            // The files the script wrote go again, for the cluster to write.
            try? FileManager.default.removeItem(atPath: scratch + "/" + file.replacingOccurrences(of: "/", with: "-"))
            try? FileManager.default.createDirectory(atPath: scratch + "/" + file.replacingOccurrences(of: "/", with: "-"), withIntermediateDirectories: true)
            // On the cluster, the whole script at once; statements are told apart by their index.
            var statementOf: [Int] = []
            var count = 0
            for r in records {
                statementOf.append(count + (try Parser.parse(r.sql).count) - 1)
                count += try Parser.parse(r.sql).count
            }
            let script = records.map { $0.sql.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: ";"))) }.joined(separator: ";\n")
            let result = try ClusterResult.read(c, sql: script, partitions: 4)
            try #require(result.error.isEmpty, "\(file) failed on the cluster: \(result.error)")
            for (i, r) in records.enumerated() where r.isQuery {
                let mine = result.statements[statementOf[i]] ?? []
                let theirs = local[i] ?? []
                let ordered = r.sort == "nosort"
                #expect(Rendered.same(mine, theirs, ordered: ordered), "\(file) record at line \(r.line): \(r.sql)\ncluster: \(mine.prefix(10))\none process: \(theirs.prefix(10))")
                compared += 1
            }
        }
        #expect(compared > 100)
    }

    // MARK: TPC-H

    static let tpch = repo + "/.build/tpch-sf0.1"
    static let tpchQueries = TPCHAnswers.queries

    /// The TPC-H schema over the SF0.1 files, then `query`.
    static func tpchScript(_ query: String) throws -> String {
        let schema = try String(contentsOfFile: repo + "/Benchmarks/tpch/schema.sql", encoding: .utf8).replacingOccurrences(of: "${DATA}", with: tpch)
        return schema + "\n" + query
    }

    /// Each statement's rows in one process, on one thread.
    static func local(_ script: String) throws -> [[String]] {
        let session = Session()
        try session.setThreads(1)
        guard case .rows(let schema, let batches)? = try session.execute(script).last else { return [] }
        return Rendered.rows(schema, batches)
    }

    @Test func tpchAnswersAsInOneProcess() throws {
        try #require(FileManager.default.fileExists(atPath: Self.tpch + "/lineitem.csv"), "run Benchmarks/tpch/generate 0.1 .build/tpch-sf0.1 first")
        let c = try cluster(scratch: Self.tpch)
        defer { c.shutdown() }
        for q in Self.tpchQueries {
            let script = try Self.tpchScript(try String(contentsOfFile: Self.repo + "/Benchmarks/tpch/queries/\(q).sql", encoding: .utf8))
            let result = try ClusterResult.read(c, sql: script, partitions: 4)
            try #require(result.error.isEmpty, "\(q): \(result.error)")
            let mine = result.statements.keys.max().flatMap { result.statements[$0] } ?? []
            #expect(Rendered.same(mine, try Self.local(script), ordered: true), "\(q) differs from one process")
            #expect(result.rowsWritten > 0 && result.bytesWritten > 0, "\(q): progress reported no rows or bytes")
        }
    }

    // MARK: faults

    /// A fresh folder in the system's temporary directory (the caller removes it).
    func scratchDir(_ name: String) throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-\(name)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Waits for a `started-...` file of the hold hook whose name starts with `prefix`; the worker it names.
    func started(_ c: TestCluster, _ holdDir: String, _ prefix: String) throws -> (worker: String, file: String) {
        var found: (String, String)?
        try c.eventually("a task \(prefix)") {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: holdDir)) ?? []
            guard let f = names.sorted().first(where: { $0.hasPrefix(prefix) }) else { return false }
            let parts = f.split(separator: "-")   // started KIND WORKER job N sS tT
            found = (String(parts[2]), f)
            return true
        }
        return found!
    }

    @Test func aWorkerKilledDuringTheReduceStageLosesNothing() throws {
        let hold = try scratchDir("hold")
        defer { try? FileManager.default.removeItem(atPath: hold) }
        let c = try cluster(scratch: Self.tpch, workerEnv: ["SLUICE_TEST_HOLD_DIR": hold])
        defer { c.shutdown() }
        // Q5: joins into a partial aggregate (map) whose states are hashed to the final aggregate (reduce).
        let script = try Self.tpchScript(try String(contentsOfFile: Self.repo + "/Benchmarks/tpch/queries/q05.sql", encoding: .utf8))
        FileManager.default.createFile(atPath: hold + "/hold-reduce", contents: nil)
        let expected = try Self.local(script)
        let query = BackgroundQuery(c, sql: script)
        // The reduce stage has started (and waits); the worker that ran the lineitem join holds its output.
        _ = try started(c, hold, "started-reduce-")
        let (mapWorker, _) = try started(c, hold, "started-map-")
        c.kill9(c.workers[mapWorker]!)
        try FileManager.default.removeItem(atPath: hold + "/hold-reduce")
        let result = try #require(query.wait(180), "the query did not finish")
        #expect(result.error.isEmpty, "\(result.error)")
        #expect(Rendered.same(result.statements.keys.max().flatMap { result.statements[$0] } ?? [], expected, ordered: true))
        #expect(c.log("coordinator").contains("task output lost"), "the map output on the killed worker was never reported lost")
    }

    @Test func aWorkerKilledDuringTheMapStageLosesNothing() throws {
        let hold = try scratchDir("hold")
        let files = hold + "/orders"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: hold) }
        // orders in six files, so the map stage has several tasks.
        let lines = try String(contentsOfFile: Self.tpch + "/orders.csv", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true)
        let header = lines[0]
        let body = lines.dropFirst()
        for k in 0..<6 {
            let part = body.enumerated().filter { $0.offset % 6 == k }.map { String($0.element) }
            try ([String(header)] + part).joined(separator: "\n").appending("\n").write(toFile: "\(files)/orders-\(k).csv", atomically: true, encoding: .utf8)
        }
        let c = try cluster(scratch: hold, workerEnv: ["SLUICE_TEST_HOLD_DIR": hold])
        defer { c.shutdown() }
        let sql = "SELECT o_orderpriority, count(*) AS n, sum(o_totalprice) AS total, max(o_comment) AS m FROM '\(files)/*.csv' GROUP BY o_orderpriority ORDER BY 1"
        let expected = try Self.local(sql)
        // Every map task but the first waits; the first finishes and leaves its output.
        for t in 1..<6 { FileManager.default.createFile(atPath: hold + "/hold-map-t\(t)", contents: nil) }
        let query = BackgroundQuery(c, sql: sql)
        let (worker, file) = try started(c, hold, "started-map-")
        // Wait until a map task's output is committed, then kill the worker that made it.
        let job = String(file.split(separator: "-")[3...4].joined(separator: "-"))
        var committed = TaskDetail()
        try c.eventually("a map task to succeed") {
            guard let t = try c.client().job(job, page: 1, state: "succeeded").stages.first?.tasks.first else { return false }
            committed = t
            return true
        }
        let holder = committed.attempts.first { $0.state == "succeeded" }?.workerID.split(separator: "#").first.map(String.init) ?? worker
        c.kill9(c.workers[holder]!)
        for t in 1..<6 { try? FileManager.default.removeItem(atPath: hold + "/hold-map-t\(t)") }
        let result = try #require(query.wait(180), "the query did not finish")
        #expect(result.error.isEmpty, "\(result.error)")
        #expect(Rendered.same(result.statements[0] ?? [], expected, ordered: true))
        #expect(c.log("coordinator").contains("task output lost"), "the committed map output on the killed worker was never reported lost")
    }

    /// On one thread per task a rerun writes the same rows in the same order,
    /// so the reading resumes after the rows already sent. On several it may
    /// not: the query then fails saying so, never with rows lost or repeated.
    @Test(arguments: [1, 2])
    func aWorkerKilledWhileTheResultStreamsLosesNothing(threadsPerTask: Int) throws {
        let c = try cluster(scratch: Self.tpch, workerArgs: ["--threads-per-task", "\(threadsPerTask)"])
        defer { c.shutdown() }
        let sql = "SELECT l_orderkey, l_linenumber, l_comment FROM '\(Self.tpch)/lineitem.csv'"
        let expected = try Self.local(sql)
        let result = try ClusterResult.read(c, sql: sql, partitions: 4) { query in
            // The first rows are out: kill the worker holding the rest of the result.
            let jobs = try c.client().jobs().filter { $0.name == "query \(query)" }
            let job = try #require(jobs.first).jobID
            let detail = try c.client().job(job, page: 1, state: "succeeded")
            let last = try #require(detail.stages.last)
            let holder = try #require(last.tasks.first?.attempts.first { $0.state == "succeeded" }?.workerID.split(separator: "#").first.map(String.init))
            c.kill9(c.workers[holder]!)
        }
        if threadsPerTask > 1 {
            #expect(result.error.contains("cannot be resumed exactly") && result.error.contains("--threads-per-task"), "\(result.error)")
            return
        }
        #expect(result.error.isEmpty, "\(result.error)")
        let rows = result.statements[0] ?? []
        #expect(rows.count == expected.count)
        #expect(Rendered.same(rows, expected, ordered: false), "the rows read around the kill are not the result")
        // The kill landed while the result was still being read: it had to be made again.
        #expect(c.log("coordinator").contains("reading a query result failed"), "the result was read whole before the kill")
    }

    // MARK: edges

    @Test func filesOutsideTheSQLRootsAreRefusedNamingTheFlag() throws {
        let scratch = try scratchDir("roots")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try "a\n1\n".write(toFile: scratch + "/ok.csv", atomically: true, encoding: .utf8)
        // A symbolic link inside a root that leads out of it.
        try FileManager.default.createSymbolicLink(atPath: scratch + "/escape.csv", withDestinationPath: "/etc/hostname")
        let c = try cluster(scratch: scratch)
        defer { c.shutdown() }
        for path in ["/etc/passwd", scratch + "/escape.csv", scratch + "/../../etc/hostname"] {
            let r = try c.cli(["query", "SELECT * FROM read_csv('\(path)')"])
            #expect(r.status == 1 && r.err.contains("--sql-root"), "\(path): \(r.err)")
        }
        let written = try c.cli(["query", "COPY (SELECT 1 AS x) TO '/tmp/sluice-not-allowed-\(UUID().uuidString).csv'"])
        #expect(written.status == 1 && written.err.contains("--sql-root"), "\(written.err)")
        let ok = try c.cli(["query", "--format", "csv", "SELECT sum(a) AS s FROM '\(scratch)/ok.csv'"])
        #expect(ok.status == 0 && ok.out == "s\n1\n", "\(ok.err)")
    }

    /// EXPLAIN shows the stages; EXPLAIN ANALYZE runs them on the workers and
    /// adds what each did: rows, bytes written for its readers, time, workers.
    @Test func explainAnalyzeShowsWhatEachStageDid() throws {
        let c = try cluster(scratch: Self.tpch)
        defer { c.shutdown() }
        let sql = "SELECT o_orderpriority, count(*) AS n FROM '\(Self.tpch)/orders.csv' JOIN '\(Self.tpch)/lineitem.csv' ON o_orderkey = l_orderkey "
            + "WHERE l_shipmode = 'MAIL' GROUP BY 1 ORDER BY 1"
        let explain = try c.cli(["query", "--format", "csv", "EXPLAIN " + sql])
        #expect(explain.status == 0 && explain.out.contains("STAGE 0") && explain.out.contains("STAGE_INPUT"), "\(explain.out)\(explain.err)")
        #expect(!explain.out.contains("ran:"), "EXPLAIN runs nothing")

        let count = try c.cli(["query", "--format", "csv", "SELECT count(*) AS n FROM '\(Self.tpch)/lineitem.csv' WHERE l_shipmode = 'MAIL'"])
        let mail = Int(count.out.split(separator: "\n").last ?? "") ?? -1
        #expect(mail > 0, "\(count.out)\(count.err)")
        for broadcast in [true, false] {
            let script = (broadcast ? "" : "SET broadcast_threshold = 0;\n") + "EXPLAIN ANALYZE " + sql
            let r = try c.cli(["query", "--format", "csv", script])
            try #require(r.status == 0, "\(r.err)")
            let lines = r.out.split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\" ")) }
            #expect(lines.contains { $0.hasPrefix("Total: ") && $0.contains("w1") && $0.contains("w2") && $0.contains("w3") }, "\(r.out)")
            // Each stage's heading is followed by what it did.
            let heads = lines.indices.filter { lines[$0].hasPrefix("STAGE ") }
            #expect(heads.count >= 3, "\(r.out)")
            var figures: [(head: String, rows: Int, bytes: String, workers: String)] = []
            for h in heads {
                let ran = h + 1 < lines.count ? lines[h + 1] : ""
                try #require(ran.hasPrefix("ran: rows="), "stage without figures: \(lines[h]) / \(ran)")
                let rows = Int(ran.dropFirst("ran: rows=".count).prefix { $0.isNumber }) ?? -1
                let bytes = ran.components(separatedBy: "shuffled=").last?.prefix { $0 != " " } ?? ""
                figures.append((lines[h], rows, String(bytes), ran.components(separatedBy: " on ").last ?? ""))
            }
            // The result: five priorities. The filtered lineitem scan, the smaller side, is a stage of its own.
            #expect(figures.last?.rows == 5, "\(r.out)")
            #expect(figures.contains { $0.rows == mail && !$0.head.contains("reads") }, "\(r.out)")
            // Lineitem's scan is split among the workers.
            #expect(figures.contains { $0.workers.split(separator: ",").count >= 2 }, "\(r.out)")
            #expect(figures.allSatisfy { $0.bytes != "" && $0.bytes != "0B" }, "\(r.out)")
        }
    }

    /// A join on a skewed key (seven in ten lineitems on one order) and a
    /// grouping into a few of many partitions: the same answers with
    /// adaptation off, with the skewed partition split, and with the join
    /// switched to broadcast after the shuffle; EXPLAIN ANALYZE says which.
    @Test func adaptiveExecutionChangesThePlanButNotTheAnswers() throws {
        try #require(FileManager.default.fileExists(atPath: Self.tpch + "/lineitem.csv"), "run Benchmarks/tpch/generate 0.1 .build/tpch-sf0.1 first")
        let c = try cluster(scratch: Self.tpch)
        defer { c.shutdown() }
        let l = "'\(Self.tpch)/lineitem.csv'", o = "'\(Self.tpch)/orders.csv'"
        let skewed = "SELECT o_orderpriority, count(*) AS n, sum(l_extendedprice) AS s FROM \(l) JOIN \(o) "
            + "ON (CASE WHEN l_orderkey % 10 < 7 THEN 1 ELSE l_orderkey END) = o_orderkey GROUP BY 1 ORDER BY 1"
        let left = "SELECT count(*) AS n, count(o_orderkey) AS matched, sum(l_quantity) AS q FROM \(l) LEFT JOIN \(o) "
            + "ON (CASE WHEN l_orderkey % 10 < 7 THEN 1 ELSE l_orderkey + 1 END) = o_orderkey"
        let few = "SELECT l_returnflag, l_linestatus, count(*) AS n FROM \(l) GROUP BY 1, 2 ORDER BY 1, 2"
        let settings = [
            "off": "SET adaptive = false;",
            "split": "SET adaptive_partition_bytes = '2MB'; SET adaptive_skew_bytes = '1MB'; SET adaptive_broadcast_bytes = 0;",
            "broadcast": "SET adaptive_partition_bytes = '2MB'; SET adaptive_broadcast_bytes = '200MB';",
        ]
        for sql in [skewed, left, few] {
            let expected = try Self.local(sql)
            #expect(!expected.isEmpty)
            for (mode, set) in settings.sorted(by: { $0.key < $1.key }) {
                let script = "SET broadcast_threshold = 0; \(set)\n" + sql
                let result = try ClusterResult.read(c, sql: script, partitions: 16)
                try #require(result.error.isEmpty, "\(mode): \(result.error)")
                let mine = result.statements.keys.max().flatMap { result.statements[$0] } ?? []
                #expect(Rendered.same(mine, expected, ordered: true), "\(mode): \(sql)\ncluster: \(mine)\none process: \(expected)")
            }
        }
        func explained(_ mode: String, _ sql: String) throws -> String {
            let r = try c.cli(["query", "--partitions", "16", "--format", "csv", "SET broadcast_threshold = 0; \(settings[mode]!)\nEXPLAIN ANALYZE " + sql])
            try #require(r.status == 0, "\(r.err)")
            return r.out
        }
        let split = try explained("split", skewed)
        #expect(split.contains("adaptive: partition") && split.contains("split into"), "\(split)")
        let broadcast = try explained("broadcast", skewed)
        #expect(broadcast.contains("adaptive: join switched to broadcast"), "\(broadcast)")
        let grouped = try explained("split", few)
        #expect(grouped.contains("empty partitions not read"), "\(grouped)")
        let off = try explained("off", skewed)
        #expect(!off.contains("adaptive:"), "\(off)")
        #expect(c.log("coordinator").contains("stage re-planned from its inputs' sizes"))
    }

    /// Workers with 32 MB for their two slots (16 MB a task): grouping
    /// lineitem by its key, sorting all of it, joining it with orders, and
    /// TPC-H Q9 and Q18 answer as one process does; the grouping's tasks
    /// spill (EXPLAIN ANALYZE says how much); nothing is left in the workers'
    /// spill dirs.
    @Test func workersWithinAMemoryLimitSpillAndAnswerTheSame() throws {
        try #require(FileManager.default.fileExists(atPath: Self.tpch + "/lineitem.csv"), "run Benchmarks/tpch/generate 0.1 .build/tpch-sf0.1 first")
        let c = try TestCluster(name: "workersWithinAMemoryLimit")
        defer { c.shutdown() }
        try c.startCoordinator(["--sql-root", Self.tpch])
        for w in ["w1", "w2"] { try c.startWorker(w, slots: 2, allowCommands: false, extraArgs: ["--memory-limit", "32MB"]) }
        try c.waitForWorkers(2)
        let l = "'\(Self.tpch)/lineitem.csv'", o = "'\(Self.tpch)/orders.csv'"
        var scripts = [
            ("SELECT l_orderkey, l_linenumber, count(*) AS n, sum(l_quantity) AS q, max(l_comment) AS c FROM \(l) GROUP BY l_orderkey, l_linenumber "
                + "ORDER BY 1, 2", true),
            // A quarter of lineitem's output is more than a quarter of a task's 12 MB (a 32 MB worker keeps 8 MB of
            // shuffle output, 2 slots): the scan tasks stream it into files, which the workers' shuffle stores take over.
            ("SELECT l_orderkey, l_linenumber, l_comment FROM \(l) ORDER BY l_comment, l_orderkey, l_linenumber", true),
            ("SET broadcast_threshold = 0; SELECT o_orderkey, o_comment, l_linenumber, l_extendedprice FROM \(o) JOIN \(l) ON o_orderkey = l_orderkey "
                + "ORDER BY 1, 3", false),
        ]
        for q in ["q09", "q18"] { scripts.append((try Self.tpchScript(try String(contentsOfFile: Self.repo + "/Benchmarks/tpch/queries/\(q).sql", encoding: .utf8)), false)) }
        for (i, (script, spills)) in scripts.enumerated() {
            let result = try ClusterResult.read(c, sql: script, partitions: 4, timeout: 300)
            try #require(result.error.isEmpty, "\(i): \(result.error)")
            let mine = result.statements.keys.max().flatMap { result.statements[$0] } ?? []
            let expected = try Self.local(script)
            #expect(mine.count == expected.count && Rendered.same(mine, expected, ordered: true), "\(i): \(mine.count) rows, \(expected.count) expected")
            guard spills else { continue }
            let explain = try c.cli(["query", "--partitions", "4", "--format", "csv", "EXPLAIN ANALYZE " + script])
            #expect(explain.out.contains("spilled="), "\(i): \(explain.out)\(explain.err)")
        }
        for w in ["w1", "w2"] {
            let left = (try? FileManager.default.contentsOfDirectory(atPath: c.dir + "/\(w)/spill")) ?? []
            #expect(left.isEmpty, "\(w) left \(left)")
        }
    }

    @Test func aCoordinatorRestartFailsTheRunningQuerySayingSo() throws {
        let hold = try scratchDir("hold")
        defer { try? FileManager.default.removeItem(atPath: hold) }
        let c = try cluster(scratch: Self.tpch, workerEnv: ["SLUICE_TEST_HOLD_DIR": hold])
        defer { c.shutdown() }
        FileManager.default.createFile(atPath: hold + "/hold-map", contents: nil)
        let client = try c.client()
        let id = try client.call(SubmitQuery(submissionID: UUID().uuidString, sql: "SELECT count(*) FROM '\(Self.tpch)/orders.csv'")).queryID
        _ = try started(c, hold, "started-map-")
        c.kill9(c.coordinator!)
        try c.startCoordinator(["--sql-root", Self.tpch])
        try? FileManager.default.removeItem(atPath: hold + "/hold-map")
        var message = ""
        try c.eventually("the restarted coordinator to answer about the query") {
            do { _ = try c.client().call(FetchResult(queryID: id, sequence: 0, waitMs: 0)); return false } catch {
                message = "\(error)"
                return message.contains("coordinator restart")
            }
        }
        #expect(message.contains("interrupted by a coordinator restart; nothing was written"), "\(message)")
        // Its job is failed in the journal with the same words, and the cluster runs the next query.
        try c.waitForWorkers(3)
        let next = try c.cli(["query", "--format", "csv", "SELECT count(*) AS n FROM '\(Self.tpch)/region.csv'"])
        #expect(next.status == 0 && next.out == "n\n5\n", "\(next.err)")
        #expect(try c.client().jobs().contains { $0.reason.contains("interrupted by a coordinator restart") })
    }

    @Test func aFileAWorkerCannotSeeIsAnErrorNamingTheWorkerAndThePath() throws {
        let hold = try scratchDir("hold")
        defer { try? FileManager.default.removeItem(atPath: hold) }
        let path = hold + "/gone.csv"
        try "a\n1\n2\n".write(toFile: path, atomically: true, encoding: .utf8)
        let c = try cluster(scratch: hold, workerEnv: ["SLUICE_TEST_HOLD_DIR": hold])
        defer { c.shutdown() }
        // Planned while the coordinator sees the file; gone before a worker reads it.
        FileManager.default.createFile(atPath: hold + "/hold-map", contents: nil)
        let query = BackgroundQuery(c, sql: "SELECT sum(a) FROM '\(path)'")
        _ = try started(c, hold, "started-map-")
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.removeItem(atPath: hold + "/hold-map")
        let result = try #require(query.wait(120), "the query did not finish")
        #expect(result.error.contains("on worker w") && result.error.contains(path), "\(result.error)")
        #expect(result.statements[0]?.isEmpty ?? true, "a short answer was returned as if whole")
    }

    @Test func aTimeoutCancelsTheQuerysTasks() throws {
        let hold = try scratchDir("hold")
        defer { try? FileManager.default.removeItem(atPath: hold) }
        let c = try cluster(scratch: Self.tpch, workerEnv: ["SLUICE_TEST_HOLD_DIR": hold])
        defer { c.shutdown() }
        FileManager.default.createFile(atPath: hold + "/hold-map", contents: nil)
        let r = try c.cli(["query", "--timeout", "1s", "SELECT count(*) FROM '\(Self.tpch)/orders.csv'"])
        #expect(r.status == 1 && r.err.contains("timed out"), "\(r.err)")
        let jobs = try c.client().jobs()
        #expect(jobs.first?.state == "cancelled", "\(jobs.map { ($0.jobID, $0.state, $0.reason) })")
    }

    @Test func hostileBytesOnTheDataPortLeaveTheWorkerServing() throws {
        let c = try cluster(scratch: Self.tpch)
        defer { c.shutdown() }
        let address = try #require(try c.client().status().workers.first { !$0.dataAddress.isEmpty }).dataAddress
        let secret = try ClusterSecret(file: c.secretFile)
        let sealer = Sealer(clusterID: "sluice", sender: "client:hostile", secret: secret)
        let raw = try RequestSocket(dialing: address, maxMessageSize: 1 << 20)
        defer { raw.close() }
        func errorCode(_ bytes: [UInt8]) throws -> ErrorCode {
            let reply = try Envelope(decoding: try raw.request(bytes, timeout: .seconds(5)))
            #expect(reply.kind == .error)
            return try ErrorReply(decoding: reply.body).code
        }
        #expect(try errorCode((0..<300).map { _ in UInt8.random(in: 0...255) }) == .badRequest)
        let valid = sealer.request(FetchBlock(jobID: "job-1", attemptID: 1, bucket: 0, offset: 0, maxBytes: 100)).encoded()
        #expect(try errorCode(Array(valid.prefix(valid.count / 2))) == .badRequest)
        // Well formed, about nothing it holds: a bucket, an offset and a size no one wrote.
        #expect(try errorCode(valid) == .notFound)
        let huge = sealer.request(FetchBlock(jobID: "../../etc", attemptID: .max, bucket: .max, offset: .max, maxBytes: .max)).encoded()
        #expect(try errorCode(huge) == .notFound)
        var wrongKind = sealer.request(GetClusterStatus())
        wrongKind.body = [0xFF, 0xFF, 0x01]
        #expect(try errorCode(sealer.seal(wrongKind).encoded()) == .badRequest)
        let forger = Sealer(clusterID: "sluice", sender: "client:forger", secret: ClusterSecret(Array("not-the-secret-at-all".utf8)))
        #expect(try errorCode(forger.request(FetchBlock(jobID: "job-1", attemptID: 1)).encoded()) == .unauthenticated)
        connectionStorm(port: Int(address.split(separator: ":").last!)!, connections: 200)
        // Still serving: a query whose stages move data between workers.
        let r = try c.cli(["query", "--format", "csv", "SELECT o_orderpriority, count(*) AS n FROM '\(Self.tpch)/orders.csv' GROUP BY 1 ORDER BY 1"])
        #expect(r.status == 0 && r.out.split(separator: "\n").count == 6, "\(r.err)")
    }

    func goldenFiles() throws -> [String] {
        var out: [String] = []
        let e = FileManager.default.enumerator(atPath: Self.golden)
        while let p = e?.nextObject() as? String { if p.hasSuffix(".test") { out.append(p) } }
        // UPDATE and DELETE change memory tables of one session; on the cluster a table is a catalog dataset.
        return out.sorted().filter { $0 != "ddl/update_delete.test" }
    }
}

/// A query's result read back from the coordinator chunk by chunk, per statement.
struct ClusterResult {
    var statements: [Int: [[String]]] = [:]
    var error = ""
    var queryID = ""
    /// The most rows and bytes the progress reports said the tasks had written.
    var rowsWritten: UInt64 = 0
    var bytesWritten: UInt64 = 0

    init(error: String = "") { self.error = error }

    /// Runs `sql` and reads every chunk; `afterFirstRows` runs once, after the first chunk with rows.
    static func read(_ c: TestCluster, sql: String, partitions: Int, timeout: TimeInterval = 120,
                     afterFirstRows: ((String) throws -> Void)? = nil) throws -> ClusterResult {
        let client = try c.client()
        var out = ClusterResult()
        out.queryID = try client.call(SubmitQuery(submissionID: UUID().uuidString, sql: sql, partitions: UInt32(partitions)), timeout: .seconds(30)).queryID
        var schemas: [Int: Schema] = [:]
        var sequence: UInt64 = 0
        var hook = afterFirstRows
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            let chunk = try client.call(FetchResult(queryID: out.queryID, sequence: sequence, waitMs: 500), timeout: .seconds(15))
            out.rowsWritten = max(out.rowsWritten, chunk.progress.rows)
            out.bytesWritten = max(out.bytesWritten, chunk.progress.bytes)
            if chunk.pending { continue }
            sequence += 1
            let s = Int(chunk.statement)
            if !chunk.schema.isEmpty {
                var o = 0
                schemas[s] = try BatchCodec.decode(chunk.schema, offset: &o).schema
                out.statements[s] = out.statements[s] ?? []
            }
            if !chunk.batches.isEmpty, let schema = schemas[s] {
                out.statements[s, default: []] += Rendered.rows(schema, try BatchCodec.decodeAll(chunk.batches))
                if let h = hook { hook = nil; try h(out.queryID) }
            }
            if chunk.done {
                out.error = chunk.error
                return out
            }
        }
        c.dumpLogs()
        Issue.record("query did not finish within \(timeout) s")
        return out
    }
}

/// A query read on a thread of its own while the test does something to the cluster.
final class BackgroundQuery: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result = ClusterResult()

    init(_ c: TestCluster, sql: String) {
        Thread {
            do { self.result = try ClusterResult.read(c, sql: sql, partitions: 4) } catch { self.result = ClusterResult(error: "reading failed: \(error)") }
            self.done.signal()
        }.start()
    }

    /// Its result, or nil when it did not finish within `seconds`.
    func wait(_ seconds: Double) -> ClusterResult? {
        done.wait(timeout: .now() + seconds) == .success ? result : nil
    }
}

/// Rows as the strings the golden files use, compared as the golden tests do.
enum Rendered {
    static func rows(_ schema: Schema, _ batches: [RecordBatch]) -> [[String]] {
        var out: [[String]] = []
        for b in batches {
            for r in 0..<b.rowCount {
                out.append(b.columns.indices.map { Columnar.render(b.columns[$0].value(at: r), as: schema.fields[$0].type) ?? "NULL" })
            }
        }
        return out
    }

    static func same(_ a: [[String]], _ b: [[String]], ordered: Bool) -> Bool {
        guard a.count == b.count else { return false }
        let (x, y) = ordered ? (a, b) : (a.sorted { $0.lexicographicallyPrecedes($1) }, b.sorted { $0.lexicographicallyPrecedes($1) })
        return zip(x, y).allSatisfy { r, s in r.count == s.count && zip(r, s).allSatisfy(cell) }
    }

    /// Equal, or both numbers within 1e-9 relative (sums of doubles in another order).
    static func cell(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        guard let x = Double(a), let y = Double(b) else { return false }
        return abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-300)
    }
}

/// One record of a golden file (sqllogictest format).
struct GoldenRecord {
    var sql: String
    var isQuery: Bool
    var expectsError: Bool
    var sort: String
    var line: Int

    static func parse(_ text: String) -> [GoldenRecord] {
        let lines = text.components(separatedBy: "\n")
        var out: [GoldenRecord] = []
        var i = 0
        while i < lines.count {
            let l = lines[i].trimmingCharacters(in: .whitespaces)
            guard l.hasPrefix("statement") || l.hasPrefix("query") else { i += 1; continue }
            let start = i + 1
            let parts = l.split(separator: " ").map(String.init)
            i += 1
            var sql: [String] = []
            while i < lines.count, !lines[i].trimmingCharacters(in: .whitespaces).isEmpty, lines[i] != "----" { sql.append(lines[i]); i += 1 }
            if i < lines.count, lines[i] == "----" {
                while i < lines.count, !lines[i].trimmingCharacters(in: .whitespaces).isEmpty { i += 1 }
            }
            out.append(GoldenRecord(sql: sql.joined(separator: "\n"), isQuery: parts[0] == "query", expectsError: l.hasPrefix("statement error"),
                                    sort: parts[0] == "query" && parts.count > 2 ? parts[2] : "nosort", line: start))
        }
        return out
    }
}
