import Columnar
import Foundation

/// Pipeline runs, backfills and schedules: a pure state machine, events in,
/// actions out (`handle`), no clock, no I/O. Its actions are jobs for the
/// task scheduler (`submit`, `cancel`) and news (`runFinished`,
/// `slaMissed`), so the scheduler stays ignorant of pipelines. Every
/// transition is checked against `ModelState.legal`; a stale report (an
/// attempt that is not the current one) is ignored, as the scheduler ignores
/// a stale task attempt.
public struct PipelineMachine: Sendable {
    public private(set) var deployments: [String: Deployment] = [:]
    public private(set) var runs: [RunID: PipelineRun] = [:]
    public private(set) var backfills: [BackfillID: Backfill] = [:]
    private var nextRun: Int64 = 1
    private var nextBackfill: Int64 = 1
    /// Schedules fire at most this many intervals per tick (a catch-up over years stays bounded).
    static let firesPerTick = 100

    public init() {}

    public mutating func handle(_ event: PipelineEvent) -> [PipelineAction] {
        var out: [PipelineAction] = []
        switch event {
        case .deploy(let spec, let now):
            var d = Deployment(spec: spec, deployedMs: now, nextFireMs: nil)
            if let cron = spec.cron.flatMap(Cron.init), let zone = TimeZone(identifier: spec.timezone) {
                // A redeploy keeps its place; a new one starts with the next interval to end.
                d.nextFireMs = deployments[spec.name]?.nextFireMs ?? cron.next(after: now, in: zone)
            }
            deployments[spec.name] = d
        case .undeploy(let name, _):
            if deployments.removeValue(forKey: name) == nil { out.append(.refused("no pipeline \(name) is deployed")) }
        case .startRun(let spec, let params, let lane, let now):
            let id = createRun(spec, params: params, lane: lane, backfill: nil, deadline: spec.maxDurationMs.map { now + $0 }, now: now)
            out.append(.runCreated(id))
            advance(id, now: now, &out)
        case .modelSucceeded(let id, let model, let attempt, let rows, let quarantined, let now):
            guard let i = current(id, model, attempt) else { break }
            transition(id, i, to: .succeeded, now: now)
            runs[id]!.models[i].rows = rows
            runs[id]!.models[i].quarantined = quarantined
            advance(id, now: now, &out)
        case .modelFailed(let id, let model, let attempt, let error, let now):
            guard current(id, model, attempt) != nil else { break }
            fail(id, model, error: error, now: now, &out)
        case .cancelRun(let id, let reason, let now):
            guard let run = runs[id], run.state == .running else {
                out.append(.refused(runs[id] == nil ? "no run \(id)" : "\(id) already ended (\(runs[id]!.state.rawValue))"))
                break
            }
            cancel(id, reason: reason, now: now, &out)
        case .startBackfill(let spec, let values, let params, let maxActive, let reprocess, let now):
            startBackfill(spec, values: values, params: params, maxActive: maxActive, reprocess: reprocess, now: now, &out)
        case .cancelBackfill(let id, let reason, let now):
            guard var b = backfills[id], b.state == .running else {
                out.append(.refused(backfills[id] == nil ? "no backfill \(id)" : "\(id) already ended (\(backfills[id]!.state.rawValue))"))
                break
            }
            b.state = .cancelled
            b.reason = reason
            b.endedMs = now
            backfills[id] = b
            for case .running(let r) in b.slots { cancel(r, reason: reason, now: now, &out) }
            out.append(.backfillFinished(id, .cancelled))
        case .tick(let now):
            fireSchedules(now: now, &out)
            checkTimeouts(now: now, &out)
        case .recovered(let now):
            for id in runs.keys.sorted() where runs[id]!.state == .running {
                for i in runs[id]!.models.indices where runs[id]!.models[i].state == .running {
                    // An attempt a restart interrupted did not fail: it costs no retry.
                    runs[id]!.models[i].attempt += 1
                    runs[id]!.models[i].retries += 1
                    runs[id]!.models[i].startedMs = now
                    out.append(.submit(task(id, i)))
                }
            }
        }
        return out
    }

