/// Rebuilding the state machine from the journal after a coordinator restart.
///
/// Only unfinished jobs come back, and of those only what is not committed:
/// per stage the count of committed tasks and the first index never leased,
/// and the attempts of the tasks that have none committed. So a restart
/// costs what was in flight, not what ever ran.
extension Scheduler {
    /// An unfinished job as the journal holds it.
    public struct RestoredJob: Sendable {
        public var id: JobID
        public var plan: JobPlan
        /// Per stage: tasks that have a committed attempt.
        public var committed: [Int]
        /// Per stage: the first task index never leased. Tasks are leased from
        /// the range in order, so every task below it has attempts in the journal.
        public var untouched: [Int]
        /// Every attempt of every task that has no committed attempt.
        public var attempts: [RestoredAttempt]
        public init(id: JobID, plan: JobPlan, committed: [Int], untouched: [Int], attempts: [RestoredAttempt]) {
            self.id = id
            self.plan = plan
            self.committed = committed
            self.untouched = untouched
            self.attempts = attempts
        }
    }

    /// An attempt as the journal holds it: leased (no end recorded) or ended.
    public struct RestoredAttempt: Sendable {
        public var id: AttemptID
        public var task: TaskKey
        public var worker: WorkerKey
        public var state: AttemptState
        public var reason: String
        public var exitCode: Int32
        public init(id: AttemptID, task: TaskKey, worker: WorkerKey, state: AttemptState, reason: String, exitCode: Int32 = 0) {
            self.id = id
            self.task = task
            self.worker = worker
            self.state = state
            self.reason = reason
            self.exitCode = exitCode
        }
    }

    /// A scheduler holding the journal's unfinished jobs. Attempts that were
    /// leased or running stay with their workers, which are `recovering` until
    /// they register again (their results then arrive) or `deadAfter` passes
    /// (their tasks then run again). Committed tasks never run again.
    /// `nextAttemptID` continues after every id the journal ever handed out.
    public static func restored(config: SchedulerConfig, jobs restoredJobs: [RestoredJob], nextAttemptID: AttemptID, at now: Millis) -> (Scheduler, [Action]) {
        var s = Scheduler(config: config)
        var out: [Action] = []
        var highest: AttemptID = 0
        for rj in restoredJobs where rj.plan.problem == nil && s.jobs[rj.id] == nil {
            highest = max(highest, rj.attempts.map(\.id).max() ?? 0)
            s.restore(rj, now: now)
            out += s.settle(rj.id, now: now)
        }
        s.nextAttemptID = max(nextAttemptID, highest + 1)
        return (s, out)
    }

    private mutating func restore(_ rj: RestoredJob, now: Millis) {
        var stages: [Stage] = rj.plan.stages.enumerated().map { i, p in
            var stage = Stage(state: .waiting, total: p.tasks, requires: p.requires, keepsOutputs: p.keepsOutputs)
            stage.succeeded = min(max(i < rj.committed.count ? rj.committed[i] : 0, 0), p.tasks)
            stage.untouched = min(max(i < rj.untouched.count ? rj.untouched[i] : 0, 0), p.tasks)
            return stage
        }
        for ra in rj.attempts.sorted(by: { $0.id < $1.id }) {
            let t = ra.task
            guard t.job == rj.id, t.stage >= 0, t.stage < stages.count, t.task >= 0, t.task < stages[t.stage].total else { continue }
            let k = Int32(t.task)
            stages[t.stage].untouched = max(stages[t.stage].untouched, t.task + 1)
            var task = stages[t.stage].live[k] ?? Task(phase: .pending)
            task.attempts.append(ra.id)
            switch ra.state {
            case .failed, .timedOut: task.failures += 1
            case .lost: task.lost += 1
            default: break
            }
            stages[t.stage].live[k] = task
            attempts[ra.id] = Attempt(id: ra.id, task: t, number: task.attempts.count, worker: ra.worker, state: ra.state,
                                      reason: ra.reason, exitCode: ra.exitCode)
            if ra.state.isActive {
                if workers[ra.worker] == nil {
                    workers[ra.worker] = Worker(key: ra.worker, slots: 0, state: .recovering, lastSeen: now, since: now)
                }
                workers[ra.worker]!.active.insert(ra.id)
            }
        }
        var job = Job(id: rj.id, plan: rj.plan, totalTasks: rj.plan.stages.reduce(0) { $0 + $1.tasks }, stages: stages)
        job.succeededTasks = stages.reduce(0) { $0 + $1.succeeded }
        jobs[rj.id] = job
        runningJobs.append(rj.id)
    }

    /// Puts every stage and live task of a restored job into the state its
    /// attempts imply, then ends the job if that is where it already was.
    private mutating func settle(_ id: JobID, now: Millis) -> [Action] {
        var out: [Action] = []
        let plan = jobs[id]!.plan
        for s in plan.stages.indices {
            let stage = jobs[id]!.stages[s]
            let depsDone = plan.stages[s].dependsOn.allSatisfy { jobs[id]!.stages[$0].state == .succeeded }
            if stage.succeeded == stage.total && stage.live.isEmpty {
                jobs[id]!.stages[s].state = .succeeded
                continue
            }
            guard depsDone else {
                // Attempts of a stage that could not have started: a journal from elsewhere. Forget them.
                for (_, task) in stage.live {
                    for a in task.attempts {
                        if let w = attempts[a]?.worker { workers[w]?.active.remove(a) }
                        attempts[a] = nil
                    }
                }
                jobs[id]!.stages[s].live = [:]
                jobs[id]!.stages[s].untouched = 0
                continue
            }
            jobs[id]!.stages[s].state = .running
            adjust(id, .pending, stage.total - stage.untouched)
            for (t, task) in stage.live.sorted(by: { $0.key < $1.key }) {
                let phase: TaskPhase = task.attempts.contains { attempts[$0]?.state.isActive == true } ? .active : .pending
                jobs[id]!.stages[s].live[t]!.phase = phase
                adjust(id, phase, 1)
                if phase == .pending { jobs[id]!.stages[s].ready.push(t) }
            }
        }
        if jobs[id]!.stages.allSatisfy({ $0.state == .succeeded }) {
            finishJob(id, .succeeded, reason: "", now: now, &out)
        } else if let (s, t, failures) = firstExhausted(id) {
            finishJob(id, .failed, reason: "task \(s).\(t) failed after \(failures) attempts (found on restart)", now: now, &out)
        }
        return out
    }

    private func firstExhausted(_ id: JobID) -> (Int, Int, Int)? {
        let job = jobs[id]!
        for (s, stage) in job.stages.enumerated() {
            for (t, task) in stage.live.sorted(by: { $0.key < $1.key }) where task.phase == .pending && task.failures > job.plan.retries {
                return (s, Int(t), task.failures)
            }
        }
        return nil
    }
}
