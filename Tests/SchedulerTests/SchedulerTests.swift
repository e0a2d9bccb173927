import Testing
@testable import Scheduler

@Suite struct LifecycleTests {
    @Test func aJobRunsToSuccessAcrossTwoWorkers() throws {
        var h = Harness()
        let a = h.join("a"), b = h.join("b")
        h.on(.submitted(JobID("j1"), JobPlan(stages: [.init(tasks: 4)])))
        let ga = try need(h.sync(a, want: 2))
        let gb = try need(h.sync(b, want: 2))
        #expect(ga.count == 2 && gb.count == 2)
        #expect(Set((ga + gb).map(\.task.task)) == [0, 1, 2, 3])
        #expect((ga + gb).allSatisfy { $0.number == 1 })
        _ = h.sync(a, want: 0, started: ga.map(\.attempt), finished: ga.map { ok($0.attempt) })
        #expect(h.job("j1").succeededTasks == 2)
        let actions = h.on(.sync(b, token: 99, want: 0, deadline: h.now, started: [], finished: gb.map { ok($0.attempt) }, released: []))
        #expect(actions.jobEnds.map(\.1) == [.succeeded])
        #expect(h.job("j1").state == .succeeded)
        #expect(h.s.queueDepth == 0 && h.s.runningAttempts == 0)
    }

    @Test func aStageStartsOnlyWhenItsDependenciesSucceed() throws {
        var h = Harness()
        let a = h.join("a", slots: 4)
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 2), .init(tasks: 1, dependsOn: [0])])))
        let first = try need(h.sync(a, want: 4))
        #expect(first.map(\.task.stage) == [0, 0])
        let second = try need(h.sync(a, want: 4, finished: [ok(first[0].attempt)]))
        #expect(second.isEmpty)
        let third = try need(h.sync(a, want: 4, finished: [ok(first[1].attempt)]))
        #expect(third.map(\.task.stage) == [1])
    }

    @Test func aStageWhoseDependencyFailsNeverRunsAndTheJobFails() throws {
        var h = Harness()
        let a = h.join("a")
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 1), .init(tasks: 3, dependsOn: [0])], retries: 0)))
        let g = try need(h.sync(a, want: 1))
        let actions = h.on(.sync(a, token: 50, want: 1, deadline: h.now, started: [], finished: [failed(g[0].attempt, "exit code 3")], released: []))
        #expect(actions.answers(50) == [])
        let end = try #require(actions.jobEnds.first)
        #expect(end.1 == .failed && end.2.contains("exit code 3"))
        #expect(h.job("j").stages[1].state == .cancelled)
        #expect(h.job("j").stages[1].untouched == 0)
    }

    @Test func aParkedPollIsAnsweredWhenWorkArrivesOrAtItsDeadline() throws {
        var h = Harness()
        let a = h.join("a")
        #expect(h.sync(a, want: 2, wait: 1000) == nil)
        let submitted = h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 1)])))
        #expect(submitted.answers(h.token)?.count == 1)
        #expect(h.sync(a, want: 1, wait: 500) == nil)
        #expect(h.advance(400).answers(h.token) == nil)
        #expect(h.advance(200).answers(h.token) == [])
    }

    @Test func aNewPollSupersedesAParkedOneButAReportDoesNot() throws {
        var h = Harness()
        let a = h.join("a")
        #expect(h.sync(a, want: 2, wait: 1000) == nil)
        let parked = h.token
        // A pure report is answered at once and leaves the poll parked.
        #expect(h.sync(a, want: 0) == [])
        #expect(h.s.workers[a]!.openSync?.token == parked)
        // A new poll answers the old one empty.
        h.token += 1
        let actions = h.on(.sync(a, token: h.token, want: 2, deadline: h.now + 1000, started: [], finished: [], released: []))
        #expect(actions.answers(parked) == [])
        #expect(h.s.workers[a]!.openSync?.token == h.token)
    }

    @Test func leasesAreCappedBySlotsPlusLeaseAhead() throws {
        var h = Harness { $0.leaseAhead = 3 }
        let a = h.join("a", slots: 2)
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 100)])))
        #expect(h.sync(a, want: 50)?.count == 5)
        #expect(h.sync(a, want: 50) == [])
    }

    @Test func cancellingAJobStopsItsAttemptsOnTheirWorkers() throws {
        var h = Harness()
        let a = h.join("a"), b = h.join("b")
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 4)])))
        let ga = try need(h.sync(a, want: 2)), gb = try need(h.sync(b, want: 2))
        let actions = h.on(.cancel(JobID("j"), reason: "by test"))
        #expect(Set(actions.cancels[a] ?? []) == Set(ga.map(\.attempt)))
        #expect(Set(actions.cancels[b] ?? []) == Set(gb.map(\.attempt)))
        #expect(actions.jobEnds.map(\.1) == [.cancelled])
        // Late results of cancelled attempts change nothing.
        _ = h.sync(a, want: 0, finished: ga.map { ok($0.attempt) })
        #expect(h.job("j").state == .cancelled)
    }
}

