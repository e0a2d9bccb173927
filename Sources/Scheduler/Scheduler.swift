/// The scheduling state machine: jobs of stages of tasks, attempts, and the
/// workers they run on.
///
/// Pure: `handle(_:at:)` is the only way in, takes the time as an argument and
/// returns what to do. No sockets, files or clocks, so every interleaving
/// (a worker dies while its result is in flight, a worker rejoins while its
/// tasks are being retried) is a fast unit test.
///
/// Guarantees it keeps: a task has at most one committed (succeeded) attempt,
/// and exactly one when its job succeeds; a leased task that never started
/// and is handed back (worker lost, drain) does not use up a retry; attempts
/// lost with dead workers count toward poison, not toward retries.
public struct Scheduler: Sendable {
    public let config: SchedulerConfig
    public internal(set) var jobs: [JobID: Job] = [:]
    public internal(set) var workers: [WorkerKey: Worker] = [:]
    public internal(set) var attempts: [AttemptID: Attempt] = [:]
    public internal(set) var nextAttemptID: AttemptID = 1

    /// Jobs in submission order; the round-robin cursor walks this.
    private var jobOrder: [JobID] = []
    private var runningJobs: [JobID] = []
    private var roundRobin = 0
    private var backoffs: [(until: Millis, task: TaskKey)] = []

    public init(config: SchedulerConfig = SchedulerConfig()) {
        self.config = config
    }

    // MARK: state

    public struct Job: Sendable {
        public let id: JobID
        public let plan: JobPlan
        public internal(set) var state: JobState = .running
        public internal(set) var reason = ""
        public internal(set) var stages: [Stage]
        public internal(set) var succeededTasks = 0
        public internal(set) var failedTasks = 0
        public internal(set) var activeTasks = 0
        public var totalTasks: Int { plan.stages.reduce(0) { $0 + $1.tasks } }
    }

    public struct Stage: Sendable {
        public internal(set) var state: StageState
        public internal(set) var tasks: [Task]
        public internal(set) var remaining: Int
        /// Ready task indices; entries whose task is no longer pending are skipped.
        var ready = Queue<Int32>()
    }

    public struct Task: Sendable {
        public internal(set) var phase: TaskPhase
        public internal(set) var attempts: [AttemptID] = []
        public internal(set) var failures = 0
        public internal(set) var lost = 0
        public internal(set) var committed: AttemptID?
    }

    public struct Attempt: Sendable {
        public let id: AttemptID
        public let task: TaskKey
        public let number: Int
        public let worker: WorkerKey
        public internal(set) var state: AttemptState
        public internal(set) var reason = ""
        public internal(set) var exitCode: Int32 = 0
    }

    public struct Worker: Sendable {
        public let key: WorkerKey
        public internal(set) var slots: Int
        public internal(set) var state: WorkerState
        public internal(set) var lastSeen: Millis
        public internal(set) var active: Set<AttemptID> = []
        /// The open sync request, if any: its token, how many tasks it wants, until when it may wait.
        public internal(set) var openSync: (token: UInt64, want: Int, deadline: Millis)?
        public var running: Int { active.count }
    }

    // MARK: events

    public mutating func handle(_ event: Event, at now: Millis) -> [Action] {
        var out: [Action] = []
        switch event {
        case .submitted(let id, let plan):
            submit(id, plan, &out)
        case .workerJoined(let info, let running, let queued, let finished):
            join(info, running: running, queued: queued, finished: finished, now: now, &out)
        case .heartbeat(let key, let draining):
            seen(key, now: now, &out)
            if draining { drain(key, &out) }
        case .sync(let key, let token, let want, let deadline, let started, let finished, let released):
            sync(key, token: token, want: want, deadline: deadline, started: started, finished: finished, released: released, now: now, &out)
        case .workerLeft(let key):
            if let w = workers[key], w.state != .left {
                closeSync(key, &out)
                loseAttempts(of: key, countTowardPoison: false, reason: "worker \(key) left", &out)
                setWorker(key, .left, reason: "left the cluster", &out)
            }
        case .cancel(let id, let reason):
            if let job = jobs[id], job.state == .running {
                finishJob(id, .cancelled, reason: reason, &out)
            }
        case .tick:
            tick(now: now, &out)
        }
        schedule(now: now, &out)
        expireSyncs(now: now, &out)
        return out
    }

