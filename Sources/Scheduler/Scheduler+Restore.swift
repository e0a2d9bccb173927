/// Rebuilding the state machine from the journal after a coordinator restart.
extension Scheduler {
    /// A job as the journal holds it.
    public struct RestoredJob: Sendable {
        public var id: JobID
        public var plan: JobPlan
        public var state: JobState
        public var reason: String
        public init(id: JobID, plan: JobPlan, state: JobState, reason: String) {
            self.id = id
            self.plan = plan
            self.state = state
            self.reason = reason
        }
    }

    /// An attempt as the journal holds it: leased (no end recorded) or ended.
    public struct RestoredAttempt: Sendable {
        public var id: AttemptID
        public var task: TaskKey
        public var worker: WorkerKey
        public var state: AttemptState
        public var reason: String
        public init(id: AttemptID, task: TaskKey, worker: WorkerKey, state: AttemptState, reason: String) {
            self.id = id
            self.task = task
            self.worker = worker
            self.state = state
            self.reason = reason
        }
    }

    /// A scheduler holding the journal's jobs and attempts. Attempts that were
    /// leased or running stay with their workers, which are `recovering` until
    /// they register again (their results then arrive) or `deadAfter` passes
    /// (their tasks then run again). Tasks with a committed attempt never run again.
    public static func restored(config: SchedulerConfig, jobs restoredJobs: [RestoredJob], attempts restoredAttempts: [RestoredAttempt], at now: Millis) -> (Scheduler, [Action]) {
        var s = Scheduler(config: config)
        var out: [Action] = []
        let byJob = Dictionary(grouping: restoredAttempts.sorted { $0.id < $1.id }, by: { $0.task.job })
        for rj in restoredJobs {
            _ = s.handle(.submitted(rj.id, rj.plan), at: now)
            for ra in byJob[rj.id] ?? [] { s.restoreAttempt(ra, now: now) }
            if rj.state.isFinal {
                s.finishRestoredJob(rj.id, rj.state, reason: rj.reason)
            } else {
                out += s.settleRestoredJob(rj.id, now: now)
            }
        }
        s.nextAttemptID = (restoredAttempts.map(\.id).max() ?? 0) + 1
        return (s, out)
    }

    private mutating func restoreAttempt(_ ra: RestoredAttempt, now: Millis) {
        let t = ra.task
        let fits = jobs[t.job].map { t.stage < $0.stages.count && t.task < $0.stages[t.stage].tasks.count } ?? false
        guard fits, var job = take(t.job) else { return }
        job.stages[t.stage].tasks[t.task].attempts.append(ra.id)
        let number = job.stages[t.stage].tasks[t.task].attempts.count
        var task = job.stages[t.stage].tasks[t.task]
        switch ra.state {
        case .succeeded where task.committed == nil:
            task.committed = ra.id
        case .failed, .timedOut:
            task.failures += 1
        case .lost:
            task.lost += 1
        default:
            break
        }
        job.stages[t.stage].tasks[t.task] = task
        jobs[t.job] = job
        attempts[ra.id] = Attempt(id: ra.id, task: t, number: number, worker: ra.worker, state: ra.state, reason: ra.reason)
        if ra.state.isActive {
            if workers[ra.worker] == nil {
                workers[ra.worker] = Worker(key: ra.worker, slots: 0, state: .recovering, lastSeen: now)
            }
            workers[ra.worker]!.active.insert(ra.id)
        }
    }

    /// Puts every task of a restored running job into the phase its attempts imply.
    private mutating func settleRestoredJob(_ id: JobID, now: Millis) -> [Action] {
        var out: [Action] = []
        var job = jobs[id]!
        var changed = true
        // Stages start in dependency order; loop until no stage changes.
        while changed {
            changed = false
            for s in job.stages.indices where job.stages[s].state != .succeeded {
                let depsDone = job.plan.stages[s].dependsOn.allSatisfy { job.stages[$0].state == .succeeded }
                guard depsDone else { continue }
                if job.stages[s].state == .waiting { job.stages[s].state = .running }
                var remaining = 0
                job.stages[s].ready = Queue()
                for t in job.stages[s].tasks.indices {
                    var task = job.stages[s].tasks[t]
                    if task.committed != nil {
                        task.phase = .succeeded
                    } else if task.attempts.contains(where: { attempts[$0]?.state.isActive == true }) {
                        task.phase = .active
                        remaining += 1
                    } else {
                        task.phase = .pending
                        job.stages[s].ready.push(Int32(t))
                        remaining += 1
                    }
                    job.stages[s].tasks[t] = task
                }
                job.stages[s].remaining = remaining
                if remaining == 0 {
                    job.stages[s].state = .succeeded
                    changed = true
                }
            }
        }
        job.succeededTasks = job.stages.reduce(0) { $0 + $1.tasks.filter { $0.phase == .succeeded }.count }
        job.activeTasks = job.stages.reduce(0) { $0 + $1.tasks.filter { $0.phase == .active }.count }
        jobs[id] = job
        if job.stages.allSatisfy({ $0.state == .succeeded }) {
            finishJob(id, .succeeded, reason: "", &out)
        } else if let (s, t) = firstExhausted(job) {
            let why = "task \(s).\(t) failed after \(job.stages[s].tasks[t].failures) attempts (found on restart)"
            finishJob(id, .failed, reason: why, &out)
        }
        return out
    }

    private func firstExhausted(_ job: Job) -> (Int, Int)? {
        for s in job.stages.indices {
            for t in job.stages[s].tasks.indices where job.stages[s].tasks[t].committed == nil
                && job.stages[s].tasks[t].failures > job.plan.retries {
                return (s, t)
            }
        }
        return nil
    }

    private mutating func finishRestoredJob(_ id: JobID, _ state: JobState, reason: String) {
        var job = jobs[id]!
        job.state = state
        job.reason = reason
        for s in job.stages.indices {
            job.stages[s].ready = Queue()
            for t in job.stages[s].tasks.indices {
                job.stages[s].tasks[t].phase = job.stages[s].tasks[t].committed != nil ? .succeeded
                    : (job.stages[s].tasks[t].failures > job.plan.retries ? .failed : .cancelled)
            }
            let tasks = job.stages[s].tasks
            job.stages[s].remaining = tasks.filter { $0.phase != .succeeded }.count
            job.stages[s].state = tasks.allSatisfy { $0.phase == .succeeded } ? .succeeded
                : (tasks.contains { $0.phase == .failed } ? .failed : .cancelled)
        }
        job.succeededTasks = job.stages.reduce(0) { $0 + $1.tasks.filter { $0.phase == .succeeded }.count }
        job.failedTasks = job.stages.reduce(0) { $0 + $1.tasks.filter { $0.phase == .failed }.count }
        job.activeTasks = 0
        jobs[id] = job
        dropRunning(id)
    }
}