@Suite struct RetryTests {
    @Test func aFailedTaskIsRetriedAfterBackoffAndThenSucceeds() throws {
        var h = Harness { $0.backoffBase = 200 }
        let a = h.join("a")
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 1)], retries: 3)))
        let first = try need(h.sync(a, want: 1))
        #expect(h.sync(a, want: 1, finished: [failed(first[0].attempt)]) == [])
        #expect(h.job("j").stages[0].phase(of: 0) == .backoff)
        #expect(h.s.queueDepth == 1)
        #expect(h.sync(a, want: 1, wait: 1000) == nil)
        let retried = h.advance(250).answers(h.token)
        #expect(retried?.first?.number == 2)
        _ = h.sync(a, want: 0, finished: [failed(retried![0].attempt)])
        _ = h.advance(450)
        let third = try need(h.sync(a, want: 1))
        #expect(third.first?.number == 3)
        let end = h.on(.sync(a, token: 77, want: 0, deadline: h.now, started: [], finished: [ok(third[0].attempt)], released: []))
        #expect(end.jobEnds.map(\.1) == [.succeeded])
        #expect(end.ended[third[0].attempt] == .succeeded)
    }

    @Test func exhaustedRetriesFailTheJobWithTheTasksReason() throws {
        var h = Harness { $0.backoffBase = 1 }
        let a = h.join("a")
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 2)], retries: 1)))
        var ends: [(JobID, JobState, String)] = []
        for _ in 0..<10 where ends.isEmpty {
            let given = h.sync(a, want: 2) ?? []
            h.token += 1
            let actions = h.on(.sync(a, token: h.token, want: 0, deadline: h.now, started: [],
                                     finished: given.map { $0.task.task == 0 ? failed($0.attempt, "exit code 2: no such file") : ok($0.attempt) },
                                     released: []))
            ends += actions.jobEnds
            _ = h.advance(10)
        }
        #expect(ends.count == 1)
        #expect(ends.first?.1 == .failed)
        #expect(ends.first?.2 == "task 0.0 failed after 2 attempts: exit code 2: no such file")
    }

    @Test func backoffGrowsAndIsCapped() {
        var c = SchedulerConfig()
        c.backoffBase = 100
        c.backoffMax = 1000
        #expect((1...6).map { c.backoff(afterFailures: $0) } == [100, 200, 400, 800, 1000, 1000])
    }
}

@Suite struct WorkerLossTests {
    @Test func silenceMakesAWorkerSuspectThenDead() {
        var h = Harness()
        let a = h.join("a")
        let suspect = h.advance(2500)
        #expect(suspect.contains(.workerChanged(a, .suspect, reason: "missed 2 heartbeats")))
        h.on(.heartbeat(a, draining: false))
        #expect(h.s.workers[a]!.state == .alive)
        _ = h.advance(5001)
        #expect(h.s.workers[a]!.state == .dead)
        #expect(!h.s.isMember(a))
    }