    /// Open syncs whose deadline has come are answered empty (a report that
    /// may not wait has deadline `now`, so it is answered in the same step).
    private mutating func expireSyncs(now: Millis, _ out: inout [Action]) {
        for key in workers.keys.sorted() {
            if let open = workers[key]?.openSync, open.deadline <= now { closeSync(key, &out) }
        }
    }

    /// True when `key` is a live member that may send syncs and heartbeats.
    public func isMember(_ key: WorkerKey) -> Bool {
        guard let w = workers[key] else { return false }
        return w.state == .alive || w.state == .suspect || w.state == .draining
    }

    // MARK: jobs

    private mutating func submit(_ id: JobID, _ plan: JobPlan, _ out: inout [Action]) {
        precondition(jobs[id] == nil, "Internal inconsistency: job \(id) submitted twice (this is a bug, please report it)")
        precondition(plan.problem == nil, "Internal inconsistency: invalid plan reached the scheduler: \(plan.problem!)")
        let stages = plan.stages.map { s in
            Stage(state: .waiting, tasks: Array(repeating: Task(phase: .waiting), count: s.tasks), remaining: s.tasks)
        }
        jobs[id] = Job(id: id, plan: plan, stages: stages)
        jobOrder.append(id)
        runningJobs.append(id)
        startReadyStages(id, &out)
    }

    /// Takes a job out of the table so that its task arrays are uniquely
    /// referenced and change in place: a copy left in the table would make the
    /// first write copy every task of the job. Put it back (`jobs[id] = job`)
    /// before calling anything that reads `jobs`.
    mutating func take(_ id: JobID) -> Job? {
        jobs.removeValue(forKey: id)
    }

    mutating func dropRunning(_ id: JobID) {
        runningJobs.removeAll { $0 == id }
    }

    private mutating func startReadyStages(_ id: JobID, _ out: inout [Action]) {
        guard jobs[id]?.state == .running, var job = take(id) else { return }
        for s in job.stages.indices where job.stages[s].state == .waiting {
            let deps = job.plan.stages[s].dependsOn
            guard deps.allSatisfy({ job.stages[$0].state == .succeeded }) else { continue }
            job.stages[s].state = .running
            for t in job.stages[s].tasks.indices where job.stages[s].tasks[t].phase == .waiting {
                Self.move(&job.stages[s].tasks[t], to: .pending)
                job.stages[s].ready.push(Int32(t))
            }
        }
        jobs[id] = job
    }

    mutating func finishJob(_ id: JobID, _ state: JobState, reason: String, _ out: inout [Action]) {
        guard jobs[id]?.state == .running, var job = take(id) else { return }
        job.state = state
        job.reason = reason
        var cancels: [WorkerKey: [AttemptID]] = [:]
        for s in job.stages.indices {
            for t in job.stages[s].tasks.indices {
                let phase = job.stages[s].tasks[t].phase
                guard phase != .succeeded, phase != .failed, phase != .cancelled else { continue }
                for a in job.stages[s].tasks[t].attempts {
                    guard let att = attempts[a], att.state.isActive else { continue }
                    endAttempt(a, .cancelled, reason: "job \(state.rawValue): \(reason)", &out)
                    cancels[att.worker, default: []].append(a)
                }
                Self.move(&job.stages[s].tasks[t], to: .cancelled)
            }
            if job.stages[s].state == .waiting || job.stages[s].state == .running {
                job.stages[s].state = state == .succeeded ? .succeeded : .cancelled
            }
            job.stages[s].ready = Queue()
        }
        job.activeTasks = 0
        jobs[id] = job
        dropRunning(id)
        for (w, ids) in cancels.sorted(by: { $0.key < $1.key }) where workers[w]?.state != .dead {
            out.append(.cancel(w, ids))
        }
        out.append(.jobEnded(id, state, reason: reason))
    }

    // MARK: workers

