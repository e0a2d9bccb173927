import Foundation
import Testing
import Wire

/// Pipelines and backfills on a real cluster, with the example lake
/// (`examples/lake`): runs, reruns, a failing model, backfills of 60 daily
/// partitions through a worker's and the coordinator's `kill -9`, a schedule
/// driven by an injected clock, and a run that does not wait behind a backfill.
@Suite(.serialized)
struct PipelineTests {
    static let example = repoRoot + "/examples/lake/pipeline.yaml"
    static let days = 60

    /// A cluster whose `--sql-root` holds a freshly generated lake (tiny: 6 sales a day) and the example pipeline.
    struct Lake {
        let cluster: TestCluster
        var root: String { cluster.dir }
        var pipeline: String { root + "/pipeline.yaml" }

        init(_ name: String = #function, workers: Int = 2, coordinatorArgs: [String] = []) throws {
            cluster = try TestCluster(name: name)
            do {
                let gen = try runProcess(repoRoot + "/examples/lake/generate", [cluster.dir + "/lake", "--days", "\(PipelineTests.days + 2)", "--per-day", "6"],
                                         env: ["SLUICE": TestCluster.binary])
                try #require(gen.status == 0, "generate: \(gen.err)")
                try FileManager.default.copyItem(atPath: PipelineTests.example, toPath: cluster.dir + "/pipeline.yaml")
                try cluster.startCoordinator(["--sql-root", cluster.dir] + coordinatorArgs)
                for i in 1...workers { try cluster.startWorker("w\(i)", slots: 2, allowCommands: false) }
                try cluster.waitForWorkers(workers)
            } catch {
                cluster.shutdown()
                throw error
            }
        }

        func cli(_ args: [String]) throws -> (status: Int32, out: String, err: String) { try cluster.cli(args) }

        func request(_ r: PipelineRequest) throws -> PipelineReply { try cluster.client().call(r) }

        func backfill(_ id: Int64) throws -> BackfillInfo { try #require(try request(PipelineRequest(action: .showBackfill, id: id)).backfills.first) }

        func waitForBackfill(_ id: Int64, timeout: TimeInterval = 240) throws -> BackfillInfo {
            var last = BackfillInfo()
            try cluster.eventually("backfill \(id) to end", timeout: timeout) {
                last = try backfill(id)
                return last.state != "running"
            }
            return last
        }

        /// gold_revenue as the cluster has it, one line per row, sorted.
        func gold() throws -> [String] {
            let r = try cli(["query", "--format", "csv", "SELECT date, country, category, orders, units, revenue FROM gold_revenue ORDER BY 1, 2, 3"])
            try #require(r.status == 0, "\(r.err)")
            return r.out.split(separator: "\n").dropFirst().map(String.init)
        }

        /// What gold_revenue must hold, computed in one local query over the raw files (another plan than the runs').
        func expectedGold(through lastDate: String) throws -> [String] {
            let raw = root + "/lake/raw"
            let sql = """
                WITH sales AS (
                  SELECT * FROM read_csv('\(raw)/sales/*/*.csv', header=true, on_error='skip',
                    columns={'sale_id': 'BIGINT', 'sold_at': 'TIMESTAMP', 'customer_id': 'BIGINT', 'product_id': 'BIGINT', 'quantity': 'INTEGER', 'unit_price': 'DECIMAL(10,2)'})),
                first AS (
                  SELECT *, row_number() OVER (PARTITION BY sale_id ORDER BY date) AS n FROM sales
                  WHERE date BETWEEN CAST(sold_at AS DATE) AND CAST(sold_at AS DATE) + 3),
                customers AS (
                  SELECT customer_id, country, row_number() OVER (PARTITION BY customer_id ORDER BY updated_at DESC) AS v
                  FROM read_csv('\(raw)/customers/*.csv', header=true))
                SELECT CAST(s.sold_at AS DATE) AS date, c.country, p.category, count(*) AS orders, sum(s.quantity) AS units, sum(s.quantity * s.unit_price) AS revenue
                FROM first s JOIN customers c ON c.customer_id = s.customer_id AND c.v = 1
                JOIN read_csv('\(raw)/products.csv', header=true) p ON p.product_id = s.product_id
                WHERE s.n = 1 AND CAST(s.sold_at AS DATE) <= DATE '\(lastDate)'
                GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                """
            let r = try runSluice(["query", "--local", "--format", "csv", sql])
            try #require(r.status == 0, "\(r.err)")
            return r.out.split(separator: "\n").dropFirst().map(String.init)
        }

        /// Partition directories the catalog lists for a dataset, each with its file count.
        func partitions(_ dataset: String) throws -> [String: Int] {
            let r = try cli(["catalog", "show", dataset, "--json"])
            try #require(r.status == 0, "\(r.err)")
            let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
            let parts = (json?["partitions"] as? [[String: Any]]) ?? []
            return Dictionary(parts.map { ($0["values"] as? String ?? "", ($0["files"] as? Int) ?? 0) }, uniquingKeysWith: +)
        }
    }