    // MARK: runs

    private mutating func createRun(_ spec: PipelineSpec, params: [String: String], lane: Lane, backfill: BackfillID?, deadline: Int64?, now: Int64) -> RunID {
        let id = RunID(nextRun)
        nextRun += 1
        let models = spec.models.map { ModelRun(name: $0.name, upstream: $0.upstream, retries: $0.retries, timeoutMs: $0.timeoutMs) }
        runs[id] = PipelineRun(id: id, pipeline: spec.name, version: spec.version, params: params, lane: lane, backfill: backfill, models: models,
                               startedMs: now, deadlineMs: deadline)
        return id
    }

    /// The model's index if `attempt` is its current, running attempt of a running run.
    private func current(_ id: RunID, _ model: String, _ attempt: Int) -> Int? {
        guard let run = runs[id], run.state == .running, let i = run.models.firstIndex(where: { $0.name == model }) else { return nil }
        let m = run.models[i]
        return m.state == .running && m.attempt == attempt ? i : nil
    }

    private mutating func transition(_ id: RunID, _ i: Int, to: ModelState, now: Int64) {
        let from = runs[id]!.models[i].state
        precondition(ModelState.legal(from, to), "Internal inconsistency: model \(runs[id]!.models[i].name) of \(id) moved \(from) → \(to)")
        runs[id]!.models[i].state = to
        if to == .running { runs[id]!.models[i].attempt += 1; runs[id]!.models[i].startedMs = now; runs[id]!.models[i].error = nil }
        if to.ended { runs[id]!.models[i].endedMs = now }
    }

    private func task(_ id: RunID, _ i: Int) -> ModelTask {
        let r = runs[id]!
        return ModelTask(run: id, pipeline: r.pipeline, version: r.version, model: r.models[i].name, attempt: r.models[i].attempt, params: r.params, lane: r.lane)
    }

    /// Starts every waiting model whose upstream all succeeded; ends the run when nothing is left to do.
    private mutating func advance(_ id: RunID, now: Int64, _ out: inout [PipelineAction]) {
        guard runs[id]?.state == .running else { return }
        let done = Set(runs[id]!.models.filter { $0.state == .succeeded }.map(\.name))
        for i in runs[id]!.models.indices where runs[id]!.models[i].state == .waiting && runs[id]!.models[i].upstream.allSatisfy(done.contains) {
            transition(id, i, to: .running, now: now)
            out.append(.submit(task(id, i)))
        }
        let run = runs[id]!
        guard run.models.allSatisfy(\.state.ended) else { return }
        let failed = run.models.first { $0.state == .failed }
        finish(id, failed == nil ? .succeeded : .failed, error: failed.map { "model \($0.name) failed: \($0.error ?? "")" }, now: now, &out)
    }

    private mutating func fail(_ id: RunID, _ model: String, error: String, now: Int64, _ out: inout [PipelineAction]) {
        guard let i = runs[id]?.models.firstIndex(where: { $0.name == model }) else { return }
        let m = runs[id]!.models[i]
        if m.attempt <= m.retries {
            transition(id, i, to: .running, now: now)   // the next attempt
            out.append(.submit(task(id, i)))
            return
        }
        transition(id, i, to: .failed, now: now)
        runs[id]!.models[i].error = error
        // What reads the failed model cannot run; other branches go on.
        let graph = PipelineGraphView(runs[id]!.models)
        for j in runs[id]!.models.indices where runs[id]!.models[j].state == .waiting && graph.reads(runs[id]!.models[j].name, model) {
            transition(id, j, to: .skipped, now: now)
            runs[id]!.models[j].error = "upstream model \(model) failed"
        }
        advance(id, now: now, &out)
    }

    private mutating func cancel(_ id: RunID, reason: String, now: Int64, _ out: inout [PipelineAction]) {
        for i in runs[id]!.models.indices where !runs[id]!.models[i].state.ended {
            if runs[id]!.models[i].state == .running {
                out.append(.cancel(id, model: runs[id]!.models[i].name, attempt: runs[id]!.models[i].attempt, reason: reason))
            }
            transition(id, i, to: .cancelled, now: now)
        }
        finish(id, .cancelled, error: reason, now: now, &out)
    }