    private mutating func join(_ info: WorkerInfo, running: [AttemptID], queued: [AttemptID], finished: [Report], now: Millis, _ out: inout [Action]) {
        // Another incarnation of the same worker is gone for good.
        for (key, w) in workers where key.id == info.key.id && key != info.key && w.state != .dead && w.state != .left {
            workerDied(key, reason: "restarted as incarnation \(info.key.incarnation)", &out)
        }
        let key = info.key
        if var w = workers[key] {
            w.slots = info.slots
            w.lastSeen = now
            workers[key] = w
            if w.state != .alive { setWorker(key, .alive, reason: "registered again", &out) }
        } else {
            workers[key] = Worker(key: key, slots: info.slots, state: .alive, lastSeen: now)
            out.append(.workerChanged(key, .alive, reason: "joined with \(info.slots) slots"))
        }
        finish(finished, from: key, now: now, &out)
        // Reconcile what the worker holds with what the scheduler thinks it holds.
        let held = Set(running).union(queued)
        for a in workers[key]!.active where !held.contains(a) {
            // The worker never got it (the lease reply was lost) or forgot it: hand it back without penalty.
            returnToQueue(a, reason: "worker \(key) does not hold it after re-registering", &out)
        }
        var stray: [AttemptID] = []
        for a in running + queued where !(workers[key]!.active.contains(a)) {
            if !adopt(a, on: key, running: running.contains(a), &out) { stray.append(a) }
        }
        for a in running where workers[key]!.active.contains(a) {
            if attempts[a]?.state == .leased { setAttempt(a, .running) }
        }
        if !stray.isEmpty { out.append(.cancel(key, stray)) }
    }

    /// A lost attempt reported still alive by a rejoining worker: take it back
    /// when its task has no other attempt going and is not done.
    private mutating func adopt(_ a: AttemptID, on key: WorkerKey, running: Bool, _ out: inout [Action]) -> Bool {
        guard let att = attempts[a], att.worker == key, att.state == .lost, jobs[att.task.job]?.state == .running else { return false }
        let t = att.task
        let phase = jobs[t.job]!.stages[t.stage].tasks[t.task].phase
        guard phase == .pending || phase == .backoff else { return false }
        if phase == .backoff { backoffs.removeAll { $0.task == t } }
        Self.move(&jobs[t.job]!.stages[t.stage].tasks[t.task], to: .active)
        // Its loss counted toward poison; it turned out alive.
        if jobs[t.job]!.stages[t.stage].tasks[t.task].lost > 0 { jobs[t.job]!.stages[t.stage].tasks[t.task].lost -= 1 }
        jobs[t.job]!.activeTasks += 1
        attempts[a]!.state = running ? .running : .leased
        attempts[a]!.reason = ""
        workers[key]!.active.insert(a)
        out.append(.attemptEnded(a, attempts[a]!.state, reason: "re-adopted from rejoining worker \(key)"))
        return true
    }

    private mutating func seen(_ key: WorkerKey, now: Millis, _ out: inout [Action]) {
        guard var w = workers[key] else { return }
        w.lastSeen = now
        workers[key] = w
        if w.state == .suspect { setWorker(key, .alive, reason: "heard from again", &out) }
    }

    private mutating func drain(_ key: WorkerKey, _ out: inout [Action]) {
        guard let w = workers[key], w.state == .alive || w.state == .suspect else { return }
        setWorker(key, .draining, reason: "draining: no new tasks", &out)
    }

    private mutating func workerDied(_ key: WorkerKey, reason: String, _ out: inout [Action]) {
        guard let w = workers[key], w.state != .dead, w.state != .left else { return }
        closeSync(key, &out)
        setWorker(key, .dead, reason: reason, &out)
        loseAttempts(of: key, countTowardPoison: true, reason: "worker \(key) died: \(reason)", &out)
    }

    /// Every attempt the worker holds is lost and goes back to the queue
    /// without using up a retry. When `countTowardPoison`, those that were
    /// running count toward poison: the ones reported started, and, since a
    /// task that kills its worker at once dies before its start is reported,
    /// the oldest leased ones that could have filled the remaining slots (a
    /// worker runs its leases in order). Queued lease-ahead never counts.
    private mutating func loseAttempts(of key: WorkerKey, countTowardPoison: Bool, reason: String, _ out: inout [Action]) {
        guard let w = workers[key] else { return }
        let ordered = w.active.sorted()
        var unreportedSlots = max(0, w.slots - ordered.filter { attempts[$0]?.state == .running }.count)
        for a in ordered {
            guard let att = attempts[a] else { continue }
            var mayHaveRun = att.state == .running
            if att.state == .leased && unreportedSlots > 0 {
                mayHaveRun = true
                unreportedSlots -= 1
            }
            returnToQueue(a, reason: reason, &out)
            if mayHaveRun && countTowardPoison {
                let t = att.task
                guard jobs[t.job]?.state == .running else { continue }
                jobs[t.job]!.stages[t.stage].tasks[t.task].lost += 1
                let lost = jobs[t.job]!.stages[t.stage].tasks[t.task].lost
                if lost >= config.poisonAfterLost {
                    let why = "task \(t.stage).\(t.task) is poison: its attempts were running on \(lost) workers that died (last: \(reason))"
                    jobs[t.job]!.failedTasks += 1
                    markTaskFailed(t)
                    finishJob(t.job, .failed, reason: why, &out)
                }
            }
        }
    }

