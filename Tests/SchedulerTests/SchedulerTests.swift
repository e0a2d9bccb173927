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
        #expect(h.job("j").stages[1].tasks.allSatisfy { $0.attempts.isEmpty })
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
        #expect(h.job("j").stages[0].tasks[0].phase == .backoff)
        #expect(h.sync(a, want: 1, wait: 1000) == nil)
        let retried = h.advance(250).answers(h.token)
        #expect(retried?.first?.number == 2)
        _ = h.sync(a, want: 0, finished: [failed(retried![0].attempt)])
        _ = h.advance(450)
        let third = try need(h.sync(a, want: 1))
        #expect(third.first?.number == 3)
        let end = h.on(.sync(a, token: 77, want: 0, deadline: h.now, started: [], finished: [ok(third[0].attempt)], released: []))
        #expect(end.jobEnds.map(\.1) == [.succeeded])
        #expect(h.job("j").stages[0].tasks[0].committed == third[0].attempt)
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
        let job = h.job("j")
        #expect(h.s.workers[a]!.state == .dead)
        #expect(job.stages[0].tasks[g[0].task.task].lost == 1)
        #expect(job.stages[0].tasks[g[1].task.task].lost == 0)
        #expect(job.stages[0].tasks.allSatisfy { $0.failures == 0 && $0.phase == .pending })
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
        #expect(h.job("j").stages[0].tasks.map(\.lost) == [1, 0, 0])
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
        #expect(h.job("j").stages[0].tasks[0].failures == 0)
        #expect(h.job("j").stages[0].tasks[0].phase == .failed)
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
        #expect(h.job("j").stages[0].tasks[0].committed == g[0].attempt)
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
        h.on(.workerJoined(WorkerInfo(key: a, slots: 2), running: [], queued: [], finished: [ok(g[0].attempt)]))
        #expect(h.job("j").stages[0].tasks[0].committed == retry[0].attempt)
        #expect(h.s.attempts[g[0].attempt]!.state == .lost)
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
        #expect(h.job("j").stages[0].tasks[kept.task.task].phase == .active)
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
        #expect(h.job("j").stages[0].tasks.allSatisfy { $0.failures == 0 && $0.lost == 0 })
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
    func journalState() -> ([Scheduler.RestoredJob], [Scheduler.RestoredAttempt]) {
        let j = JobID("job-1")
        let w = WorkerKey(id: "a", incarnation: 7)
        return ([.init(id: j, plan: JobPlan(stages: [.init(tasks: 3)]), state: .running, reason: "")],
                [.init(id: 1, task: TaskKey(job: j, stage: 0, task: 0), worker: w, state: .succeeded, reason: ""),
                 .init(id: 2, task: TaskKey(job: j, stage: 0, task: 1), worker: w, state: .leased, reason: ""),
                 .init(id: 3, task: TaskKey(job: j, stage: 0, task: 2), worker: w, state: .failed, reason: "boom")])
    }

    @Test func committedTasksNeverRunAgainAndRunningOnesWaitForTheirWorker() throws {
        let (jobs, attempts) = journalState()
        var (s, _) = Scheduler.restored(config: SchedulerConfig(), jobs: jobs, attempts: attempts, at: 0)
        #expect(s.invariantViolations() == [])
        #expect(s.nextAttemptID == 4)
        let w = WorkerKey(id: "a", incarnation: 7)
        #expect(s.workers[w]!.state == .recovering)
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
        let (jobs, attempts) = journalState()
        var (s, _) = Scheduler.restored(config: SchedulerConfig(), jobs: jobs, attempts: attempts, at: 0)
        let b = WorkerKey(id: "b", incarnation: 1)
        _ = s.handle(.workerJoined(WorkerInfo(key: b, slots: 4), running: [], queued: [], finished: []), at: 10)
        _ = s.handle(.heartbeat(b, draining: false), at: 5001)
        _ = s.handle(.tick, at: 5001)
        #expect(s.workers[WorkerKey(id: "a", incarnation: 7)]!.state == .dead)
        let given = s.handle(.sync(b, token: 1, want: 5, deadline: 5001, started: [], finished: [], released: []), at: 5001).answers(1)
        #expect(Set(given?.map(\.task.task) ?? []) == [1, 2])
        #expect(s.invariantViolations() == [])
    }

    @Test func aJobWhoseTasksAllCommittedBeforeTheCrashEndsOnRestart() {
        let j = JobID("job-1"), w = WorkerKey(id: "a", incarnation: 1)
        let (s, actions) = Scheduler.restored(
            config: SchedulerConfig(), jobs: [.init(id: j, plan: JobPlan(stages: [.init(tasks: 1)]), state: .running, reason: "")],
            attempts: [.init(id: 1, task: TaskKey(job: j, stage: 0, task: 0), worker: w, state: .succeeded, reason: "")], at: 0)
        #expect(actions.jobEnds.map(\.1) == [.succeeded])
        #expect(s.invariantViolations() == [])
    }

    @Test func finishedJobsStayFinished() {
        let j = JobID("job-1"), w = WorkerKey(id: "a", incarnation: 1)
        let (s, actions) = Scheduler.restored(
            config: SchedulerConfig(), jobs: [.init(id: j, plan: JobPlan(stages: [.init(tasks: 2)]), state: .failed, reason: "task 0.1 failed")],
            attempts: [.init(id: 1, task: TaskKey(job: j, stage: 0, task: 0), worker: w, state: .succeeded, reason: "")], at: 0)
        #expect(actions.isEmpty)
        #expect(s.jobs[j]!.state == .failed && s.jobs[j]!.reason == "task 0.1 failed")
        #expect(s.queueDepth == 0)
        #expect(s.invariantViolations() == [])
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
