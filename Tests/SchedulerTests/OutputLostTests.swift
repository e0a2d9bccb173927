import Testing
@testable import Scheduler

/// The output-lost move: a committed task of a stage that keeps outputs
/// whose output is gone and still needed runs again under a new output epoch.
struct OutputLostTests {
    /// Map stage of `maps` tasks keeping outputs, reduce stage of `reduces` reading it.
    func mapReduce(_ h: inout Harness, maps: Int = 2, reduces: Int = 2) {
        h.on(.submitted(JobID("q"), JobPlan(stages: [.init(tasks: maps, keepsOutputs: true),
                                                      .init(tasks: reduces, dependsOn: [0])], retries: 0)))
    }

    /// Whether the output is held by `worker` at output epoch `epoch`.
    func held(_ o: Scheduler.Output?, by worker: WorkerKey, epoch: Int) -> Bool { o?.worker == worker && o?.epoch == epoch }

    func lost(_ actions: [Action]) -> [(TaskKey, Int)] {
        actions.compactMap { if case .outputLost(let t, let e, _) = $0 { return (t, e) } else { return nil } }
    }

    @Test func aWorkerDyingInTheReduceStageReRunsOnlyItsMapOutputs() throws {
        var h = Harness { $0.deadAfter = 5000 }
        let a = h.join("a", slots: 1), b = h.join("b", slots: 1)
        mapReduce(&h)
        let ga = try need(h.sync(a, want: 1)), gb = try need(h.sync(b, want: 1))
        #expect(ga.map(\.task.stage) == [0] && gb.map(\.task.stage) == [0])
        _ = h.sync(a, want: 0, finished: [ok(ga[0].attempt)])
        _ = h.sync(b, want: 0, finished: [ok(gb[0].attempt)])
        #expect(h.job("q").stages[0].state == .succeeded)
        #expect(held(h.job("q").stages[0].outputs[Int32(ga[0].task.task)], by: a, epoch: 0))
        // The reduce stage starts; a takes a reducer and b goes silent.
        let ra = try need(h.sync(a, want: 1))
        #expect(ra.map(\.task.stage) == [1])
        for _ in 0..<6 { _ = h.sync(a, want: 0); _ = h.advance(1000) }
        #expect(h.s.workers[b]?.state == .dead)
        // Only b's map task is pending again, at epoch 1; the stage reopened.
        let stage0 = h.job("q").stages[0]
        #expect(stage0.state == .running && stage0.succeeded == 1)
        #expect(stage0.phase(of: gb[0].task.task) == .pending && stage0.task(gb[0].task.task)?.epoch == 1)
        #expect(stage0.outputs[Int32(ga[0].task.task)] != nil)
        // The reducer on a fails to fetch b's block: no retry used (retries: 0), it waits.
        let r1 = h.on(.sync(a, token: 500, want: 1, deadline: h.now, started: [],
                            finished: [Report(attempt: ra[0].attempt, outcome: .inputLost(producer: gb[0].task, epoch: 0, reason: "block gone"))],
                            released: []))
        #expect(r1.jobEnds.isEmpty)
        // What a gets next is the map task again, not a reducer.
        let again = try #require(r1.answers(500))
        #expect(again.map(\.task) == [gb[0].task] && again[0].number == 2)
        // The failed reducer is pending but waits for its input: a new worker gets nothing.
        let c = h.join("c", slots: 1)
        #expect(h.job("q").stages[1].phase(of: ra[0].task.task) == .pending)
        #expect(try need(h.sync(c, want: 1)) == [])
        let done = h.on(.sync(a, token: 501, want: 2, deadline: h.now, started: [], finished: [ok(again[0].attempt)], released: []))
        #expect(held(h.job("q").stages[0].outputs[Int32(gb[0].task.task)], by: a, epoch: 1))
        let reducers = try #require(done.answers(501))
        #expect(reducers.count == 1 && reducers.allSatisfy { $0.task.stage == 1 })
        let r2 = try need(h.sync(a, want: 1, finished: reducers.map { ok($0.attempt) }))
        let end = h.on(.sync(a, token: 900, want: 0, deadline: h.now, started: [], finished: r2.map { ok($0.attempt) }, released: []))
        #expect(end.jobEnds.map(\.1) == [.succeeded])
        #expect(h.job("q").succeededTasks == 4)
    }