    /// Ends an active attempt as lost and makes its task pending again.
    private mutating func returnToQueue(_ a: AttemptID, reason: String, _ out: inout [Action]) {
        guard let att = attempts[a], att.state.isActive else { return }
        endAttempt(a, .lost, reason: reason, &out)
        let t = att.task
        guard jobs[t.job]?.state == .running, var job = take(t.job) else { return }
        if job.stages[t.stage].tasks[t.task].phase == .active, !hasActiveAttempt(job.stages[t.stage].tasks[t.task]) {
            Self.move(&job.stages[t.stage].tasks[t.task], to: .pending)
            job.stages[t.stage].ready.push(Int32(t.task))
            job.activeTasks -= 1
        }
        jobs[t.job] = job
    }

    private func hasActiveAttempt(_ task: Task) -> Bool {
        task.attempts.contains { attempts[$0]?.state.isActive == true }
    }

    private mutating func setWorker(_ key: WorkerKey, _ state: WorkerState, reason: String, _ out: inout [Action]) {
        guard var w = workers[key], w.state != state else { return }
        precondition(w.state.allows(state),
                     "Internal inconsistency: worker \(key) cannot go from \(w.state) to \(state) (this is a bug, please report it)")
        w.state = state
        workers[key] = w
        out.append(.workerChanged(key, state, reason: reason))
        if state != .alive { closeSync(key, &out) }
    }

    private mutating func closeSync(_ key: WorkerKey, _ out: inout [Action]) {
        guard let open = workers[key]?.openSync else { return }
        workers[key]!.openSync = nil
        out.append(.answerSync(key, token: open.token, []))
    }

    // MARK: sync and results

    private mutating func sync(_ key: WorkerKey, token: UInt64, want: Int, deadline: Millis, started: [AttemptID], finished: [Report], released: [AttemptID], now: Millis, _ out: inout [Action]) {
        guard workers[key] != nil else {
            out.append(.answerSync(key, token: token, []))
            return
        }
        seen(key, now: now, &out)
        // A newer request for work supersedes a parked one: answer the old one
        // empty. A pure report (want 0) leaves the parked poll alone.
        if want > 0 { closeSync(key, &out) }
        for a in started where attempts[a]?.state == .leased && attempts[a]?.worker == key {
            setAttempt(a, .running)
        }
        finish(finished, from: key, now: now, &out)
        for a in released where attempts[a]?.worker == key {
            returnToQueue(a, reason: "handed back unstarted by \(key)", &out)
        }
        guard let w = workers[key] else { return }
        let room = max(0, min(want, w.slots + config.leaseAhead - w.active.count))
        if w.state == .alive, room > 0 {
            workers[key]!.openSync = (token, room, deadline)
        } else {
            out.append(.answerSync(key, token: token, []))
        }
    }