    @Test func aSuspectWorkerGetsNoNewTasks() throws {
        var h = Harness()
        let a = h.join("a")
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 3)])))
        _ = h.advance(2100)
        #expect(h.s.workers[a]!.state == .suspect)
        // A sync proves life again, but tasks go only to alive workers: it is revived first.
        
        let given = try need(h.sync(a, want: 2))
        #expect(given.count == 2)
    }

    @Test func leasedButUnstartedTasksReturnWithoutCountingRunningOnesCountTowardPoison() throws {
        var h = Harness { $0.leaseAhead = 4 }
        let a = h.join("a", slots: 1), b = h.join("b")
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 2)])))
        let g = try need(h.sync(a, want: 2))
        _ = h.sync(a, want: 0, started: [g[0].attempt])
        h.on(.heartbeat(b, draining: false))
        h.now += 5001
        h.on(.heartbeat(b, draining: false))
        _ = h.on(.tick)
        let stage = h.job("j").stages[0]
        #expect(h.s.workers[a]!.state == .dead)
        #expect(stage.task(g[0].task.task)?.lost == 1)
        #expect(stage.task(g[1].task.task)?.lost == 0)
        #expect(stage.live.values.allSatisfy { $0.failures == 0 && $0.phase == .pending })
        let again = try need(h.sync(b, want: 2))
        #expect(again.count == 2)
    }

    @Test func aTaskThatKillsItsWorkerBeforeItsStartIsReportedStillCounts() throws {
        var h = Harness { $0.leaseAhead = 4 }
        let a = h.join("a", slots: 1)
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 3)])))
        let g = try need(h.sync(a, want: 5))
        #expect(g.count == 3)
        h.on(.workerJoined(WorkerInfo(key: WorkerKey(id: "a", incarnation: 2), slots: 1), running: [], queued: [], finished: []))
        // Only the first lease could have been running in the one slot.
        #expect((0..<3).map { h.job("j").stages[0].task($0)?.lost } == [1, 0, 0])
    }

    @Test func aTaskThatKillsThreeWorkersIsPoisonAndFailsItsJob() throws {
        var h = Harness()
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 1)], retries: 10)))
        var last: [Action] = []
        for i in 1...3 {
            let w = h.join("w\(i)")
            let g = try need(h.sync(w, want: 1))
            _ = h.sync(w, want: 0, started: g.map(\.attempt))
            h.on(.workerLeft(WorkerKey(id: "none", incarnation: 0)))
            // The worker process dies: it re-registers as a new incarnation, so the old one is dead at once.
            last = h.on(.workerJoined(WorkerInfo(key: WorkerKey(id: "w\(i)", incarnation: 2), slots: 1), running: [], queued: [], finished: []))
        }
        let end = try #require(last.jobEnds.first)
        #expect(end.1 == .failed)
        #expect(end.2.contains("poison"))
        #expect(h.job("j").failedTasks == 1)
        #expect(h.job("j").stages[0].state == .failed)
        #expect(h.s.attempts.isEmpty)
    }

    @Test func aLateSuccessFromALostAttemptIsAcceptedWhenTheTaskIsStillOpen() throws {
        var h = Harness()
        let a = h.join("a"), b = h.join("b")
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 1)])))
        let g = try need(h.sync(a, want: 1))
        _ = h.sync(a, want: 0, started: g.map(\.attempt))
        h.now += 5001
        h.on(.heartbeat(b, draining: false))
        _ = h.on(.tick)
        #expect(h.s.attempts[g[0].attempt]!.state == .lost)
        // The partitioned worker comes back with its result before anyone re-ran the task.
        let rejoin = h.on(.workerJoined(WorkerInfo(key: a, slots: 2), running: [], queued: [], finished: [ok(g[0].attempt)]))
        #expect(rejoin.jobEnds.map(\.1) == [.succeeded])
        #expect(rejoin.ended[g[0].attempt] == .succeeded)
    }

    @Test func aLateSuccessAfterAnotherAttemptCommittedIsDiscarded() throws {
        var h = Harness()
        let a = h.join("a"), b = h.join("b")
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 1)])))
        let g = try need(h.sync(a, want: 1))
        _ = h.sync(a, want: 0, started: g.map(\.attempt))
        h.now += 5001
        h.on(.heartbeat(b, draining: false))
        _ = h.on(.tick)
        let retry = try need(h.sync(b, want: 1))
        _ = h.sync(b, want: 0, finished: [ok(retry[0].attempt)])
        #expect(h.job("j").state == .succeeded)
        let late = h.on(.workerJoined(WorkerInfo(key: a, slots: 2), running: [], queued: [], finished: [ok(g[0].attempt)]))
        // Its task is committed and forgotten: the late result changes nothing.
        #expect(late.ended.isEmpty)
        #expect(late.jobEnds.isEmpty)
        #expect(h.job("j").succeededTasks == 1)
    }

    @Test func aRejoiningWorkerKeepsAttemptsNotYetRetriedAndStopsThoseRetriedElsewhere() throws {
        var h = Harness()
        let a = h.join("a"), b = h.join("b")
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 2)])))
        let g = try need(h.sync(a, want: 2))
        _ = h.sync(a, want: 0, started: g.map(\.attempt))
        h.now += 5001
        h.on(.heartbeat(b, draining: false))
        _ = h.on(.tick)
        // One of the two tasks is retried on b before a comes back.
        let retry = try need(h.sync(b, want: 1))
        #expect(retry.count == 1)
        let kept = g.first { $0.task != retry[0].task }!, superseded = g.first { $0.task == retry[0].task }!
        let rejoin = h.on(.workerJoined(WorkerInfo(key: a, slots: 2), running: g.map(\.attempt), queued: [], finished: []))
        #expect(rejoin.cancels[a] == [superseded.attempt])
        #expect(h.s.attempts[kept.attempt]!.state == .running)
        #expect(h.job("j").stages[0].phase(of: kept.task.task) == .active)
    }

    @Test func aNewIncarnationEndsTheOldOne() throws {
        var h = Harness()
        let old = h.join("a", incarnation: 1)
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 1)])))
        let g = try need(h.sync(old, want: 1))
        let fresh = WorkerKey(id: "a", incarnation: 2)
        h.on(.workerJoined(WorkerInfo(key: fresh, slots: 2), running: [], queued: [], finished: []))
        #expect(h.s.workers[old]!.state == .dead)
        #expect(h.s.attempts[g[0].attempt]!.state == .lost)
        #expect(h.sync(fresh, want: 1)?.count == 1)
    }

    @Test func aDrainingWorkerHandsBackUnstartedTasksForFreeAndGetsNoMore() throws {
        var h = Harness { $0.leaseAhead = 4 }
        let a = h.join("a", slots: 1), b = h.join("b", slots: 1)
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 4)])))
        let g = try need(h.sync(a, want: 5))
        _ = h.sync(a, want: 0, started: [g[0].attempt])
        h.on(.heartbeat(a, draining: true))
        #expect(h.sync(a, want: 0, released: g.dropFirst().map(\.attempt)) == [])
        #expect(h.sync(a, want: 3) == [])
        #expect(h.job("j").stages[0].live.values.allSatisfy { $0.failures == 0 && $0.lost == 0 })
        // Everything but the task a is still running goes to b.
        #expect(h.sync(b, want: 5)?.count == 3)
        _ = h.sync(a, want: 0, finished: [ok(g[0].attempt)])
        h.on(.workerLeft(a))
        #expect(h.s.workers[a]!.state == .left)
    }
}

