import Foundation
import Testing
@testable import Pipelines

/// The pipeline machine, fed events, its actions compared; invariants checked after every step.
struct PipelineMachineTests {
    /// raw → (a, b) → c: a and b are independent, c reads both.
    static func spec(retries: Int = 0, timeoutMs: Int64? = nil, cron: String? = nil, catchup: Bool = false,
                     finishBy: Int? = nil, maxDurationMs: Int64? = nil) throws -> PipelineSpec {
        var text = """
        name: p
        params: { date: { type: date } }
        catchup: \(catchup)
        models:
          raw: { sql: "SELECT {{date}} AS d", retries: \(retries)\(timeoutMs.map { ", timeout: \($0)ms" } ?? "") }
          a: { sql: SELECT * FROM raw }
          b: { sql: SELECT * FROM raw }
          c: { sql: "SELECT * FROM a, b" }
        """
        if let cron { text += "\nschedule: { cron: \"\(cron)\", timezone: UTC }" }
        if let finishBy { text += "\nsla: { finish_by: \"\(String(format: "%02d:%02d", finishBy / 60, finishBy % 60))\" }" }
        if let maxDurationMs { text += "\nsla: { max_duration: \(maxDurationMs)ms }" }
        let v = try PipelineValidator.validate(try PipelineFile.parse(text, file: "p.yaml"), file: "p.yaml")
        return PipelineSpec(v, version: "v1")
    }

    /// Feeds events and checks the machine's invariants after each.
    struct Harness {
        var machine = PipelineMachine()
        var journal: [PipelineEvent] = []

        mutating func send(_ e: PipelineEvent) -> [PipelineAction] {
            journal.append(e)
            let out = machine.handle(e)
            check()
            return out
        }

        func check() {
            for run in machine.runs.values {
                let ended = run.models.allSatisfy { $0.state != .waiting && $0.state != .running }
                #expect((run.state == .running) == !ended || run.state == .cancelled, "run \(run.id) is \(run.state) with models \(run.models.map(\.state))")
                for m in run.models where m.state == .running || m.state == .succeeded {
                    // Nothing runs before what it reads has succeeded.
                    for u in m.upstream { #expect(run.models.first { $0.name == u }?.state == .succeeded) }
                }
            }
            for b in machine.backfills.values where b.state == .running {
                #expect(b.counts.running <= b.maxActiveRuns)
            }
        }

        func submits(_ actions: [PipelineAction]) -> [String] {
            actions.compactMap { if case .submit(let t) = $0 { return "\(t.run.rawValue):\(t.model)#\(t.attempt)" } else { return nil } }
        }
    }

    @Test func modelsRunInDependencyOrderIndependentOnesAtOnce() throws {
        var h = Harness()
        let start = h.send(.startRun(try Self.spec(), params: ["date": "2026-11-01"], lane: .interactive, nowMs: 0))
        #expect(start.first == .runCreated(RunID(1)))
        #expect(h.submits(start) == ["1:raw#1"])
        #expect(h.submits(h.send(.modelSucceeded(RunID(1), model: "raw", attempt: 1, rows: 10, quarantined: 2, nowMs: 5))) == ["1:a#1", "1:b#1"])
        #expect(h.send(.modelSucceeded(RunID(1), model: "a", attempt: 1, rows: 5, quarantined: 0, nowMs: 6)).isEmpty)
        #expect(h.submits(h.send(.modelSucceeded(RunID(1), model: "b", attempt: 1, rows: 5, quarantined: 0, nowMs: 7))) == ["1:c#1"])
        let end = h.send(.modelSucceeded(RunID(1), model: "c", attempt: 1, rows: 1, quarantined: 0, nowMs: 9))
        #expect(end == [.runFinished(RunID(1), .succeeded, error: nil)])
        let run = try #require(h.machine.runs[RunID(1)])
        #expect(run.rows == 21 && run.quarantined == 2 && run.endedMs == 9)
    }

