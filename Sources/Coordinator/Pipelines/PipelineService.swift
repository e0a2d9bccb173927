import Datasets
import Foundation
import Logging
import Pipelines
import SQL
import Synchronization
import Wire

/// The shell around the pipeline machine: `sluice pipeline ...` and
/// `sluice backfill ...` requests become its events, its actions become
/// model runs (cluster sessions whose jobs the task scheduler runs like any
/// query's), and every event is journaled before its actions are carried
/// out, so a restarted coordinator replays the journal and resubmits what
/// was running. Everything happens on one serial queue; a ticker feeds time.
final class PipelineService: @unchecked Sendable {
    private let queue = DispatchQueue(label: "sluice-pipelines")
    // Owned by `queue`.
    private var machine = PipelineMachine()
    private var pipelines: [String: ValidPipeline] = [:]   // by version hash
    private var running: [RunModel: (attempt: Int, query: String)] = [:]
    private let store: PipelineStore
    private let queries: QueryManager
    private let tables: CatalogTables
    private let stagingRoot: String
    private let sqlRoot: String
    private let fileRoots: [String]
    private let logger: Logger
    private let alert: @Sendable (AlertRule.Trigger, String, String) -> Void
    /// Milliseconds added to the wall clock: a test's way to make a schedule come due (`advance-clock` fault hook).
    let clockOffsetMs = Atomic<Int64>(0)
    private let stopping = Atomic<Bool>(false)

    struct RunModel: Hashable { var run: RunID; var model: String }

    /// Seconds between ticks: schedules, timeouts and SLAs are checked this often.
    static let tickInterval = 1.0