@Suite struct FairnessTests {
    @Test func aSmallJobBehindAHugeOneGetsATaskInTheFirstRound() throws {
        var h = Harness { $0.leaseAhead = 8 }
        let a = h.join("a", slots: 2), b = h.join("b", slots: 2)
        h.on(.submitted(JobID("huge"), JobPlan(stages: [.init(tasks: 10_000)])))
        _ = h.sync(a, want: 10)
        _ = h.sync(b, want: 10)
        h.on(.submitted(JobID("small"), JobPlan(stages: [.init(tasks: 3)])))
        let done = h.s.attempts.values.filter { $0.worker == a }.map(\.id)
        let next = try need(h.sync(a, want: 4, finished: done.prefix(4).map(ok)))
        #expect(next.contains { $0.task.job == JobID("small") })
        #expect(next.filter { $0.task.job == JobID("small") }.count == 2)
    }

    @Test func weightsSetTheShareOfEachRound() throws {
        var h = Harness { $0.leaseAhead = 100 }
        let a = h.join("a", slots: 0)
        h.on(.submitted(JobID("heavy"), JobPlan(stages: [.init(tasks: 100)], weight: 3)))
        h.on(.submitted(JobID("light"), JobPlan(stages: [.init(tasks: 100)], weight: 1)))
        let given = try need(h.sync(a, want: 40))
        #expect(given.filter { $0.task.job == JobID("heavy") }.count == 30)
        #expect(given.filter { $0.task.job == JobID("light") }.count == 10)
    }
}