    private mutating func finish(_ id: RunID, _ state: RunState, error: String?, now: Int64, _ out: inout [PipelineAction]) {
        runs[id]!.state = state
        runs[id]!.endedMs = now
        runs[id]!.error = error
        out.append(.runFinished(id, state, error: error))
        if let deadline = runs[id]!.deadlineMs, now > deadline, !runs[id]!.slaMissed {
            runs[id]!.slaMissed = true
            out.append(.slaMissed(id, pipeline: runs[id]!.pipeline))
        }
        if let b = runs[id]!.backfill { backfillRunEnded(b, id, state, now: now, &out) }
    }

    // MARK: backfills

    private mutating func startBackfill(_ spec: PipelineSpec, values: [String], params: [String: String], maxActive: Int, reprocess: Reprocess, now: Int64,
                                        _ out: inout [PipelineAction]) {
        guard let param = spec.intervalParam else {
            out.append(.refused("pipeline \(spec.name) declares no date parameter to backfill over"))
            return
        }
        guard !values.isEmpty, maxActive >= 1 else { out.append(.refused("a backfill needs at least one partition and one active run")); return }
        // The last run of each partition of this pipeline decides what `reprocess` skips.
        var last: [String: RunState] = [:]
        for r in runs.values.sorted(by: { $0.id < $1.id }) where r.pipeline == spec.name && r.state != .running && r.state != .cancelled {
            last[r.key] = r.state
        }
        let slots: [Backfill.Slot] = values.map { v in
            var p = params
            p[param] = v
            let key = PipelineRun.key(p)
            switch reprocess {
            case .all: return .pending
            case .none: return last[key] == .succeeded ? .skipped : .pending
            case .failed: return last[key] == nil || last[key] == .failed ? .pending : .skipped
            }
        }
        let id = BackfillID(nextBackfill)
        nextBackfill += 1
        backfills[id] = Backfill(id: id, pipeline: spec.name, version: spec.version, param: param, params: params, values: values, slots: slots,
                                 maxActiveRuns: maxActive, startedMs: now)
        specs[id] = spec
        out.append(.backfillCreated(id, runs: slots.filter { $0 == .pending }.count, skipped: slots.filter { $0 == .skipped }.count))
        fillBackfill(id, now: now, &out)
    }

    /// The spec each running backfill runs (a redeploy does not change a backfill under way).
    private var specs: [BackfillID: PipelineSpec] = [:]

    private mutating func fillBackfill(_ id: BackfillID, now: Int64, _ out: inout [PipelineAction]) {
        guard var b = backfills[id], b.state == .running, let spec = specs[id] else { return }
        var active = b.counts.running
        for i in b.slots.indices where active < b.maxActiveRuns && b.slots[i] == .pending {
            var p = b.params
            p[b.param] = b.values[i]
            let run = createRun(spec, params: p, lane: .backfill, backfill: id, deadline: nil, now: now)
            b.slots[i] = .running(run)
            backfills[id] = b
            out.append(.runCreated(run))
            advance(run, now: now, &out)
            b = backfills[id]!
            active += 1
        }
        if b.slots.allSatisfy({ if case .pending = $0 { return false }; if case .running = $0 { return false }; return true }) {
            b.state = b.counts.failed == 0 ? .succeeded : .failed
            b.endedMs = now
            backfills[id] = b
            specs[id] = nil
            out.append(.backfillFinished(id, b.state))
        }
    }

    private mutating func backfillRunEnded(_ id: BackfillID, _ run: RunID, _ state: RunState, now: Int64, _ out: inout [PipelineAction]) {
        guard var b = backfills[id], let i = b.slots.firstIndex(of: .running(run)) else { return }
        b.slots[i] = .done(run, state)
        backfills[id] = b
        fillBackfill(id, now: now, &out)
    }

    // MARK: time

