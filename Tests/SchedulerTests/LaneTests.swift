import Testing
@testable import Scheduler

/// The low lane (backfills): it takes only slots no normal job wants and is
/// never leased ahead, so a normal job's task starts in the next round with
/// a slot, however deep the low queue.
struct LaneTests {
    @Test func aNormalTaskTakesTheNextFreeSlotAheadOfTenThousandLowTasks() throws {
        var h = Harness { $0.leaseAhead = 64 }
        let a = h.join("a", slots: 2), b = h.join("b", slots: 2)
        h.on(.submitted(JobID("backfill"), JobPlan(stages: [.init(tasks: 10_000)], lane: .low)))
        // Low tasks fill the free slots and nothing beyond them.
        let ga = try need(h.sync(a, want: 66)), gb = try need(h.sync(b, want: 66))
        #expect(ga.count == 2 && gb.count == 2)
        #expect(h.s.pendingTasks == 10_000 - 4)
        h.on(.submitted(JobID("today"), JobPlan(stages: [.init(tasks: 1)])))
        // One low task finishes on a: the slot it frees goes to today's task.
        let next = try need(h.sync(a, want: 66, started: ga.map(\.attempt), finished: [ok(ga[0].attempt)]))
        #expect(next.first?.task.job == JobID("today"))
        #expect(next.count == 1, "a has one free slot; low tasks are not leased ahead of it")
    }

    @Test func normalJobsAreLeasedAheadAndLowOnesFillWhatIsLeft() throws {
        var h = Harness { $0.leaseAhead = 4 }
        let a = h.join("a", slots: 4)
        h.on(.submitted(JobID("low"), JobPlan(stages: [.init(tasks: 100)], lane: .low)))
        h.on(.submitted(JobID("normal"), JobPlan(stages: [.init(tasks: 2)])))
        let g = try need(h.sync(a, want: 8))
        #expect(g.filter { $0.task.job == JobID("normal") }.count == 2)
        #expect(g.filter { $0.task.job == JobID("low") }.count == 2, "the two slots the normal job left free")
    }

    @Test func lowJobsShareTheirLaneRoundRobin() throws {
        var h = Harness()
        let a = h.join("a", slots: 4)
        h.on(.submitted(JobID("b1"), JobPlan(stages: [.init(tasks: 10)], lane: .low)))
        h.on(.submitted(JobID("b2"), JobPlan(stages: [.init(tasks: 10)], lane: .low)))
        let g = try need(h.sync(a, want: 4))
        #expect(g.filter { $0.task.job == JobID("b1") }.count == 2 && g.filter { $0.task.job == JobID("b2") }.count == 2)
    }
}

/// While workers are being added, nobody is leased tasks ahead: the backlog waits for the new workers.
struct ScaleUpLeaseTests {
    @Test func leaseAheadIsCappedWhileAScaleUpIsPending() throws {
        var h = Harness { $0.leaseAhead = 64 }
        let a = h.join("a", slots: 2)
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 100)])))
        h.on(.scaleUpPending(true))
        #expect(try need(h.sync(a, want: 66)).count == 2, "only the free slots")
        // The new worker registers: it gets its share at once.
        let b = h.join("b", slots: 2)
        h.on(.scaleUpPending(false))
        #expect(try need(h.sync(b, want: 66)).count > 2, "lease-ahead again once no worker is awaited")
    }
}