@Suite struct RestoreTests {
    let j = JobID("job-1")
    let w = WorkerKey(id: "a", incarnation: 7)

    /// Task 0 committed before the crash; task 1 leased to `w`; task 2 failed once.
    func journalState() -> [Scheduler.RestoredJob] {
        [.init(id: j, plan: JobPlan(stages: [.init(tasks: 3)]), committed: [1], untouched: [3],
               attempts: [.init(id: 2, task: TaskKey(job: j, stage: 0, task: 1), worker: w, state: .leased, reason: ""),
                          .init(id: 3, task: TaskKey(job: j, stage: 0, task: 2), worker: w, state: .failed, reason: "boom")])]
    }

    @Test func committedTasksNeverRunAgainAndRunningOnesWaitForTheirWorker() throws {
        var (s, _) = Scheduler.restored(config: SchedulerConfig(), jobs: journalState(), nextAttemptID: 4, at: 0)
        #expect(s.invariantViolations() == [])
        #expect(s.nextAttemptID == 4)
        #expect(s.workers[w]!.state == .recovering)
        #expect(s.jobs[j]!.succeededTasks == 1)
        // The worker re-registers with the result of attempt 2, which the old coordinator never acknowledged.
        let actions = s.handle(.workerJoined(WorkerInfo(key: w, slots: 2), running: [], queued: [], finished: [ok(2)]), at: 100)
        #expect(s.invariantViolations() == [])
        #expect(actions.jobEnds.isEmpty)
        let given = s.handle(.sync(w, token: 1, want: 5, deadline: 100, started: [], finished: [], released: []), at: 100).answers(1)
        #expect(given?.map(\.task.task) == [2])
        #expect(given?.first?.attempt == 4)
        #expect(given?.first?.number == 2)
    }

    @Test func aWorkerThatNeverReturnsHasItsTasksRunElsewhere() throws {
        var (s, _) = Scheduler.restored(config: SchedulerConfig(), jobs: journalState(), nextAttemptID: 4, at: 0)
        let b = WorkerKey(id: "b", incarnation: 1)
        _ = s.handle(.workerJoined(WorkerInfo(key: b, slots: 4), running: [], queued: [], finished: []), at: 10)
        _ = s.handle(.heartbeat(b, draining: false), at: 5001)
        _ = s.handle(.tick, at: 5001)
        #expect(s.workers[w]!.state == .dead)
        let given = s.handle(.sync(b, token: 1, want: 5, deadline: 5001, started: [], finished: [], released: []), at: 5001).answers(1)
        #expect(Set(given?.map(\.task.task) ?? []) == [1, 2])
        #expect(s.invariantViolations() == [])
    }

