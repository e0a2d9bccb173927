import Testing
@testable import Scheduler

/// The autoscaling policy, fed observations a second apart.
struct AutoscalerTests {
    static func policy(_ change: (inout AutoscalePolicy) -> Void = { _ in }) -> AutoscalePolicy {
        var p = AutoscalePolicy()   // min 1, max 4, 2 slots, windows 10 s up, 60 s idle, cooldowns 30 s / 60 s, 3 in a row
        change(&p)
        return p
    }

    /// Feeds one observation per second from `from` for `seconds`; the decisions with their times.
    static func run(_ a: inout Autoscaler, from: Int64 = 0, seconds: Int, _ observe: (Int64) -> AutoscaleObservation) -> [(Int64, AutoscaleDecision)] {
        var out: [(Int64, AutoscaleDecision)] = []
        for s in 0..<seconds {
            let now = from + Int64(s) * 1000
            if let d = a.observe(observe(now)) { out.append((now, d)) }
        }
        return out
    }

    static func busy(_ ids: [String]) -> [AutoscaleObservation.Worker] { ids.map { .init(id: $0, busy: true) } }

    @Test func aSteadyQueueThatFitsChangesNothing() {
        var a = Autoscaler(policy: Self.policy())
        let d = Self.run(&a, seconds: 300) { now in AutoscaleObservation(nowMs: now, pending: 0, leased: 0, running: 2, workers: Self.busy(["w1"])) }
        #expect(d.isEmpty)
        #expect(a.desired == 1)
    }

    @Test func aBacklogScalesUpAfterTheWindowDoublingAtMostThenCoolsDown() throws {
        var a = Autoscaler(policy: Self.policy { $0.maxWorkers = 8 })
        var workers = ["w1"]
        var decisions: [(Int64, AutoscaleDecision)] = []
        for s in 0..<60 {
            let now = Int64(s) * 1000
            if let d = a.observe(AutoscaleObservation(nowMs: now, pending: 40, leased: 0, running: 2 * workers.count, workers: Self.busy(workers))) {
                decisions.append((now, d))
                if case .scaleUp(let n, _) = d { for _ in 0..<n { workers.append("w\(workers.count + 1)") } }
            }
        }
        // The window (10 s) and three observations in a row: the first change at 12 s, adding 1 (doubling 1).
        try #require(decisions.count >= 2)
        guard case .scaleUp(1, let reason) = decisions[0].1 else { Issue.record("\(decisions[0])"); return }
        #expect(decisions[0].0 == 12_000)
        #expect(reason.contains("demand 42 tasks") && reason.contains("wants 8 workers, 1 for 12 s"), "\(reason)")
        // The next waits out the 30 s cooldown, then doubles again: 2 more.
        #expect(decisions[1].0 >= 42_000)
        #expect(decisions[1].1 == .scaleUp(add: 2, reason: { if case .scaleUp(_, let r) = decisions[1].1 { r } else { "" } }()))
    }

    @Test func anOscillatingQueueDoesNotFlap() {
        var a = Autoscaler(policy: Self.policy { $0.upWindowMs = 0; $0.idleTimeoutMs = 0; $0.upCooldownMs = 0; $0.downCooldownMs = 0 })
        // Demand for 2 workers and for 1, alternating every second; one worker idle every other second.
        let d = Self.run(&a, seconds: 120) { now in
            let high = (now / 1000) % 2 == 0
            return AutoscaleObservation(nowMs: now, pending: high ? 4 : 0, leased: 0, running: 2,
                                        workers: [.init(id: "w1", busy: true), .init(id: "w2", busy: high)])
        }
        #expect(d.isEmpty, "\(d)")
    }

    @Test func anIdleWorkerIsReleasedOneAtATimeButNotWhileItHoldsNeededShuffleOutput() {
        var a = Autoscaler(policy: Self.policy())
        // The queue drained at 0; w2 and w3 idle since then; w3 holds output a running query reads, w2 too for the first 70 s.
        let workers: (Bool) -> [AutoscaleObservation.Worker] = { holds in
            [.init(id: "w1", busy: true), .init(id: "w2", busy: false, holdsNeededOutputs: holds), .init(id: "w3", busy: false, holdsNeededOutputs: true)]
        }
        var d = Self.run(&a, seconds: 70) { now in AutoscaleObservation(nowMs: now, pending: 0, leased: 0, running: 1, workers: workers(true)) }
        #expect(d.isEmpty, "both idle workers hold needed output")
        d = Self.run(&a, from: 70_000, seconds: 5) { now in AutoscaleObservation(nowMs: now, pending: 0, leased: 0, running: 1, workers: workers(false)) }
        #expect(d.count == 1)
        guard case .scaleDown("w2", let reason)? = d.first?.1 else { Issue.record("\(d)"); return }
        #expect(reason.contains("w2 idle for 72 s"), "\(reason)")
        // The next release waits out the down cooldown, and w3 still holds output.
        let later = Self.run(&a, from: 75_000, seconds: 120) { now in
            AutoscaleObservation(nowMs: now, pending: 0, leased: 0, running: 1, workers: [.init(id: "w1", busy: true), .init(id: "w3", busy: false, holdsNeededOutputs: true)])
        }
        #expect(later.isEmpty)
        // A task on a worker starts its idle time again.
        var b = Autoscaler(policy: Self.policy { $0.downCooldownMs = 0 })
        let flicker = Self.run(&b, seconds: 200) { now in
            let w2Busy = (now / 1000) % 50 == 0
            return AutoscaleObservation(nowMs: now, pending: 0, leased: 0, running: 1, workers: [.init(id: "w1", busy: true), .init(id: "w2", busy: w2Busy)])
        }
        #expect(flicker.isEmpty, "w2 never idles 60 s in a row")
    }