    @Test func aFailedModelSkipsWhatReadsItAndFailsTheRun() throws {
        var h = Harness()
        _ = h.send(.startRun(try Self.spec(), params: ["date": "2026-11-01"], lane: .interactive, nowMs: 0))
        _ = h.send(.modelSucceeded(RunID(1), model: "raw", attempt: 1, rows: 1, quarantined: 0, nowMs: 1))
        // a fails; b goes on; c, which reads a, is skipped once b is done.
        #expect(h.send(.modelFailed(RunID(1), model: "a", attempt: 1, error: "Binder error: no column x", nowMs: 2)).isEmpty)
        #expect(h.machine.runs[RunID(1)]?.models.first { $0.name == "c" }?.state == .skipped)
        let end = h.send(.modelSucceeded(RunID(1), model: "b", attempt: 1, rows: 1, quarantined: 0, nowMs: 3))
        #expect(end == [.runFinished(RunID(1), .failed, error: "model a failed: Binder error: no column x")])
        #expect(h.machine.runs[RunID(1)]?.models.map(\.state) == [.succeeded, .failed, .succeeded, .skipped])
        #expect(h.machine.runs[RunID(1)]?.models.last?.error == "upstream model a failed")
    }

    @Test func retriesThenStaleReportsAreIgnored() throws {
        var h = Harness()
        _ = h.send(.startRun(try Self.spec(retries: 1), params: ["date": "2026-11-01"], lane: .interactive, nowMs: 0))
        #expect(h.submits(h.send(.modelFailed(RunID(1), model: "raw", attempt: 1, error: "worker lost", nowMs: 1))) == ["1:raw#2"])
        // The first attempt's late success changes nothing.
        #expect(h.send(.modelSucceeded(RunID(1), model: "raw", attempt: 1, rows: 1, quarantined: 0, nowMs: 2)).isEmpty)
        #expect(h.machine.runs[RunID(1)]?.models[0].state == .running)
        let last = h.send(.modelFailed(RunID(1), model: "raw", attempt: 2, error: "disk full", nowMs: 3))
        #expect(last == [.runFinished(RunID(1), .failed, error: "model raw failed: disk full")])
        #expect(h.machine.runs[RunID(1)]?.models.map(\.state) == [.failed, .skipped, .skipped, .skipped])
    }

    @Test func aTimeoutCancelsTheAttemptAndCountsAsAFailure() throws {
        var h = Harness()
        _ = h.send(.startRun(try Self.spec(retries: 1, timeoutMs: 1000), params: ["date": "2026-11-01"], lane: .interactive, nowMs: 0))
        #expect(h.send(.tick(nowMs: 1000)).isEmpty)
        let out = h.send(.tick(nowMs: 1001))
        #expect(out.first == .cancel(RunID(1), model: "raw", attempt: 1, reason: "model raw timed out after 1 s"))
        #expect(h.submits(out) == ["1:raw#2"])
    }

    @Test func cancellingARunCancelsItsRunningModels() throws {
        var h = Harness()
        _ = h.send(.startRun(try Self.spec(), params: ["date": "2026-11-01"], lane: .interactive, nowMs: 0))
        let out = h.send(.cancelRun(RunID(1), reason: "by alice", nowMs: 1))
        #expect(out == [.cancel(RunID(1), model: "raw", attempt: 1, reason: "by alice"), .runFinished(RunID(1), .cancelled, error: "by alice")])
        #expect(h.send(.cancelRun(RunID(1), reason: "again", nowMs: 2)) == [.refused("run-1 already ended (cancelled)")])
        #expect(h.send(.cancelRun(RunID(9), reason: "x", nowMs: 2)) == [.refused("no run run-9")])
    }

    static func days(_ n: Int) -> [String] {
        (0..<n).map { i in ParamValue.date(Int32(20_393 + i)).description }   // from 2025-10-31
    }

    /// Runs every submitted model to success, as a cluster would, until nothing is left.
    static func drain(_ h: inout Harness, _ first: [PipelineAction], now: Int64 = 10) -> [RunID: Int] {
        var queue = first, finished: [RunID: Int] = [:]
        while !queue.isEmpty {
            let a = queue.removeFirst()
            if case .submit(let t) = a {
                queue += h.send(.modelSucceeded(t.run, model: t.model, attempt: t.attempt, rows: 1, quarantined: 0, nowMs: now))
            }
            if case .runFinished(let r, .succeeded, _) = a { finished[r, default: 0] += 1 }
        }
        return finished
    }