    @Test func theUntouchedRangeComesBackPendingWithoutObjects() throws {
        // 10 million tasks, 1,000 committed, two in flight: memory for two tasks.
        let plan = JobPlan(stages: [.init(tasks: 10_000_000)])
        let rj = Scheduler.RestoredJob(id: j, plan: plan, committed: [1_000], untouched: [1_002], attempts: [
            .init(id: 1_001, task: TaskKey(job: j, stage: 0, task: 1_000), worker: w, state: .running, reason: ""),
            .init(id: 1_002, task: TaskKey(job: j, stage: 0, task: 1_001), worker: w, state: .lost, reason: "gone"),
        ])
        var (s, actions) = Scheduler.restored(config: SchedulerConfig(), jobs: [rj], nextAttemptID: 1_003, at: 0)
        #expect(actions.isEmpty)
        #expect(s.invariantViolations() == [])
        #expect(s.jobs[j]!.stages[0].live.count == 2)
        #expect(s.queueDepth == 10_000_000 - 1_002 + 1)
        let b = WorkerKey(id: "b", incarnation: 1)
        _ = s.handle(.workerJoined(WorkerInfo(key: b, slots: 2), running: [], queued: [], finished: []), at: 1)
        let given = s.handle(.sync(b, token: 1, want: 2, deadline: 1, started: [], finished: [], released: []), at: 1).answers(1)
        // The task whose attempt was lost first, then the range from where it stopped.
        #expect(given?.map(\.task.task) == [1_001, 1_002])
        #expect(given?.first?.number == 2)
        #expect(s.invariantViolations() == [])
    }

    @Test func aJobWhoseTasksAllCommittedBeforeTheCrashEndsOnRestart() {
        let (s, actions) = Scheduler.restored(
            config: SchedulerConfig(), jobs: [.init(id: j, plan: JobPlan(stages: [.init(tasks: 1)]), committed: [1], untouched: [1], attempts: [])],
            nextAttemptID: 2, at: 0)
        #expect(actions.jobEnds.map(\.1) == [.succeeded])
        #expect(s.invariantViolations() == [])
    }

    @Test func aTaskOutOfRetriesFailsItsJobOnRestart() {
        let rj = Scheduler.RestoredJob(id: j, plan: JobPlan(stages: [.init(tasks: 2)], retries: 0), committed: [0], untouched: [1], attempts: [
            .init(id: 1, task: TaskKey(job: j, stage: 0, task: 0), worker: w, state: .failed, reason: "exit code 1"),
        ])
        let (s, actions) = Scheduler.restored(config: SchedulerConfig(), jobs: [rj], nextAttemptID: 2, at: 0)
        #expect(actions.jobEnds.first?.2 == "task 0.0 failed after 1 attempts (found on restart)")
        #expect(s.invariantViolations() == [])
    }

    @Test func aLaterStageResumesWhereItStopped() throws {
        let plan = JobPlan(stages: [.init(tasks: 2), .init(tasks: 3, dependsOn: [0])])
        let rj = Scheduler.RestoredJob(id: j, plan: plan, committed: [2, 1], untouched: [2, 1], attempts: [])
        var (s, _) = Scheduler.restored(config: SchedulerConfig(), jobs: [rj], nextAttemptID: 10, at: 0)
        #expect(s.invariantViolations() == [])
        #expect(s.jobs[j]!.stages.map(\.state) == [.succeeded, .running])
        let b = WorkerKey(id: "b", incarnation: 1)
        _ = s.handle(.workerJoined(WorkerInfo(key: b, slots: 4), running: [], queued: [], finished: []), at: 1)
        let given = s.handle(.sync(b, token: 1, want: 4, deadline: 1, started: [], finished: [], released: []), at: 1).answers(1)
        #expect(given?.map { "\($0.task.stage).\($0.task.task)" } == ["1.1", "1.2"])
    }
}

@Suite struct PlanTests {
    @Test func invalidPlansAreNamed() {
        #expect(JobPlan(stages: []).problem == "a job needs at least one stage")
        #expect(JobPlan(stages: [.init(tasks: 0)]).problem == "stage 0 has no tasks")
        #expect(JobPlan(stages: [.init(tasks: 1, dependsOn: [0])]).problem == "stage 0 depends on stage 0, which is not an earlier stage")
        #expect(JobPlan(stages: [.init(tasks: 1), .init(tasks: 2, dependsOn: [0])]).problem == nil)
    }
}