    static let first = "2026-09-01"
    static func day(_ i: Int) -> String {
        var c = DateComponents(); c.year = 2026; c.month = 9; c.day = 1 + i
        let cal = Calendar(identifier: .gregorian)
        var utc = cal; utc.timeZone = TimeZone(identifier: "UTC")!
        let f = DateFormatter(); f.dateFormat = "yyyy-MM-dd"; f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: utc.date(from: c)!)
    }

    // MARK: bad input, no cluster needed

    func validate(_ text: String, _ extra: [String] = []) throws -> (status: Int32, out: String, err: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-pipeline-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try text.write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
        let r = try runSluice(["pipeline", "validate", dir + "/p.yaml"] + extra)
        return (r.status, r.out, r.err.replacingOccurrences(of: dir + "/", with: ""))
    }

    @Test func badPipelinesAndArgumentsGetPreciseErrors() throws {
        let ok = try runSluice(["pipeline", "validate", Self.example])
        #expect(ok.status == 0 && ok.out.contains("pipeline lake is valid: 5 models, 3 sources"), "\(ok)")

        let yaml = try validate("name: p\nmodels:\n  a:\n    sql: [SELECT 1\n")
        #expect(yaml.status == 1 && yaml.err.hasPrefix("p.yaml:5:") && yaml.err.contains("not valid YAML"), "\(yaml.err)")

        let sql = try validate("name: p\nmodels:\n  a:\n    sql: |\n      SELECT 1\n      FROM t WHERE WHERE\n")
        #expect(sql.status == 1 && sql.err.hasPrefix("p.yaml:6:20: model 'a': Syntax error"), "\(sql.err)")

        let missing = try validate("name: p\nmodels:\n  orders:\n    sql: SELECT 1 AS x\n  b:\n    sql: SELECT * FROM ordrs\n")
        #expect(missing.err == "p.yaml:6:24: model 'b' reads 'ordrs', which is neither a source nor a model; did you mean 'orders'?\n", "\(missing.err)")

        let cycle = try validate("name: p\nmodels:\n  a:\n    sql: SELECT * FROM b\n  b:\n    sql: SELECT * FROM a\n")
        #expect(cycle.err == "p.yaml:3:3: the models make a cycle: a → b → a (each feeds the next)\n", "\(cycle.err)")

        let badParam = try runSluice(["pipeline", "validate", Self.example, "--param", "date=2026-13-01"])
        #expect(badParam.status == 1 && badParam.err.contains("parameter 'date' is a date; '2026-13-01' is not one (YYYY-MM-DD)"), "\(badParam.err)")
        let unknownParam = try runSluice(["pipeline", "validate", Self.example, "--param", "day=2026-11-01"])
        #expect(unknownParam.err.contains("unknown parameter 'day' (declared: date)"), "\(unknownParam.err)")

        let range = try runSluice(["backfill", "start", Self.example, "--from", "2026-10-01", "--to", "2026-09-01"])
        #expect(range.status != 0 && range.err.contains("--from 2026-10-01 is after --to 2026-09-01"), "\(range.err)")
        let step = try runSluice(["backfill", "start", Self.example, "--from", "2026-09-01", "--to", "2026-09-05", "--step", "3x"])
        #expect(step.status != 0 && step.err.contains("--step '3x' is not a step"), "\(step.err)")
    }