    private mutating func finish(_ reports: [Report], from key: WorkerKey, now: Millis, _ out: inout [Action]) {
        for r in reports {
            // A worker reports only on attempts it was given.
            guard let att = attempts[r.attempt], att.worker == key, let jobState = jobs[att.task.job]?.state else { continue }
            let t = att.task
            let active = att.state.isActive
            func task() -> Task { jobs[t.job]!.stages[t.stage].tasks[t.task] }
            switch r.outcome {
            case .succeeded:
                guard jobState == .running, task().committed == nil else {
                    if active { endAttempt(r.attempt, .succeeded, reason: "result discarded: task already committed", &out) }
                    continue
                }
                if !active && att.state != .lost && att.state != .cancelled { continue }
                let wasActivePhase = task().phase == .active
                if att.state == .lost || att.state == .cancelled {
                    setAttempt(r.attempt, .succeeded)
                    out.append(.attemptEnded(r.attempt, .succeeded, reason: "late result accepted"))
                } else {
                    endAttempt(r.attempt, .succeeded, reason: "", &out)
                }
                // Other attempts of this task are now redundant.
                var cancels: [WorkerKey: [AttemptID]] = [:]
                for other in task().attempts where other != r.attempt {
                    if let o = attempts[other], o.state.isActive {
                        endAttempt(other, .cancelled, reason: "attempt \(r.attempt) committed first", &out)
                        cancels[o.worker, default: []].append(other)
                    }
                }
                for (w, ids) in cancels.sorted(by: { $0.key < $1.key }) { out.append(.cancel(w, ids)) }
                if task().phase == .backoff { backoffs.removeAll { $0.task == t } }
                var job = take(t.job)!
                Self.move(&job.stages[t.stage].tasks[t.task], to: .succeeded)
                job.stages[t.stage].tasks[t.task].committed = r.attempt
                if wasActivePhase { job.activeTasks -= 1 }
                job.succeededTasks += 1
                job.stages[t.stage].remaining -= 1
                let stageDone = job.stages[t.stage].remaining == 0
                if stageDone { job.stages[t.stage].state = .succeeded }
                let allDone = stageDone && job.stages.allSatisfy { $0.state == .succeeded }
                jobs[t.job] = job
                if allDone {
                    finishJob(t.job, .succeeded, reason: "", &out)
                } else if stageDone {
                    startReadyStages(t.job, &out)
                }
            case .failed(let reason, _), .timedOut(let reason):
                guard active else { continue }
                var ended = AttemptState.failed
                if case .timedOut = r.outcome { ended = .timedOut }
                endAttempt(r.attempt, ended, reason: reason, &out)
                if case .failed(_, let code) = r.outcome { attempts[r.attempt]!.exitCode = code }
                guard jobState == .running, task().phase == .active, !hasActiveAttempt(task()) else { continue }
                var job = take(t.job)!
                job.stages[t.stage].tasks[t.task].failures += 1
                job.activeTasks -= 1
                let failures = job.stages[t.stage].tasks[t.task].failures
                if failures > job.plan.retries {
                    Self.move(&job.stages[t.stage].tasks[t.task], to: .failed)
                    job.failedTasks += 1
                    job.stages[t.stage].state = .failed
                    jobs[t.job] = job
                    let why = "task \(t.stage).\(t.task) failed after \(failures) attempt\(failures == 1 ? "" : "s"): \(reason)"
                    finishJob(t.job, .failed, reason: why, &out)
                } else {
                    let until = now + config.backoff(afterFailures: failures)
                    Self.move(&job.stages[t.stage].tasks[t.task], to: .backoff)
                    jobs[t.job] = job
                    backoffs.append((until, t))
                }
            case .cancelled:
                guard active else { continue }
                endAttempt(r.attempt, .cancelled, reason: "cancelled on the worker", &out)
                guard jobState == .running, task().phase == .active, !hasActiveAttempt(task()) else { continue }
                var job = take(t.job)!
                Self.move(&job.stages[t.stage].tasks[t.task], to: .pending)
                job.stages[t.stage].ready.push(Int32(t.task))
                job.activeTasks -= 1
                jobs[t.job] = job
            }
        }
    }

    private mutating func markTaskFailed(_ t: TaskKey) {
        guard var job = take(t.job) else { return }
        let phase = job.stages[t.stage].tasks[t.task].phase
        if phase.allows(.failed) {
            Self.move(&job.stages[t.stage].tasks[t.task], to: .failed)
        } else if phase == .pending || phase == .backoff {
            Self.move(&job.stages[t.stage].tasks[t.task], to: .cancelled)
        }
        job.stages[t.stage].state = .failed
        jobs[t.job] = job
    }

    private mutating func endAttempt(_ a: AttemptID, _ state: AttemptState, reason: String, _ out: inout [Action]) {
        guard let att = attempts[a] else { return }
        setAttempt(a, state)
        attempts[a]!.reason = reason
        workers[att.worker]?.active.remove(a)
        out.append(.attemptEnded(a, state, reason: reason))
    }

    private mutating func setAttempt(_ a: AttemptID, _ state: AttemptState) {
        let from = attempts[a]!.state
        guard from != state else { return }
        precondition(from.allows(state),
                     "Internal inconsistency: attempt \(a) cannot go from \(from) to \(state) (this is a bug, please report it)")
        attempts[a]!.state = state
    }

    static func move(_ task: inout Task, to phase: TaskPhase) {
        precondition(task.phase.allows(phase),
                     "Internal inconsistency: task cannot go from \(task.phase) to \(phase) (this is a bug, please report it)")
        task.phase = phase
    }

    // MARK: time