    @Test func aLossDuringTheMapStageReRunsTheLostTaskAndTheReduceWaits() throws {
        var h = Harness()
        let a = h.join("a", slots: 2)
        mapReduce(&h, maps: 3)
        let g = try need(h.sync(a, want: 2))
        _ = h.sync(a, want: 0, finished: [ok(g[0].attempt)])
        let lostNow = h.on(.outputLost(g[0].task, epoch: 0, reason: "spill file unreadable"))
        #expect(lost(lostNow).map(\.1) == [1])
        #expect(h.job("q").stages[0].phase(of: g[0].task.task) == .pending)
        let next = try need(h.sync(a, want: 2))
        #expect(Set(next.map(\.task.stage)) == [0])
        #expect(next.contains { $0.task == g[0].task })
    }

    @Test func anOutputNobodyNeedsAnyMoreRunsNothing() throws {
        var h = Harness()
        let a = h.join("a", slots: 2)
        h.on(.submitted(JobID("q"), JobPlan(stages: [.init(tasks: 1, keepsOutputs: true), .init(tasks: 1, dependsOn: [0]),
                                                      .init(tasks: 1, dependsOn: [1])])))
        let m = try need(h.sync(a, want: 1))
        let r = try need(h.sync(a, want: 1, finished: [ok(m[0].attempt)]))
        #expect(r.map(\.task.stage) == [1])
        let last = try need(h.sync(a, want: 1, finished: [ok(r[0].attempt)]))
        #expect(last.map(\.task.stage) == [2])
        // Stage 1 (the only reader of stage 0) succeeded: the loss changes nothing.
        let actions = h.on(.outputLost(m[0].task, epoch: 0, reason: "worker restarted"))
        #expect(lost(actions).isEmpty)
        #expect(h.job("q").stages[0].state == .succeeded && h.s.queueDepth == 0)
        #expect(h.job("q").stages[0].outputs.isEmpty)
    }

    @Test func anOutputLostUnneededRunsAgainWhenItsReaderRunsAgain() throws {
        var h = Harness()
        let a = h.join("a", slots: 1)
        // 0 -> 1 -> 2: stage 1 reads stage 0, stage 2 reads stage 1.
        h.on(.submitted(JobID("q"), JobPlan(stages: [.init(tasks: 1, keepsOutputs: true), .init(tasks: 1, dependsOn: [0], keepsOutputs: true),
                                                      .init(tasks: 1, dependsOn: [1])])))
        let m = try need(h.sync(a, want: 1))
        let s1 = try need(h.sync(a, want: 1, finished: [ok(m[0].attempt)]))
        let s2 = try need(h.sync(a, want: 1, finished: [ok(s1[0].attempt)]))
        #expect(s2.map(\.task.stage) == [2])
        // Stage 0's output is lost while only stage 1 (done) reads it: dropped, nothing runs.
        #expect(lost(h.on(.outputLost(m[0].task, epoch: 0, reason: "gone"))).isEmpty)
        #expect(h.job("q").stages[0].dropped[0] != nil)
        // Stage 1's output is lost while stage 2 still needs it: stage 1 runs again, and stage 0 before it.
        let again = lost(h.on(.outputLost(s1[0].task, epoch: 0, reason: "gone too")))
        #expect(Set(again.map(\.0.stage)) == [0, 1])
        let b = h.join("b", slots: 1)
        let next = try need(h.sync(b, want: 1))
        #expect(next.map(\.task.stage) == [0], "stage 1 must wait for stage 0 to be made again")
    }

    @Test func aStaleEpochChangesNothing() throws {
        var h = Harness()
        let a = h.join("a", slots: 1)
        mapReduce(&h, maps: 1, reduces: 1)
        let m = try need(h.sync(a, want: 1))
        _ = h.sync(a, want: 0, finished: [ok(m[0].attempt)])
        #expect(lost(h.on(.outputLost(m[0].task, epoch: 0, reason: "gone"))).count == 1)
        // Two readers reporting the same loss: the second is stale.
        #expect(lost(h.on(.outputLost(m[0].task, epoch: 0, reason: "gone"))).isEmpty)
        let again = try need(h.sync(a, want: 1))
        #expect(again.map(\.task) == [m[0].task])
        _ = h.sync(a, want: 0, finished: [ok(again[0].attempt)])
        #expect(lost(h.on(.outputLost(m[0].task, epoch: 0, reason: "late report"))).isEmpty)
        #expect(h.job("q").stages[0].outputs[0]?.epoch == 1)
    }