    // MARK: runs

    @Test func aRunCommitsItsOutputsAndARerunReplacesOnlyItsPartition() throws {
        let lake = try Lake()
        defer { lake.cluster.shutdown() }
        let date = Self.day(5), other = Self.day(6)
        for d in [date, other] {
            let r = try lake.cli(["pipeline", "run", lake.pipeline, "--param", "date=\(d)", "--wait"])
            try #require(r.status == 0, "\(r.out)\(r.err)")
            #expect(r.out.contains("succeeded") && r.out.contains("gold_revenue"))
        }
        let expected = try lake.expectedGold(through: other).filter { $0.hasPrefix(date) || $0.hasPrefix(other) }
        #expect(try lake.gold() == expected)
        #expect(!expected.isEmpty)
        // The same parameters again: the partition is replaced, nothing is added, the other partition is untouched.
        let again = try lake.cli(["pipeline", "run", lake.pipeline, "--param", "date=\(date)", "--wait", "--json"])
        try #require(again.status == 0, "\(again.err)")
        #expect(try lake.gold() == expected)
        #expect(try lake.partitions("gold_revenue") == ["date=\(date)": 1, "date=\(other)": 1])
        #expect(try lake.partitions("silver_sales") == ["date=\(date)": 1, "date=\(other)": 1])
        // The run records its models, rows, quarantined input rows and the file's version.
        let run = try JSONDecoder().decode(RunInfo.self, from: Data(again.out.utf8))
        #expect(run.state == "succeeded" && run.version.count == 12 && run.lane == "interactive")
        #expect(run.models.map(\.name) == ["bronze_sales", "silver_sales", "customers", "gold_revenue", "gold_top"])
        #expect(run.models.allSatisfy { $0.state == "succeeded" && $0.attempts == 1 })
        #expect(run.models.first { $0.name == "customers" }?.rows == 400)
        // Quarantined: every garbled row of the landing days the model read (the date and the next three), counted in the files themselves.
        var garbled = 0
        for i in 5...8 {
            let dir = lake.root + "/lake/raw/sales/date=\(Self.day(i))"
            for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                let text = try String(contentsOfFile: dir + "/" + f, encoding: .utf8)
                garbled += text.split(separator: "\n").filter { $0.contains(",n/a,") || $0.hasSuffix("\"12,50\"") }.count
            }
        }
        #expect(garbled > 0, "the generated days hold a garbled row")
        #expect(run.models.first { $0.name == "bronze_sales" }?.quarantined == Int64(garbled))
        #expect(run.models.filter { $0.name != "bronze_sales" }.allSatisfy { $0.quarantined == 0 })
        let runs = try lake.cli(["pipeline", "runs", "lake"])
        #expect(runs.out.split(separator: "\n").count == 4, "\(runs.out)")   // header and three runs
        // An output that no longer fits its dataset is refused before anything runs, by validate and by run.
        let checked = try lake.cli(["pipeline", "validate", lake.pipeline])
        #expect(checked.status == 0 && checked.out.contains("outputs fit the catalog's datasets"), "\(checked)")
        let text = try String(contentsOfFile: lake.pipeline, encoding: .utf8)
            .replacingOccurrences(of: "count(*) AS orders, sum(s.quantity) AS units,", with: "count(*) AS orders, CAST(sum(s.quantity) AS VARCHAR) AS units,")
        try text.write(toFile: lake.root + "/changed.yaml", atomically: true, encoding: .utf8)
        let refused = try lake.cli(["pipeline", "validate", lake.root + "/changed.yaml"])
        #expect(refused.status == 1 && refused.err.contains("model 'gold_revenue': column 4 (units) is VARCHAR, dataset gold_revenue has HUGEINT (units); cast it"),
                "\(refused.err)")
        let notRun = try lake.cli(["pipeline", "run", lake.root + "/changed.yaml", "--param", "date=\(date)"])
        #expect(notRun.status == 1 && notRun.err.contains("column 4 (units) is VARCHAR"), "\(notRun.err)")
        #expect(try lake.gold() == expected)
    }

    @Test func aFailedModelFailsTheRunAndSkipsWhatReadsIt() throws {
        let lake = try Lake()
        defer { lake.cluster.shutdown() }
        // `customers` now fails as it runs (a name is not a number); gold_revenue reads it, gold_top does not.
        let text = try String(contentsOfFile: lake.pipeline, encoding: .utf8)
            .replacingOccurrences(of: "SELECT customer_id, name, country\n", with: "SELECT customer_id, CAST(name AS INTEGER) AS name, country\n")
        try text.write(toFile: lake.root + "/broken.yaml", atomically: true, encoding: .utf8)
        let r = try lake.cli(["pipeline", "run", lake.root + "/broken.yaml", "--param", "date=\(Self.day(3))", "--wait", "--json"])
        #expect(r.status == 1)
        let run = try JSONDecoder().decode(RunInfo.self, from: Data(r.out.utf8))
        let state = Dictionary(uniqueKeysWithValues: run.models.map { ($0.name, $0.state) })
        #expect(run.state == "failed")
        #expect(state == ["bronze_sales": "succeeded", "silver_sales": "succeeded", "customers": "failed", "gold_revenue": "skipped", "gold_top": "succeeded"])
        let customers = try #require(run.models.first { $0.name == "customers" })
        #expect(customers.error.contains("Customer 1") || customers.error.contains("INTEGER"), "\(customers.error)")
        #expect(run.error.hasPrefix("model customers failed: "), "\(run.error)")
        #expect(run.models.first { $0.name == "gold_revenue" }?.error == "upstream model customers failed")
        // Nothing of gold_revenue was written; the show command says what happened.
        #expect(try lake.cli(["catalog", "show", "gold_revenue"]).status != 0)
        let show = try lake.cli(["pipeline", "show", "\(run.id)"])
        #expect(show.out.contains("failed") && show.out.contains("skipped"), "\(show.out)")
    }

    // MARK: backfills

    /// A backfill of 60 days, a fault injected once 10 runs are done, then every partition checked against the oracle.
    func backfillSurvives(_ fault: (Lake) throws -> Void, name: String = #function) throws {
        let lake = try Lake(name)
        defer { lake.cluster.shutdown() }
        let last = Self.day(Self.days - 1)
        let start = try lake.cli(["backfill", "start", lake.pipeline, "--from", Self.first, "--to", last, "--max-active-runs", "4", "--json"])
        try #require(start.status == 0, "\(start.err)")
        let id = try JSONDecoder().decode(BackfillInfo.self, from: Data(start.out.utf8)).id
        try lake.cluster.eventually("10 runs of the backfill done", timeout: 120) { try lake.backfill(id).done >= 10 }
        try fault(lake)
        let end = try lake.waitForBackfill(id)
        #expect(end.state == "succeeded" && end.done == UInt32(Self.days) && end.failed == 0, "\(end)")
        let parts = try lake.partitions("gold_revenue")
        #expect(parts.count == Self.days && parts.values.allSatisfy { $0 == 1 }, "\(parts)")
        #expect(try lake.partitions("silver_sales").count == Self.days)
        #expect(try lake.gold() == (try lake.expectedGold(through: last)))
        // Again with --reprocess none: every partition is written already.
        let skip = try lake.cli(["backfill", "start", lake.pipeline, "--from", Self.first, "--to", last, "--json"])
        let again = try JSONDecoder().decode(BackfillInfo.self, from: Data(skip.out.utf8))
        #expect(again.skipped == UInt32(Self.days) && again.state == "succeeded", "\(again)")
    }

    @Test func aBackfillOutlivesAWorkerKilledMidway() throws {
        try backfillSurvives { lake in
            lake.cluster.kill9(lake.cluster.workers["w1"]!)
            try lake.cluster.startWorker("w3", slots: 2, allowCommands: false)
        }
    }

    @Test func aBackfillOutlivesTheCoordinatorKilledMidway() throws {
        try backfillSurvives { lake in
            lake.cluster.kill9(lake.cluster.coordinator!)
            try lake.cluster.startCoordinator(["--sql-root", lake.cluster.dir])
            try lake.cluster.waitForWorkers(2)
        }
    }

    // MARK: schedules and priority

    @Test func aDeployedScheduleRunsTheIntervalThatEnded() throws {
        let lake = try Lake(coordinatorArgs: ["--enable-fault-hooks"])
        defer { lake.cluster.shutdown() }
        let deploy = try lake.cli(["pipeline", "deploy", lake.pipeline, "--json"])
        try #require(deploy.status == 0, "\(deploy.err)")
        let next = try #require(try lake.request(PipelineRequest(action: .listPipelines)).pipelines.first).nextRunMs
        #expect(next > Int64(Date().timeIntervalSince1970 * 1000))
        // The clock jumps past the next 03:00 UTC: the run covers the day that ended there.
        let jump = next - Int64(Date().timeIntervalSince1970 * 1000) + 2000
        _ = try lake.cluster.client().call(InjectFault(fault: "advance-clock \(jump)"))
        var run = RunInfo()
        try lake.cluster.eventually("the scheduled run", timeout: 60) {
            guard let r = try lake.request(PipelineRequest(action: .listRuns, name: "lake")).runs.first, r.state != "running" else { return false }
            run = r
            return true
        }
        let fire = Date(timeIntervalSince1970: Double(next) / 1000)
        let f = DateFormatter(); f.dateFormat = "yyyy-MM-dd"; f.timeZone = TimeZone(identifier: "UTC")
        #expect(run.lane == "scheduled" && run.state == "succeeded", "\(run)")
        #expect(run.params == [Label(key: "date", value: f.string(from: fire.addingTimeInterval(-86_400)))])
        #expect(try lake.request(PipelineRequest(action: .listPipelines)).pipelines.first?.nextRunMs == next + 86_400_000)
    }

    @Test func todaysRunDoesNotWaitBehindABackfill() throws {
        let lake = try Lake()
        defer { lake.cluster.shutdown() }
        let start = try lake.cli(["backfill", "start", lake.pipeline, "--from", Self.first, "--to", Self.day(Self.days - 1),
                                  "--max-active-runs", "16", "--json"])
        try #require(start.status == 0, "\(start.err)")
        let id = try JSONDecoder().decode(BackfillInfo.self, from: Data(start.out.utf8)).id
        try lake.cluster.eventually("the backfill under way") { try lake.backfill(id).running >= 8 }
        let r = try lake.cli(["pipeline", "run", lake.pipeline, "--param", "date=\(Self.day(Self.days))", "--wait", "--json"])
        try #require(r.status == 0, "\(r.err)")
        let run = try JSONDecoder().decode(RunInfo.self, from: Data(r.out.utf8))
        let backfill = try lake.backfill(id)
        // Its models ran while most of the backfill still waited: they went ahead of its queued tasks.
        #expect(backfill.state == "running" && backfill.pending > 0, "\(backfill)")
        #expect(run.state == "succeeded")
        _ = try lake.waitForBackfill(id)
    }
}