    init(dataDir: String, warehouse: String, fileRoots: [String], queries: QueryManager, tables: CatalogTables, logger: Logger,
         alert: @escaping @Sendable (AlertRule.Trigger, String, String) -> Void) throws {
        store = try PipelineStore(dir: dataDir)
        self.queries = queries
        self.tables = tables
        stagingRoot = warehouse + "/.pipelines"
        sqlRoot = URL(fileURLWithPath: fileRoots[0]).standardizedFileURL.path
        self.fileRoots = fileRoots
        self.logger = logger
        self.alert = alert
        let events = try store.events()
        for e in events { _ = machine.handle(e) }
        let running = machine.runs.values.filter { $0.state == .running }.count
        logger.info("pipelines restored", metadata: ["events": "\(events.count)", "running.runs": "\(running)",
                                                            "deployed": "\(machine.deployments.count)"])
        queue.async { self.feed(.recovered(nowMs: self.now)) }
        let ticker = Thread { [self] in
            while !stopping.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: Self.tickInterval)
                queue.async { self.feed(.tick(nowMs: self.now)) }
            }
        }
        ticker.name = "sluice-pipeline-ticker"
        ticker.start()
    }

    func stop() { stopping.store(true, ordering: .relaxed) }

    var now: Int64 { Date().unixMilliseconds + clockOffsetMs.load(ordering: .relaxed) }

    // MARK: events and actions (on the queue)

    /// Applies an event, journals it (a tick only when it did something), then carries out its actions.
    @discardableResult
    private func feed(_ event: PipelineEvent) -> [Pipelines.PipelineAction] {
        dispatchPrecondition(condition: .onQueue(queue))
        let actions: [Pipelines.PipelineAction] = machine.handle(event)
        if case .tick = event, actions.isEmpty { return actions }
        do { try store.append(event) } catch {
            // Not journaled: the state would differ after a restart. Stop here rather than act on it.
            logger.critical("cannot journal a pipeline event; not acting on it", metadata: ["error": "\(error)"])
            return [.refused("the coordinator cannot write its pipeline journal: \(error)")]
        }
        for a in actions { perform(a) }
        return actions
    }

    private func perform(_ action: Pipelines.PipelineAction) {
        switch action {
        case .submit(let t):
            submit(t)
        case .cancel(let run, let model, let attempt, let reason):
            if let r = running[RunModel(run: run, model: model)], r.attempt == attempt {
                _ = queries.cancel(r.query, reason: reason)
                running[RunModel(run: run, model: model)] = nil
            }
        case .runFinished(let id, let state, let error):
            let r = machine.runs[id]
            logger.info("pipeline run ended", metadata: ["run": "\(id)", "pipeline": "\(r?.pipeline ?? "")", "state": "\(state.rawValue)",
                                                         "error": "\(error ?? "")"])
            try? FileManager.default.removeItem(atPath: "\(stagingRoot)/\(id)")
            if state == .failed { alert(.pipelineFailed, "\(id)", "pipeline \(r?.pipeline ?? "") \(r?.key ?? ""): \(error ?? "failed")") }
        case .slaMissed(let id, let pipeline):
            logger.warning("pipeline run missed its SLA", metadata: ["run": "\(id)", "pipeline": "\(pipeline)"])
            alert(.slaMissed, "\(id)", "pipeline \(pipeline) \(machine.runs[id]?.key ?? "") missed its SLA")
        case .backfillFinished(let id, let state):
            logger.info("backfill ended", metadata: ["backfill": "\(id)", "state": "\(state.rawValue)"])
        case .runCreated, .backfillCreated, .refused:
            break
        }
    }

    private func submit(_ t: ModelTask) {
        let key = RunModel(run: t.run, model: t.model)
        let valid: ValidPipeline
        let values: [String: ParamValue]
        do {
            valid = try pipeline(t.version)
            values = try valid.values(t.params, file: t.pipeline)
        } catch {
            queue.async { self.feed(.modelFailed(t.run, model: t.model, attempt: t.attempt, error: "\(error)", nowMs: self.now)) }
            return
        }
        let runner = ModelRunner(valid: valid, task: t, values: values, staging: "\(stagingRoot)/\(t.run)", datasets: tables, root: sqlRoot)
        let outcome = Mutex<ModelRunner.Outcome?>(nil)
        let id = queries.startDetached(ClusterQuery.Detached(
            lowPriority: t.lane == .backfill,
            body: { session throws(SQLError) in
                let o = try runner.run(session)
                outcome.withLock { $0 = o }
                return "\(o.rows) rows"
            },
            done: { [self] result in
                queue.async { [self] in
                    // A coordinator shutting down stops its queries: not a failure of the model, which a restart resubmits.
                    guard !stopping.load(ordering: .relaxed), running[key]?.attempt == t.attempt else { return }
                    running[key] = nil
                    switch result {
                    case .success:
                        let o = outcome.withLock { $0 } ?? ModelRunner.Outcome(rows: 0, quarantined: 0)
                        feed(.modelSucceeded(t.run, model: t.model, attempt: t.attempt, rows: o.rows, quarantined: o.quarantined, nowMs: now))
                    case .failure(let e):
                        feed(.modelFailed(t.run, model: t.model, attempt: t.attempt, error: e.message, nowMs: now))
                    }
                }
            }))
        running[key] = (t.attempt, id)
        logger.info("pipeline model started", metadata: ["run": "\(t.run)", "model": "\(t.model)", "attempt": "\(t.attempt)",
                                                         "lane": "\(t.lane.rawValue)", "query": "\(id)"])
    }

    /// A stored version, parsed and validated once.
    private func pipeline(_ hash: String) throws -> ValidPipeline {
        if let v = pipelines[hash] { return v }
        guard let stored = try store.version(hash) else { throw PipelineStoreError("version \(hash) of the pipeline is not in \(store.path)") }
        let v = try PipelineValidator.validate(try PipelineFile.parse(stored.text, file: stored.fileName), file: stored.fileName)
        pipelines[hash] = v
        return v
    }

    // MARK: requests

    struct Failure: Error {
        let code: ErrorCode
        let message: String
    }

    func handle(_ m: PipelineRequest, from sender: String, answer: @escaping @Sendable (Result<PipelineReply, Failure>) -> Void) {
        queue.async {
            do { answer(.success(try self.answer(m, from: sender))) } catch let f as Failure { answer(.failure(f)) } catch {
                answer(.failure(Failure(code: .badRequest, message: "\(error)")))
            }
        }
    }

    private func answer(_ m: PipelineRequest, from sender: String) throws -> PipelineReply {
        let now = self.now
        switch m.action {
        case .validatePipeline:
            let file = m.fileName.isEmpty ? "pipeline" : m.fileName
            let valid = try mapError { try PipelineValidator.validate(try PipelineFile.parse(m.fileText, file: file), file: file) }
            var given: [String: String] = [:]
            for l in m.params { given[l.key] = l.value }
            try checkOutputs(valid, given, file: file)
            return PipelineReply(message: "outputs fit the catalog's datasets")
        case .runPipeline, .deployPipeline, .startBackfill:
            let (valid, hash) = try accept(m, nowMs: now)
            let spec = PipelineSpec(valid, version: hash)
            var given: [String: String] = [:]
            for l in m.params { given[l.key] = l.value }
            try checkOutputs(valid, given, file: m.fileName)
            if m.action == .deployPipeline {
                _ = feed(.deploy(spec, nowMs: now))
                logger.info("pipeline deployed", metadata: ["pipeline": "\(spec.name)", "version": "\(hash)", "by": "\(sender)"])
                return PipelineReply(pipelines: [deployed(spec.name)].compactMap { $0 })
            }
            if m.action == .runPipeline {
                let values = try mapError { try valid.values(given, file: m.fileName) }
                let actions = feed(.startRun(spec, params: values.mapValues(\.description), lane: .interactive, nowMs: now))
                try refusal(actions)
                guard case .runCreated(let id)? = actions.first else { throw Failure(code: .internal, message: "the run was not created") }
                return PipelineReply(runs: [info(machine.runs[id]!)])
            }
            // A backfill: every value of the interval parameter; the other parameters as given (or their defaults).
            guard let param = spec.intervalParam else {
                throw Failure(code: .badRequest, message: "pipeline \(spec.name) declares no date parameter to backfill over")
            }
            let dates = try mapError { try BackfillRange.dates(from: m.from, to: m.to, step: m.step.isEmpty ? "1d" : m.step, backwards: m.backwards) }
            given[param] = dates[0]
            let values = try mapError { try valid.values(given, file: m.fileName) }
            var fixed = values.mapValues(\.description)
            fixed[param] = nil
            let reprocess = m.reprocess.isEmpty ? Reprocess.none : Reprocess(rawValue: m.reprocess)
            guard let reprocess else { throw Failure(code: .badRequest, message: "--reprocess is none, failed or all, not \(m.reprocess)") }
            let maxActive = m.maxActiveRuns == 0 ? 4 : min(Int(m.maxActiveRuns), 1000)
            let actions = feed(.startBackfill(spec, values: dates, params: fixed, maxActiveRuns: maxActive, reprocess: reprocess, nowMs: now))
            try refusal(actions)
            guard case .backfillCreated(let id, _, _)? = actions.first else { throw Failure(code: .internal, message: "the backfill was not created") }
            logger.info("backfill started", metadata: ["backfill": "\(id)", "pipeline": "\(spec.name)", "partitions": "\(dates.count)", "by": "\(sender)"])
            return PipelineReply(backfills: [info(machine.backfills[id]!, now: now)])
        case .listRuns:
            let limit = m.limit == 0 ? 50 : min(Int(m.limit), 10_000)
            let runs = machine.runs.values.filter { m.name.isEmpty || $0.pipeline == m.name }.sorted { $0.id > $1.id }.prefix(limit)
            return PipelineReply(runs: runs.map(info))
        case .showRun:
            guard let r = machine.runs[RunID(m.id)] else { throw Failure(code: .notFound, message: "no pipeline run \(m.id)") }
            return PipelineReply(runs: [info(r)])
        case .cancelRun:
            try refusal(feed(.cancelRun(RunID(m.id), reason: "cancelled by \(sender)", nowMs: now)))
            return PipelineReply(runs: [info(machine.runs[RunID(m.id)]!)])
        case .showBackfill:
            guard let b = machine.backfills[BackfillID(m.id)] else { throw Failure(code: .notFound, message: "no backfill \(m.id)") }
            return PipelineReply(backfills: [info(b, now: now)])
        case .cancelBackfill:
            try refusal(feed(.cancelBackfill(BackfillID(m.id), reason: "cancelled by \(sender)", nowMs: now)))
            return PipelineReply(backfills: [info(machine.backfills[BackfillID(m.id)]!, now: now)])
        case .listPipelines:
            return PipelineReply(backfills: machine.backfills.values.sorted { $0.id > $1.id }.map { info($0, now: now) },
                                 pipelines: machine.deployments.keys.sorted().compactMap(deployed))
        case .unspecified:
            throw Failure(code: .badRequest, message: "a pipeline request needs an action")
        }
    }

    /// Validates a file sent with a request and stores it; its hash.
    private func accept(_ m: PipelineRequest, nowMs: Int64) throws -> (ValidPipeline, String) {
        guard !m.fileText.isEmpty else { throw Failure(code: .badRequest, message: "the request carries no pipeline file") }
        let file = m.fileName.isEmpty ? "pipeline" : m.fileName
        let valid = try mapError { try PipelineValidator.validate(try PipelineFile.parse(m.fileText, file: file), file: file) }
        let hash = try store.putVersion(name: valid.pipeline.name, fileName: file, text: m.fileText, nowMs: nowMs)
        pipelines[hash] = valid
        return (valid, hash)
    }

    /// Refuses a pipeline whose outputs would not fit their existing datasets.
    private func checkOutputs(_ valid: ValidPipeline, _ given: [String: String], file: String) throws {
        // Missing values take a sample of their type: the shapes do not depend on them.
        var values: [String: ParamValue] = [:]
        for p in valid.pipeline.params {
            values[p.name] = given[p.name].flatMap { ParamValue.parse($0, as: p.kind) } ?? p.defaultValue ?? PipelineValidator.sample(p.kind)
        }
        let problems = OutputSchemaCheck.problems(valid, values: values, tables: tables, root: sqlRoot, fileRoots: fileRoots)
        guard problems.isEmpty else {
            throw Failure(code: .badRequest, message: problems.map { "\(file): \($0)" }.joined(separator: "\n"))
        }
    }

    private func mapError<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as PipelineErrors {
            throw Failure(code: .badRequest, message: e.description)
        } catch let e as PipelineError {
            throw Failure(code: .badRequest, message: e.description)
        }
    }

    private func refusal(_ actions: [Pipelines.PipelineAction]) throws {
        for case .refused(let why) in actions { throw Failure(code: .refused, message: why) }
    }

    // MARK: views

    private func deployed(_ name: String) -> DeployedPipeline? {
        guard let d = machine.deployments[name] else { return nil }
        return DeployedPipeline(name: name, version: d.spec.version, schedule: d.spec.cron.map { "\($0) \(d.spec.timezone)" } ?? "",
                                nextRunMs: d.nextFireMs ?? 0, deployedMs: d.deployedMs)
    }

    private func info(_ r: PipelineRun) -> RunInfo {
        let outputs = pipelines[r.version].map { v in Dictionary(v.pipeline.models.map { ($0.name, $0.output?.dataset ?? "") }, uniquingKeysWith: { a, _ in a }) } ?? [:]
        return RunInfo(id: r.id.rawValue, pipeline: r.pipeline, version: r.version, params: r.params.sorted { $0.key < $1.key }.map { Label(key: $0.key, value: $0.value) },
                       lane: r.lane.rawValue, state: r.state.rawValue, startedMs: r.startedMs, endedMs: r.endedMs ?? 0, error: r.error ?? "",
                       slaMissed: r.slaMissed, backfillID: r.backfill?.rawValue ?? 0,
                       models: r.models.map { m in
                           ModelRunInfo(name: m.name, state: m.state.rawValue, attempts: UInt32(clamping: m.attempt), startedMs: m.startedMs ?? 0,
                                        endedMs: m.endedMs ?? 0, rows: m.rows, quarantined: m.quarantined, error: m.error ?? "", output: outputs[m.name] ?? "")
                       })
    }

    private func info(_ b: Backfill, now: Int64) -> BackfillInfo {
        let c = b.counts
        var rows: Int64 = 0, failed: [String] = []
        for (i, s) in b.slots.enumerated() {
            let run: RunID
            switch s {
            case .done(let r, _), .running(let r): run = r
            case .pending, .skipped: continue
            }
            guard let r = machine.runs[run] else { continue }
            rows += r.rows
            if r.state == .failed { failed.append(b.values[i]) }
        }
        // Time left: the pace so far (partitions finished per elapsed ms) over what is left.
        var eta: Int64 = -1
        let finished = c.done + c.failed
        if b.state == .running, finished > 0 {
            let elapsed = max(1, now - b.startedMs)
            eta = elapsed * Int64(c.pending + c.running) / Int64(finished)
        } else if b.state != .running {
            eta = 0
        }
        return BackfillInfo(id: b.id.rawValue, pipeline: b.pipeline, version: b.version, state: b.state.rawValue, partitions: UInt32(clamping: b.slots.count),
                            done: UInt32(clamping: c.done), running: UInt32(clamping: c.running), failed: UInt32(clamping: c.failed),
                            pending: UInt32(clamping: c.pending), skipped: UInt32(clamping: c.skipped), rows: rows, startedMs: b.startedMs,
                            endedMs: b.endedMs ?? 0, etaMs: eta, reason: b.reason ?? "", failedValues: failed)
    }
}