    private mutating func fireSchedules(now: Int64, _ out: inout [PipelineAction]) {
        for name in deployments.keys.sorted() {
            guard var d = deployments[name], var fire = d.nextFireMs, let cron = d.spec.cron.flatMap(Cron.init),
                  let zone = TimeZone(identifier: d.spec.timezone) else { continue }
            if !d.spec.catchup {
                // Only the latest interval that ended runs; the ones missed while nothing ran it are skipped.
                while let n = cron.next(after: fire, in: zone), n <= now { fire = n }
            }
            var fired = 0
            while fire <= now && fired < Self.firesPerTick {
                let start = cron.previous(before: fire, in: zone) ?? fire
                var params: [String: String] = [:]
                if let p = d.spec.intervalParam { params[p] = Self.intervalValue(start, timestamp: d.spec.intervalParamIsTimestamp, zone) }
                var deadline = d.spec.maxDurationMs.map { now + $0 }
                if let m = d.spec.finishByMinute { deadline = min(deadline ?? .max, Self.nextTimeOfDay(m, atOrAfter: fire, zone)) }
                let id = createRun(d.spec, params: params, lane: .scheduled, backfill: nil, deadline: deadline, now: now)
                out.append(.runCreated(id))
                advance(id, now: now, &out)
                fired += 1
                guard let n = cron.next(after: fire, in: zone) else { break }
                fire = n
            }
            d.nextFireMs = fire
            deployments[name] = d
        }
    }

    private mutating func checkTimeouts(now: Int64, _ out: inout [PipelineAction]) {
        for id in runs.keys.sorted() where runs[id]!.state == .running {
            for i in runs[id]!.models.indices {
                let m = runs[id]!.models[i]
                guard m.state == .running, let limit = m.timeoutMs, let started = m.startedMs, now - started > limit else { continue }
                out.append(.cancel(id, model: m.name, attempt: m.attempt, reason: "model \(m.name) timed out after \(limit / 1000) s"))
                fail(id, m.name, error: "timed out after \(limit / 1000) s", now: now, &out)
            }
            if let deadline = runs[id]!.deadlineMs, now > deadline, runs[id]!.state == .running, !runs[id]!.slaMissed {
                runs[id]!.slaMissed = true
                out.append(.slaMissed(id, pipeline: runs[id]!.pipeline))
            }
        }
    }

    /// A schedule interval's start as its parameter value, in the schedule's zone.
    static func intervalValue(_ ms: Int64, timestamp: Bool, _ zone: TimeZone) -> String {
        let local = ms + Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))) * 1000
        let micros = local * 1000
        if timestamp { return Dates.format(micros: micros) }
        return Dates.format(days: Int32(clamping: local >= 0 ? local / 86_400_000 : (local - 86_399_999) / 86_400_000))
    }

    /// The first `minute` of a day (in `zone`) at or after `ms`.
    static func nextTimeOfDay(_ minute: Int, atOrAfter ms: Int64, _ zone: TimeZone) -> Int64 {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = zone
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        let day = cal.startOfDay(for: date)
        var t = cal.date(bySettingHour: minute / 60, minute: minute % 60, second: 0, of: day) ?? date
        if t < date { t = cal.date(byAdding: .day, value: 1, to: t) ?? t }
        return Int64((t.timeIntervalSince1970 * 1000).rounded())
    }
}

extension PipelineRun {
    static func key(_ params: [String: String]) -> String {
        params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }
}

/// Which models read which, within one run.
private struct PipelineGraphView {
    let upstream: [String: [String]]
    init(_ models: [ModelRun]) { upstream = Dictionary(models.map { ($0.name, $0.upstream) }, uniquingKeysWith: { a, _ in a }) }

    /// Whether `model` reads `other`, directly or through others.
    func reads(_ model: String, _ other: String) -> Bool {
        var seen: Set<String> = [], stack = upstream[model] ?? []
        while let m = stack.popLast() {
            if m == other { return true }
            if seen.insert(m).inserted { stack += upstream[m] ?? [] }
        }
        return false
    }
}