    @Test func aLateSuccessOfTheOldEpochCommitsOnlyOnce() throws {
        var h = Harness()
        let a = h.join("a", slots: 1), b = h.join("b", slots: 1)
        mapReduce(&h, maps: 1, reduces: 1)
        let m = try need(h.sync(a, want: 1))
        _ = h.sync(a, want: 0, finished: [ok(m[0].attempt)])
        _ = h.on(.outputLost(m[0].task, epoch: 0, reason: "gone"))
        let rerun = try need(h.sync(b, want: 1))
        #expect(rerun.map(\.task) == [m[0].task])
        // The old attempt's success arrives again (a resent report): discarded, the rerun stays the only live attempt.
        _ = h.sync(a, want: 0, finished: [ok(m[0].attempt)])
        #expect(h.job("q").stages[0].phase(of: 0) == .active)
        _ = h.sync(b, want: 0, finished: [ok(rerun[0].attempt)])
        #expect(held(h.job("q").stages[0].outputs[0], by: b, epoch: 1))
        #expect(h.job("q").stages[0].succeeded == 1)
    }

    @Test func anInputLostReportAboutAStageItDoesNotReadIsAFailure() throws {
        var h = Harness()
        let a = h.join("a", slots: 1)
        h.on(.submitted(JobID("q"), JobPlan(stages: [.init(tasks: 1, keepsOutputs: true)], retries: 0)))
        let m = try need(h.sync(a, want: 1))
        let bogus = TaskKey(job: JobID("q"), stage: 0, task: 0)
        let actions = h.on(.sync(a, token: 77, want: 0, deadline: h.now, started: [],
                                 finished: [Report(attempt: m[0].attempt, outcome: .inputLost(producer: bogus, epoch: 0, reason: "nonsense"))],
                                 released: []))
        #expect(actions.jobEnds.map(\.1) == [.failed])
    }

    @Test func aResultIsNeededUntilDeliveredAndRunsAgainWhenLostBefore() throws {
        var h = Harness()
        let a = h.join("a", slots: 1), b = h.join("b", slots: 1)
        h.on(.submitted(JobID("q"), JobPlan(stages: [.init(tasks: 1, keepsOutputs: true), .init(tasks: 1, dependsOn: [0], keepsOutputs: true)],
                                            deliversResult: true)))
        let m = try need(h.sync(a, want: 1))
        _ = h.sync(a, want: 0, finished: [ok(m[0].attempt)])
        let r = try need(h.sync(b, want: 1))
        #expect(r.map(\.task.stage) == [1])
        let done = h.on(.sync(b, token: 300, want: 0, deadline: h.now, started: [], finished: [ok(r[0].attempt)], released: []))
        #expect(done.contains(.resultReady(JobID("q"))) && done.jobEnds.isEmpty)
        #expect(h.job("q").state == .running)
        #expect(h.job("q").stages[1].outputs[0]?.attempt == r[0].attempt)
        // b, holding the result, leaves before it was read: the last stage runs again on a.
        let left = h.on(.workerLeft(b))
        #expect(lost(left).map(\.0) == [r[0].task])
        let again = try need(h.sync(a, want: 1))
        #expect(again.map(\.task) == [r[0].task])
        let ready = h.on(.sync(a, token: 301, want: 0, deadline: h.now, started: [], finished: [ok(again[0].attempt)], released: []))
        #expect(ready.contains(.resultReady(JobID("q"))))
        #expect(h.on(.resultDelivered(JobID("q"))).jobEnds.map(\.1) == [.succeeded])
        // Once delivered nothing is needed: a late loss changes nothing.
        #expect(h.s.jobs[JobID("q")]?.state == .succeeded)
    }

    @Test func anInputThatKeepsGoingMissingFailsTheJobNamingIt() throws {
        var h = Harness { $0.failAfterInputLosses = 3 }
        let a = h.join("a", slots: 1)
        mapReduce(&h, maps: 1, reduces: 1)
        var epoch = 0
        var end: [(JobID, JobState, String)] = []
        for round in 0..<3 {
            let m = try need(h.sync(a, want: 1))
            #expect(m.map(\.task.stage) == [0], "round \(round)")
            let r = try need(h.sync(a, want: 1, finished: [ok(m[0].attempt)]))
            let actions = h.on(.sync(a, token: 900 + UInt64(round), want: 0, deadline: h.now, started: [],
                                     finished: [Report(attempt: r[0].attempt, outcome: .inputLost(producer: m[0].task, epoch: epoch,
                                                                                                    reason: "block 0 of attempt \(m[0].attempt) not found"))],
                                     released: []))
            end = actions.jobEnds
            epoch += 1
        }
        #expect(end.map(\.1) == [.failed])
        #expect(end.first?.2.contains("could not read its input 3 times") == true && end.first?.2.contains("not found") == true)
    }

    @Test func stagesKeepingOutputsHaveABoundedTaskCount() {
        let plan = JobPlan(stages: [.init(tasks: JobPlan.maxTasksKeepingOutputs + 1, keepsOutputs: true)])
        #expect(plan.problem?.contains("keeps its outputs") == true)
    }
}