    private mutating func tick(now: Millis, _ out: inout [Action]) {
        let suspectAfter = config.heartbeatInterval * Millis(config.suspectAfterMissed)
        for key in workers.keys.sorted() {
            let w = workers[key]!
            let silence = now - w.lastSeen
            switch w.state {
            case .alive where silence > config.deadAfter, .suspect where silence > config.deadAfter,
                 .draining where silence > config.deadAfter, .recovering where silence > config.deadAfter:
                workerDied(key, reason: w.state == .recovering ? "did not register again after the coordinator restarted"
                                                               : "no heartbeat for \(silence) ms", &out)
            case .alive where silence > suspectAfter:
                setWorker(key, .suspect, reason: "missed \(silence / config.heartbeatInterval) heartbeats", &out)
            default:
                break
            }
        }
        if !backoffs.isEmpty {
            var keep: [(until: Millis, task: TaskKey)] = []
            for b in backoffs {
                guard b.until <= now else { keep.append(b); continue }
                guard jobs[b.task.job]?.state == .running,
                      jobs[b.task.job]!.stages[b.task.stage].tasks[b.task.task].phase == .backoff else { continue }
                Self.move(&jobs[b.task.job]!.stages[b.task.stage].tasks[b.task.task], to: .pending)
                jobs[b.task.job]!.stages[b.task.stage].ready.push(Int32(b.task.task))
            }
            backoffs = keep
        }
    }

    // MARK: scheduling round

    /// One pass over the jobs with ready tasks, handing the open capacity of
    /// alive workers out round-robin across jobs (`weight` tasks per job per
    /// pass), so a small job behind a huge one gets a task in the first round.
    private mutating func schedule(now: Millis, _ out: inout [Action]) {
        guard !runningJobs.isEmpty, workers.values.contains(where: { $0.openSync != nil }) else { return }
        // Lease-ahead beyond free slots is capped at a fair share of the ready
        // tasks, so the first worker to ask does not queue a small job's tasks
        // while the others idle.
        let alive = max(1, workers.values.filter { $0.state == .alive }.count)
        let ready = runningJobs.reduce(0) { sum, id in
            sum + jobs[id]!.stages.reduce(0) { $0 + ($1.state == .running ? $1.ready.count : 0) }
        }
        let fairShare = (ready + alive - 1) / alive
        var demand: [(key: WorkerKey, left: Int)] = workers.values
            .filter { $0.state == .alive && $0.openSync != nil }
            .map { w in (w.key, min(w.openSync!.want, max(0, w.slots - w.active.count) + min(config.leaseAhead, fairShare))) }
            .filter { $0.1 > 0 }
            .sorted { $0.key < $1.key }
        guard !demand.isEmpty else { return }
        var given: [WorkerKey: [Assignment]] = [:]
        var w = 0
        var idle = 0
        if roundRobin >= runningJobs.count { roundRobin = 0 }
        var j = roundRobin
        while !demand.isEmpty, idle < runningJobs.count {
            let id = runningJobs[j]
            var gaveThisJob = 0
            let weight = jobs[id]!.plan.weight
            while gaveThisJob < weight, !demand.isEmpty, let task = popReady(id) {
                let key = demand[w].key
                let a = assign(task, to: key)
                given[key, default: []].append(a)
                demand[w].left -= 1
                if demand[w].left == 0 { demand.remove(at: w) } else { w += 1 }
                if w >= demand.count { w = 0 }
                gaveThisJob += 1
            }
            idle = gaveThisJob == 0 ? idle + 1 : 0
            j = (j + 1) % runningJobs.count
        }
        roundRobin = j
        for key in given.keys.sorted() {
            let open = workers[key]!.openSync!
            workers[key]!.openSync = nil
            out.append(.answerSync(key, token: open.token, given[key]!))
        }
    }

    private mutating func popReady(_ id: JobID) -> TaskKey? {
        guard var job = take(id) else { return nil }
        defer { jobs[id] = job }
        for s in job.stages.indices where job.stages[s].state == .running {
            while let t = job.stages[s].ready.pop() {
                if job.stages[s].tasks[Int(t)].phase == .pending { return TaskKey(job: id, stage: s, task: Int(t)) }
            }
        }
        return nil
    }

    private mutating func assign(_ t: TaskKey, to key: WorkerKey) -> Assignment {
        let id = nextAttemptID
        nextAttemptID += 1
        var job = take(t.job)!
        Self.move(&job.stages[t.stage].tasks[t.task], to: .active)
        job.stages[t.stage].tasks[t.task].attempts.append(id)
        let number = job.stages[t.stage].tasks[t.task].attempts.count
        job.activeTasks += 1
        jobs[t.job] = job
        attempts[id] = Attempt(id: id, task: t, number: number, worker: key, state: .leased)
        workers[key]!.active.insert(id)
        return Assignment(attempt: id, task: t, number: number)
    }
}