@Suite struct BalanceTests {
    @Test func lookaheadIsCappedAtAFairShareSoAFewTasksSpreadAcrossWorkers() throws {
        var h = Harness { $0.leaseAhead = 64 }
        let a = h.join("a", slots: 2), b = h.join("b", slots: 2)
        #expect(h.sync(a, want: 66, wait: 1000) == nil)
        let given = h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 8)]))).answers(h.token)
        // a may take its 2 free slots plus half of the 8 ready tasks, not all 8.
        #expect(given?.count == 6)
        #expect(try need(h.sync(b, want: 66)).count == 2)
    }
}

@Suite struct MemoryTests {
    @Test func aHugeStageIsARangeUntilItsTasksAreLeased() throws {
        var h = Harness { $0.leaseAhead = 8 }
        let a = h.join("a", slots: 2)
        h.on(.submitted(JobID("huge"), JobPlan(stages: [.init(tasks: 10_000_000)])))
        #expect(h.s.queueDepth == 10_000_000)
        #expect(h.job("huge").stages[0].live.isEmpty)
        var given = try need(h.sync(a, want: 10))
        for _ in 0..<100 {
            given = try need(h.sync(a, want: 10, started: given.map(\.attempt), finished: given.map { ok($0.attempt) }))
        }
        // What is in memory is what is in flight: ten tasks and their attempts.
        #expect(h.job("huge").succeededTasks == 1_000)
        #expect(h.job("huge").stages[0].live.count == 10)
        #expect(h.s.attempts.count == 10)
        #expect(h.s.queueDepth == 10_000_000 - 1_010)
        #expect(h.job("huge").stages[0].phase(of: 5) == nil)
        #expect(h.job("huge").stages[0].phase(of: 9_999_999) == .pending)
    }

    @Test func aFinishedJobIsForgottenAfterKeepFinished() throws {
        var h = Harness { $0.keepFinished = 60_000 }
        let a = h.join("a")
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 1)])))
        let g = try need(h.sync(a, want: 1))
        _ = h.sync(a, want: 0, finished: [ok(g[0].attempt)])
        #expect(h.job("j").state == .succeeded)
        #expect(h.s.attempts.isEmpty)
        h.on(.heartbeat(a, draining: false))
        #expect(h.advance(59_000).isEmpty || h.s.jobs[JobID("j")] != nil)
        #expect(h.s.jobs[JobID("j")] != nil)
        h.on(.heartbeat(a, draining: false))
        let forgotten = h.advance(1_000)
        #expect(forgotten.contains(.jobForgotten(JobID("j"))))
        #expect(h.s.jobs.isEmpty)
    }

    @Test func aDeadWorkerIsForgottenAfterAWhile() {
        var h = Harness { $0.forgetWorkersAfter = 300_000 }
        let a = h.join("a")
        _ = h.advance(5_001)
        #expect(h.s.workers[a]?.state == .dead)
        #expect(!h.advance(200_000).contains(.workerForgotten(a)))
        #expect(h.advance(100_000).contains(.workerForgotten(a)))
        #expect(h.s.workers[a] == nil)
    }

    @Test func aCancelledHugeJobLeavesNothingBehind() throws {
        var h = Harness { $0.leaseAhead = 4; $0.keepFinished = 0 }
        let a = h.join("a")
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 50_000_000)])))
        _ = try need(h.sync(a, want: 6))
        let actions = h.on(.cancel(JobID("j"), reason: "enough"))
        #expect(actions.cancels[a]?.count == 6)
        #expect(h.s.queueDepth == 0 && h.s.attempts.isEmpty && h.s.workers[a]!.active.isEmpty)
        #expect(h.advance(1).contains(.jobForgotten(JobID("j"))))
    }
}