    @Test func aBackfillRunsEveryPartitionOnceWithinItsActiveLimit() throws {
        var h = Harness()
        let spec = try Self.spec()
        let out = h.send(.startBackfill(spec, values: Self.days(60), params: [:], maxActiveRuns: 4, reprocess: .all, nowMs: 0))
        #expect(out.first == .backfillCreated(BackfillID(1), runs: 60, skipped: 0))
        #expect(h.submits(out).count == 4)
        #expect(out.allSatisfy { if case .submit(let t) = $0 { return t.lane == .backfill } else { return true } })
        let finished = Self.drain(&h, out)
        #expect(finished.count == 60 && finished.values.allSatisfy { $0 == 1 })
        let b = try #require(h.machine.backfills[BackfillID(1)])
        #expect(b.state == .succeeded && b.counts.done == 60)
        let written = h.machine.runs.values.filter { $0.state == .succeeded }.map { $0.params["date"]! }
        #expect(Set(written) == Set(Self.days(60)) && written.count == 60)
    }

    @Test func reprocessSkipsWhatIsWrittenOrRerunsWhatFailed() throws {
        var h = Harness()
        let spec = try Self.spec()
        let days = Self.days(3)
        // Day 0 succeeds, day 1 fails.
        _ = Self.drain(&h, h.send(.startRun(spec, params: ["date": days[0]], lane: .interactive, nowMs: 0)))
        _ = h.send(.startRun(spec, params: ["date": days[1]], lane: .interactive, nowMs: 0))
        _ = h.send(.modelFailed(RunID(2), model: "raw", attempt: 1, error: "bad", nowMs: 1))
        #expect(h.send(.startBackfill(spec, values: days, params: [:], maxActiveRuns: 1, reprocess: .none, nowMs: 2)).first
            == .backfillCreated(BackfillID(1), runs: 2, skipped: 1))
        _ = h.send(.cancelBackfill(BackfillID(1), reason: "x", nowMs: 3))
        #expect(h.send(.startBackfill(spec, values: days, params: [:], maxActiveRuns: 1, reprocess: .failed, nowMs: 4)).first
            == .backfillCreated(BackfillID(2), runs: 2, skipped: 1))   // day 1 failed, day 2 never ran
        #expect(h.machine.backfills[BackfillID(2)]?.slots.first == .skipped)
    }

    @Test func cancellingABackfillStopsItsRunsAndStartsNoMore() throws {
        var h = Harness()
        let out = h.send(.startBackfill(try Self.spec(), values: Self.days(10), params: [:], maxActiveRuns: 2, reprocess: .all, nowMs: 0))
        #expect(h.submits(out).count == 2)
        let cancel = h.send(.cancelBackfill(BackfillID(1), reason: "by bob", nowMs: 1))
        #expect(h.submits(cancel).isEmpty)
        #expect(cancel.filter { if case .cancel = $0 { return true } else { return false } }.count == 2)
        #expect(cancel.last == .backfillFinished(BackfillID(1), .cancelled))
        #expect(h.machine.backfills[BackfillID(1)]?.counts.pending == 8)
        #expect(h.send(.cancelBackfill(BackfillID(1), reason: "x", nowMs: 2)) == [.refused("backfill-1 already ended (cancelled)")])
    }

    @Test func aBackfillNeedsADateParameterAndValues() throws {
        var h = Harness()
        let v = try PipelineValidator.validate(try PipelineFile.parse("name: q\nmodels:\n  a: { sql: SELECT 1 }\n", file: "q.yaml"), file: "q.yaml")
        #expect(h.send(.startBackfill(PipelineSpec(v, version: "v"), values: ["2026-01-01"], params: [:], maxActiveRuns: 1, reprocess: .all, nowMs: 0))
            == [.refused("pipeline q declares no date parameter to backfill over")])
        #expect(h.send(.startBackfill(try Self.spec(), values: [], params: [:], maxActiveRuns: 1, reprocess: .all, nowMs: 0))
            == [.refused("a backfill needs at least one partition and one active run")])
    }

    static let nov2 = Int64(1_793_577_600_000)   // 2026-11-02T00:00:00Z

    @Test func aScheduleFiresForTheIntervalThatEnded() throws {
        var h = Harness()
        _ = h.send(.deploy(try Self.spec(cron: "0 0 * * *"), nowMs: Self.nov2 - 3_600_000))   // deployed at 23:00 on Nov 1
        #expect(h.machine.deployments["p"]?.nextFireMs == Self.nov2)
        #expect(h.send(.tick(nowMs: Self.nov2 - 1)).isEmpty)
        let out = h.send(.tick(nowMs: Self.nov2 + 500))
        #expect(out.first == .runCreated(RunID(1)))
        // The run at midnight covers the day that ended: its date is Nov 1 (Airflow's logical date).
        #expect(h.machine.runs[RunID(1)]?.params == ["date": "2026-11-01"])
        #expect(h.machine.runs[RunID(1)]?.lane == .scheduled)
        #expect(h.machine.deployments["p"]?.nextFireMs == Self.nov2 + 86_400_000)
        #expect(h.send(.tick(nowMs: Self.nov2 + 1000)).isEmpty)
    }

    @Test func missedIntervalsRunOnlyWithCatchup() throws {
        for catchup in [false, true] {
            var h = Harness()
            _ = h.send(.deploy(try Self.spec(cron: "0 0 * * *", catchup: catchup), nowMs: Self.nov2 - 1))
            // Nothing ticked for three days and a bit.
            let out = h.send(.tick(nowMs: Self.nov2 + 3 * 86_400_000 + 10))
            let dates = h.machine.runs.values.sorted { $0.id < $1.id }.map { $0.params["date"]! }
            #expect(dates == (catchup ? ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"] : ["2026-11-04"]))
            #expect(h.submits(out).count == dates.count)
        }
    }

    @Test func aLateRunMissesItsSLAOnce() throws {
        var h = Harness()
        _ = h.send(.deploy(try Self.spec(cron: "0 0 * * *", finishBy: 6 * 60), nowMs: Self.nov2 - 1))
        _ = h.send(.tick(nowMs: Self.nov2))
        #expect(h.machine.runs[RunID(1)]?.deadlineMs == Self.nov2 + 6 * 3_600_000)
        #expect(!h.send(.tick(nowMs: Self.nov2 + 6 * 3_600_000)).contains(.slaMissed(RunID(1), pipeline: "p")))
        #expect(h.send(.tick(nowMs: Self.nov2 + 6 * 3_600_000 + 1)) == [.slaMissed(RunID(1), pipeline: "p")])
        #expect(h.send(.tick(nowMs: Self.nov2 + 7 * 3_600_000)).isEmpty)
        #expect(h.machine.runs[RunID(1)]?.slaMissed == true)
        // A manual run with a maximum duration that ends late is marked as it ends.
        var m = Harness()
        _ = m.send(.startRun(try Self.spec(maxDurationMs: 100), params: ["date": "2026-11-01"], lane: .interactive, nowMs: 0))
        let end = Self.drainAt(&m, runID: RunID(1), now: 500)
        #expect(end.contains(.slaMissed(RunID(1), pipeline: "p")))
    }

    static func drainAt(_ h: inout Harness, runID: RunID, now: Int64) -> [PipelineAction] {
        var all: [PipelineAction] = []
        while let run = h.machine.runs[runID], run.state == .running, let m = run.models.first(where: { $0.state == .running }) {
            all += h.send(.modelSucceeded(runID, model: m.name, attempt: m.attempt, rows: 0, quarantined: 0, nowMs: now))
        }
        return all
    }

    @Test func replayingTheJournalRebuildsTheStateAndResubmitsWhatWasRunning() throws {
        var h = Harness()
        let out = h.send(.startBackfill(try Self.spec(), values: Self.days(5), params: [:], maxActiveRuns: 2, reprocess: .all, nowMs: 0))
        _ = h.send(.modelSucceeded(RunID(1), model: "raw", attempt: 1, rows: 1, quarantined: 0, nowMs: 1))
        #expect(h.submits(out) == ["1:raw#1", "2:raw#1"])
        // The journal holds the events as JSON; a new coordinator replays them.
        let encoded = try h.journal.map { try JSONEncoder().encode($0) }
        var replayed = PipelineMachine()
        for e in encoded { _ = replayed.handle(try JSONDecoder().decode(PipelineEvent.self, from: e)) }
        #expect(replayed.runs == h.machine.runs && replayed.backfills == h.machine.backfills)
        let resumed = replayed.handle(.recovered(nowMs: 100))
        #expect(replayed.runs[RunID(2)]?.models[0].retries == 1, "an interrupted attempt costs no retry")
        var r = Harness(machine: replayed)
        #expect(r.submits(resumed) == ["1:a#2", "1:b#2", "2:raw#2"])
        let finished = Self.drain(&r, resumed)
        #expect(finished.count == 5)
        #expect(r.machine.backfills[BackfillID(1)]?.state == .succeeded)
    }
}