    @Test func onlyTheProvidersWorkersAreReleased() {
        var a = Autoscaler(policy: Self.policy { $0.idleTimeoutMs = 1000; $0.consecutive = 1 })
        let d = Self.run(&a, seconds: 5) { now in
            AutoscaleObservation(nowMs: now, pending: 0, leased: 0, running: 0,
                                 workers: [.init(id: "static-1", busy: false, managed: false), .init(id: "auto-1", busy: false), .init(id: "static-2", busy: false, managed: false)])
        }
        #expect(d.count == 1)
        if case .scaleDown(let w, _)? = d.first?.1 { #expect(w == "auto-1") } else { Issue.record("\(d)") }
    }

    @Test func minAndMaxBoundTheCount() {
        var a = Autoscaler(policy: Self.policy { $0.minWorkers = 2; $0.maxWorkers = 3; $0.upWindowMs = 0; $0.upCooldownMs = 0 })
        // Below the minimum: at once, without a window.
        #expect(a.observe(AutoscaleObservation(nowMs: 0, pending: 0, leased: 0, running: 0, workers: [])) == .scaleUp(add: 2, reason: "0 workers, below the minimum of 2"))
        // Starting workers count: not asked for twice.
        #expect(a.observe(AutoscaleObservation(nowMs: 1000, pending: 0, leased: 0, running: 0, workers: [], starting: 2)) == nil)
        // A huge queue asks for no more than max.
        var got: [AutoscaleDecision] = []
        var started = 0
        for s in 2..<20 {
            let o = AutoscaleObservation(nowMs: Int64(s) * 1000, pending: 10_000, leased: 0, running: 4, workers: Self.busy(["w1", "w2"]), starting: started)
            if let d = a.observe(o) {
                got.append(d)
                if case .scaleUp(let n, _) = d { started += n }
            }
        }
        #expect(got.count == 1)
        if case .scaleUp(let n, _)? = got.first { #expect(n == 1) }
        #expect(a.desired == 3)
        // An idle pool never goes below min.
        var idle = Autoscaler(policy: Self.policy { $0.minWorkers = 2 })
        let none = Self.run(&idle, seconds: 300) { now in
            AutoscaleObservation(nowMs: now, pending: 0, leased: 0, running: 0, workers: [.init(id: "w1", busy: false), .init(id: "w2", busy: false)])
        }
        #expect(none.isEmpty)
    }

    @Test func aRestartKeepsTheCooldownAndStartsNoDuplicates() {
        // The first life scaled up at 12 s; the journal keeps that time. Workers re-register after the restart.
        var a = Autoscaler(policy: Self.policy { $0.maxWorkers = 8 }, lastChangeMs: 12_000)
        let d = Self.run(&a, from: 20_000, seconds: 15) { now in
            AutoscaleObservation(nowMs: now, pending: 40, leased: 0, running: 4, workers: Self.busy(["w1", "w2"]))
        }
        // The window restarts with the new process (10 s + 3 in a row) and the cooldown ends at 42 s: nothing before.
        #expect(d.isEmpty)
        let after = Self.run(&a, from: 35_000, seconds: 10) { now in
            AutoscaleObservation(nowMs: now, pending: 40, leased: 0, running: 4, workers: Self.busy(["w1", "w2"]))
        }
        #expect(after.count == 1 && after.first!.0 >= 42_000)
    }

    @Test func policiesThatCannotWorkAreRefused() {
        #expect(Self.policy { $0.maxWorkers = 0 }.problem != nil)
        #expect(Self.policy { $0.minWorkers = 5 }.problem == "max must be at least 1 and at least min")
        #expect(Self.policy { $0.slotsPerWorker = 0 }.problem != nil)
        #expect(Self.policy { $0.consecutive = 0 }.problem != nil)
        #expect(Self.policy().problem == nil)
    }
}

/// What the scheduler tells the autoscaler.
struct AutoscaleObservationTests {
    @Test func theQueueAndWhoHoldsNeededOutputs() throws {
        var h = Harness { $0.leaseAhead = 0 }
        let a = h.join("a", slots: 1), b = h.join("b", slots: 1)
        // A two-stage job: stage 0's outputs are kept for stage 1.
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 3, keepsOutputs: true), .init(tasks: 1, dependsOn: [0])])))
        let ga = try need(h.sync(a, want: 1))
        _ = try need(h.sync(b, want: 1))
        var o = h.s.autoscaleObservation(now: h.now, starting: 1)
        #expect(o.pending == 1 && o.leased == 2 && o.running == 0 && o.starting == 1)
        #expect(o.workers.map(\.busy) == [true, true] && o.workers.allSatisfy { !$0.holdsNeededOutputs })
        // a's task commits: a holds an output the job still needs, and is idle.
        _ = h.sync(a, want: 0, started: [ga[0].attempt], finished: [ok(ga[0].attempt)])
        o = h.s.autoscaleObservation(now: h.now, starting: 0)
        #expect(o.workers.first { $0.id == "a" } == .init(id: "a", busy: false, holdsNeededOutputs: true))
        // Every member counts; only the provider's may be released.
        #expect(h.s.autoscaleObservation(now: h.now, starting: 0, managed: { $0 == "b" }).workers.map(\.managed) == [false, true])
    }
}