@Suite struct CapabilityTests {
    @Test func tasksGoOnlyToWorkersWithTheCapabilitiesTheirStageRequires() throws {
        var h = Harness()
        let plain = h.join("plain", slots: 4)
        let shell = h.join("shell", slots: 4, capabilities: ["commands"])
        h.on(.submitted(JobID("cmd"), JobPlan(stages: [.init(tasks: 3, requires: ["commands"])])))
        h.on(.submitted(JobID("any"), JobPlan(stages: [.init(tasks: 2)])))
        let toPlain = try need(h.sync(plain, want: 4))
        #expect(toPlain.allSatisfy { $0.task.job == JobID("any") })
        #expect(toPlain.count == 2)
        let toShell = try need(h.sync(shell, want: 4))
        #expect(toShell.map(\.task.job) == [JobID("cmd"), JobID("cmd"), JobID("cmd")])
    }

    @Test func aJobNobodyCanRunWaitsAndSaysWhy() throws {
        var h = Harness()
        #expect(h.s.waitingReason(JobID("x")) == nil)
        h.on(.submitted(JobID("cmd"), JobPlan(stages: [.init(tasks: 2, requires: ["commands"])])))
        #expect(h.s.waitingReason(JobID("cmd")) == .noWorkers)
        let plain = h.join("plain")
        #expect(h.sync(plain, want: 2, wait: 1000) == nil)
        #expect(h.s.waitingReason(JobID("cmd")) == .missingCapabilities(stage: 0, ["commands"]))
        #expect(h.job("cmd").state == .running)
        // A capable worker arrives: the job runs.
        let shell = h.join("shell", capabilities: ["commands"])
        #expect(h.s.waitingReason(JobID("cmd")) == nil)
        #expect(h.sync(shell, want: 2)?.count == 2)
    }

    @Test func aDrainingWorkerNeverGetsBackTheTasksItHandsBack() throws {
        var h = Harness { $0.leaseAhead = 4 }
        let a = h.join("a", slots: 1)
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 3)])))
        let g = try need(h.sync(a, want: 3))
        // Its poll for more work is parked (nothing left to lease) when the drain starts.
        #expect(h.sync(a, want: 2, wait: 1000) == nil)
        let parked = h.token
        h.token += 1
        let actions = h.on(.sync(a, token: h.token, want: 0, deadline: h.now, started: [], finished: [],
                                 released: g.map(\.attempt), draining: true))
        #expect(actions.answers(parked) == [])
        #expect(h.s.workers[a]!.state == .draining)
        #expect(h.s.workers[a]!.active.isEmpty)
        #expect(h.s.queueDepth == 3)
    }
}

@Suite struct AdoptionTests {
    @Test func aLostAttemptWhoseTaskIsInBackoffIsAdoptedWhenItsWorkerReturns() throws {
        var h = Harness { $0.backoffBase = 10_000 }
        let a = h.join("a"), b = h.join("b")
        h.on(.submitted(JobID("j"), JobPlan(stages: [.init(tasks: 1)], retries: 3)))
        let first = try need(h.sync(a, want: 1))
        _ = h.sync(a, want: 0, started: first.map(\.attempt))
        h.now += 5_001
        h.on(.heartbeat(b, draining: false))
        _ = h.on(.tick)
        // Retried on b, which fails it: the task waits out its backoff.
        let second = try need(h.sync(b, want: 1))
        _ = h.sync(b, want: 0, finished: [failed(second[0].attempt)])
        #expect(h.job("j").stages[0].phase(of: 0) == .backoff)
        // a was only cut off: it comes back with the first attempt still running.
        let rejoin = h.on(.workerJoined(WorkerInfo(key: a, slots: 2), running: [first[0].attempt], queued: [], finished: []))
        #expect(rejoin.ended[first[0].attempt] == .running)
        #expect(h.job("j").stages[0].phase(of: 0) == .active)
        _ = h.sync(a, want: 0, finished: [ok(first[0].attempt)])
        #expect(h.job("j").state == .succeeded)
    }
}
