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
///
/// Memory follows what is in flight, not history: a stage's tasks are a
/// range until they are leased (`Stage.untouched`), a task is an object only
/// from its first lease until it ends (`Stage.live`), an attempt only while
/// its task is live, and a finished job keeps only its counters, for
/// `keepFinished`, before it is forgotten. The journal keeps the rest.
public struct Scheduler: Sendable {
    public let config: SchedulerConfig
    public internal(set) var jobs = JobTable()
    public internal(set) var workers: [WorkerKey: Worker] = [:]
    /// Attempts of live tasks (of running jobs) only.
    public internal(set) var attempts: [AttemptID: Attempt] = [:]
    public internal(set) var nextAttemptID: AttemptID = 1
    /// Tasks ready to lease, over all running jobs (a running counter).
    public internal(set) var pendingTasks = 0
    /// Tasks waiting out a retry backoff, over all running jobs.
    public internal(set) var backoffTasks = 0

    /// Running jobs in submission order; the round-robin cursor walks this.
    var runningJobs: [JobID] = []
    private var roundRobin = 0
    /// `scaleUpPending`: lease-ahead is off while workers are being added.
    public private(set) var scaleUpPending = false
    /// Tasks a worker may hold beyond its slots now.
    var leaseAhead: Int { scaleUpPending ? 0 : config.leaseAhead }
    private var roundRobinLow = 0
    private var backoffs: [(until: Millis, task: TaskKey)] = []
    /// Finished jobs in the order they finished, to forget them in that order.
    private var finishedJobs = Queue<FinishedJob>()
    var openSyncs = 0

    struct FinishedJob: Sendable {
        var id: JobID
        var at: Millis
    }

    public init(config: SchedulerConfig = SchedulerConfig()) {
        self.config = config
    }

    // MARK: state

    public struct Job: Sendable {
        public let id: JobID
        public let plan: JobPlan
        public internal(set) var totalTasks: Int
        public internal(set) var state: JobState = .running
        public internal(set) var reason = ""
        public internal(set) var stages: [Stage]
        public internal(set) var succeededTasks = 0
        public internal(set) var failedTasks = 0
        public internal(set) var activeTasks = 0
        public internal(set) var pendingTasks = 0
        public internal(set) var backoffTasks = 0
        public internal(set) var finishedAt: Millis?
        /// Tasks waiting for a slot: pending or in backoff.
        public var queuedTasks: Int { pendingTasks + backoffTasks }
    }

    public struct Stage: Sendable {
        public internal(set) var state: StageState
        public internal(set) var total: Int
        /// Its task count was set by the shell (`stageLaidOut`).
        public internal(set) var laidOut = false
        public let requires: Set<String>
        public let keepsOutputs: Bool
        /// Where each committed task's output is, for a stage that keeps outputs.
        public internal(set) var outputs: [Int32: Output] = [:]
        /// Committed tasks whose output was lost when nobody needed it: they
        /// run again if a stage reading them has to run again.
        public internal(set) var dropped: [Int32: Output] = [:]
        /// Tasks at or after this index were never leased: pending while the
        /// stage runs (waiting before), with nothing in memory. Tasks are
        /// leased from the range in index order, so every task below it has
        /// an attempt in the journal.
        public internal(set) var untouched = 0
        /// Tasks leased at least once that have not ended.
        public internal(set) var live: [Int32: Task] = [:]
        public internal(set) var succeeded = 0
        /// Live tasks made pending again (retries, returns); stale entries are skipped.
        var ready = Queue<Int32>()

        public var remaining: Int { total - succeeded }

        /// A task's phase while its job runs; nil once it ended (succeeded, or
        /// its job finished): the journal has it from then on.
        public func phase(of t: Int) -> TaskPhase? {
            if let task = live[Int32(truncatingIfNeeded: t)] { return task.phase }
            guard t >= untouched, t < total else { return nil }
            switch state {
            case .waiting: return .waiting
            case .running: return .pending
            default: return nil
            }
        }

        public func task(_ t: Int) -> Task? { live[Int32(truncatingIfNeeded: t)] }
    }

    /// A committed task's output: the worker holding it, and its output
    /// epoch (0 at first; one more each time it was lost and ran again).
    public struct Output: Sendable, Equatable {
        public let worker: WorkerKey
        public let epoch: Int
        /// Attempts the task had made by then (a rerun numbers on from here).
        public var attempts = 0
        /// The attempt that wrote it (its name on the worker).
        public var attempt: AttemptID = 0
    }

    public struct Task: Sendable {
        public internal(set) var phase: TaskPhase
        /// The output epoch its next commit belongs to.
        public internal(set) var epoch = 0
        /// Attempts made in earlier epochs.
        public internal(set) var earlierAttempts = 0
        public internal(set) var attempts: [AttemptID] = []
        public internal(set) var failures = 0
        public internal(set) var lost = 0
        /// Its attempts that could not read an input.
        public internal(set) var inputLosses = 0
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
        public internal(set) var capabilities: Set<String> = []
        public internal(set) var state: WorkerState
        public internal(set) var lastSeen: Millis
        /// When it entered its current state.
        public internal(set) var since: Millis
        public internal(set) var active: Set<AttemptID> = []
        /// The open sync request, if any: its token, how many tasks it wants, until when it may wait.
        public internal(set) var openSync: (token: UInt64, want: Int, deadline: Millis)?
        /// Its attempts that were committed (what `sluice status` shows as done).
        public internal(set) var tasksDone = 0
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
            if draining { drain(key, now: now, &out) }
        case .sync(let key, let token, let want, let deadline, let started, let finished, let released, let draining):
            sync(key, token: token, want: want, deadline: deadline, started: started, finished: finished, released: released,
                 draining: draining, now: now, &out)
        case .workerLeft(let key):
            if let w = workers[key], w.state != .left {
                closeSync(key, &out)
                loseAttempts(of: key, countTowardPoison: false, reason: "worker \(key) left", now: now, &out)
                setWorker(key, .left, reason: "left the cluster", now: now, &out)
                loseOutputs(of: key, reason: "worker \(key) left", &out)
            }
        case .cancel(let id, let reason):
            if jobs[id]?.state == .running {
                finishJob(id, .cancelled, reason: reason, now: now, &out)
            }
        case .outputLost(let t, let epoch, let reason):
            loseOutput(t, epoch: epoch, reason: reason, &out)
        case .stageLaidOut(let id, let stage, let tasks):
            layOut(id, stage: stage, tasks: tasks, &out)
        case .resultDelivered(let id):
            if let job = jobs[id], job.state == .running, job.plan.deliversResult, job.stages.allSatisfy({ $0.state == .succeeded }) {
                finishJob(id, .succeeded, reason: "", now: now, &out)
            }
        case .tick:
            tick(now: now, &out)
        case .scaleUpPending(let pending):
            scaleUpPending = pending
        }
        schedule(now: now, &out)
        expireSyncs(now: now, &out)
        return out
    }

    /// Open syncs whose deadline has come are answered empty (a report that
    /// may not wait has deadline `now`, so it is answered in the same step).
    private mutating func expireSyncs(now: Millis, _ out: inout [Action]) {
        guard openSyncs > 0 else { return }
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
        let stages = plan.stages.map { Stage(state: .waiting, total: $0.tasks, requires: $0.requires, keepsOutputs: $0.keepsOutputs) }
        jobs[id] = Job(id: id, plan: plan, totalTasks: plan.stages.reduce(0) { $0 + $1.tasks }, stages: stages)
        runningJobs.append(id)
        startReadyStages(id, &out)
    }

    /// Starts every waiting stage whose dependencies have succeeded: its
    /// untouched range becomes pending.
    /// A stage laid out by the shell is asked for first (`layoutNeeded`), and
    /// starts when the answer comes.
    mutating func startReadyStages(_ id: JobID, _ out: inout [Action]) {
        guard let job = jobs[id], job.state == .running else { return }
        for s in job.stages.indices where job.stages[s].state == .waiting {
            let deps = job.plan.stages[s].dependsOn
            guard deps.allSatisfy({ jobs[id]!.stages[$0].state == .succeeded }) else { continue }
            if job.plan.stages[s].laidOutWhenReady && !job.stages[s].laidOut {
                out.append(.layoutNeeded(id, stage: s))
                continue
            }
            jobs[id]!.stages[s].state = .running
            adjust(id, .pending, job.stages[s].total - job.stages[s].untouched)
        }
    }

    /// The shell's answer to `layoutNeeded`: the stage's task count, then its start.
    private mutating func layOut(_ id: JobID, stage s: Int, tasks: Int, _ out: inout [Action]) {
        guard let job = jobs[id], job.state == .running, s >= 0, s < job.stages.count, job.plan.stages[s].laidOutWhenReady else { return }
        let stage = job.stages[s]
        let limit = stage.keepsOutputs ? JobPlan.maxTasksKeepingOutputs : JobPlan.maxTasksPerStage
        guard !stage.laidOut, stage.state == .waiting, stage.untouched == 0, stage.live.isEmpty, (1...limit).contains(tasks),
              job.plan.stages[s].dependsOn.allSatisfy({ job.stages[$0].state == .succeeded }) else { return }
        jobs[id]!.totalTasks += tasks - stage.total
        jobs[id]!.stages[s].total = tasks
        jobs[id]!.stages[s].laidOut = true
        startReadyStages(id, &out)
    }

    mutating func finishJob(_ id: JobID, _ state: JobState, reason: String, now: Millis, _ out: inout [Action]) {
        guard let job = jobs[id], job.state == .running else { return }
        var cancels: [WorkerKey: [Assignment]] = [:]
        for s in job.stages.indices {
            for (_, task) in job.stages[s].live {
                for a in task.attempts {
                    if let att = attempts[a], att.state.isActive {
                        endAttempt(a, .cancelled, reason: "job \(state.rawValue): \(reason)", &out)
                        cancels[att.worker, default: []].append(Assignment(attempt: a, task: att.task, number: att.number))
                    }
                    attempts[a] = nil
                }
            }
            jobs[id]!.stages[s].live = [:]
            jobs[id]!.stages[s].ready = Queue()
            if job.stages[s].state == .waiting || job.stages[s].state == .running {
                jobs[id]!.stages[s].state = state == .succeeded ? .succeeded : .cancelled
            }
        }
        pendingTasks -= job.pendingTasks
        backoffTasks -= job.backoffTasks
        jobs[id]!.pendingTasks = 0
        jobs[id]!.backoffTasks = 0
        jobs[id]!.activeTasks = 0
        jobs[id]!.state = state
        jobs[id]!.reason = reason
        jobs[id]!.finishedAt = now
        runningJobs.removeAll { $0 == id }
        finishedJobs.push(FinishedJob(id: id, at: now))
        for (w, list) in cancels.sorted(by: { $0.key < $1.key }) where workers[w]?.state != .dead {
            out.append(.cancel(w, list.sorted { $0.attempt < $1.attempt }))
        }
        out.append(.jobEnded(id, state, reason: reason))
    }

    // MARK: task bookkeeping (every phase change goes through here, so the counters hold)

    /// Moves a live task to `phase`.
    mutating func move(_ t: TaskKey, to phase: TaskPhase) {
        let k = Int32(t.task)
        let from = jobs[t.job]!.stages[t.stage].live[k]!.phase
        precondition(from.allows(phase),
                     "Internal inconsistency: task \(t) cannot go from \(from) to \(phase) (this is a bug, please report it)")
        jobs[t.job]!.stages[t.stage].live[k]!.phase = phase
        adjust(t.job, from, -1)
        adjust(t.job, phase, 1)
    }

    mutating func adjust(_ id: JobID, _ phase: TaskPhase, _ delta: Int) {
        switch phase {
        case .pending:
            jobs[id]!.pendingTasks += delta
            pendingTasks += delta
        case .backoff:
            jobs[id]!.backoffTasks += delta
            backoffTasks += delta
        case .active: jobs[id]!.activeTasks += delta
        case .succeeded: jobs[id]!.succeededTasks += delta
        case .failed: jobs[id]!.failedTasks += delta
        case .waiting, .cancelled: break
        }
    }

    /// A task that ended leaves memory, with its attempts (all ended by now).
    private mutating func forget(_ t: TaskKey) {
        guard let task = jobs[t.job]?.stages[t.stage].live.removeValue(forKey: Int32(t.task)) else { return }
        for a in task.attempts { attempts[a] = nil }
    }

    private func live(_ t: TaskKey) -> Task? {
        jobs[t.job]?.stages[t.stage].live[Int32(t.task)]
    }

    // MARK: workers

    private mutating func join(_ info: WorkerInfo, running: [AttemptID], queued: [AttemptID], finished: [Report], now: Millis, _ out: inout [Action]) {
        // Another incarnation of the same worker is gone for good.
        for (key, w) in workers where key.id == info.key.id && key != info.key && w.state != .dead && w.state != .left {
            workerDied(key, reason: "restarted as incarnation \(info.key.incarnation)", now: now, &out)
        }
        let key = info.key
        if var w = workers[key] {
            w.slots = info.slots
            w.capabilities = info.capabilities
            w.lastSeen = now
            workers[key] = w
            if w.state != .alive { setWorker(key, .alive, reason: "registered again", now: now, &out) }
        } else {
            workers[key] = Worker(key: key, slots: info.slots, capabilities: info.capabilities, state: .alive, lastSeen: now, since: now)
            out.append(.workerChanged(key, .alive, reason: "joined with \(info.slots) slots"))
        }
        finish(finished, from: key, now: now, &out)
        // Reconcile what the worker holds with what the scheduler thinks it holds.
        let held = Set(running).union(queued)
        for a in workers[key]!.active.sorted() where !held.contains(a) {
            // The worker never got it (the lease reply was lost) or forgot it: hand it back without penalty.
            returnToQueue(a, reason: "worker \(key) does not hold it after re-registering", &out)
        }
        var stray: [Assignment] = []
        let runningSet = Set(running)
        for a in running + queued where !(workers[key]!.active.contains(a)) {
            if !adopt(a, on: key, running: runningSet.contains(a), &out) {
                // Unknown here (its task ended) or taken over by another attempt: stop it.
                let task = attempts[a]?.task ?? TaskKey(job: JobID(""), stage: 0, task: 0)
                stray.append(Assignment(attempt: a, task: task, number: attempts[a]?.number ?? 0))
            }
        }
        for a in running where workers[key]!.active.contains(a) {
            if attempts[a]?.state == .leased { setAttempt(a, .running) }
        }
        if !stray.isEmpty { out.append(.cancel(key, stray)) }
    }

    /// A lost attempt reported still alive by a rejoining worker: take it back
    /// when its task has no other attempt going and is not done.
    private mutating func adopt(_ a: AttemptID, on key: WorkerKey, running: Bool, _ out: inout [Action]) -> Bool {
        guard let att = attempts[a], att.worker == key, att.state == .lost, let task = live(att.task) else { return false }
        let t = att.task
        guard task.phase == .pending || task.phase == .backoff else { return false }
        if task.phase == .backoff {
            backoffs.removeAll { $0.task == t }
            move(t, to: .pending)
        }
        move(t, to: .active)
        // Its loss counted toward poison; it turned out alive.
        if task.lost > 0 { jobs[t.job]!.stages[t.stage].live[Int32(t.task)]!.lost -= 1 }
        attempts[a]!.state = running ? .running : .leased
        attempts[a]!.reason = ""
        workers[key]!.active.insert(a)
        out.append(.attemptEnded(AttemptEnd(attempt: a, task: t, state: attempts[a]!.state, reason: "re-adopted from rejoining worker \(key)")))
        return true
    }

    private mutating func seen(_ key: WorkerKey, now: Millis, _ out: inout [Action]) {
        guard workers[key] != nil else { return }
        workers[key]!.lastSeen = now
        if workers[key]!.state == .suspect { setWorker(key, .alive, reason: "heard from again", now: now, &out) }
    }

    private mutating func drain(_ key: WorkerKey, now: Millis, _ out: inout [Action]) {
        guard let w = workers[key], w.state == .alive || w.state == .suspect else { return }
        setWorker(key, .draining, reason: "draining: no new tasks", now: now, &out)
    }

    private mutating func workerDied(_ key: WorkerKey, reason: String, now: Millis, _ out: inout [Action]) {
        guard let w = workers[key], w.state != .dead, w.state != .left else { return }
        closeSync(key, &out)
        setWorker(key, .dead, reason: reason, now: now, &out)
        loseAttempts(of: key, countTowardPoison: true, reason: "worker \(key) died: \(reason)", now: now, &out)
        loseOutputs(of: key, reason: "worker \(key) died: \(reason)", &out)
    }

    // MARK: outputs

    /// Every output the worker held is lost (those of running jobs' stages that keep outputs).
    private mutating func loseOutputs(of key: WorkerKey, reason: String, _ out: inout [Action]) {
        for id in runningJobs {
            for s in jobs[id]!.stages.indices where jobs[id]!.stages[s].keepsOutputs {
                for (t, o) in jobs[id]!.stages[s].outputs.sorted(by: { $0.key < $1.key }) where o.worker == key {
                    loseOutput(TaskKey(job: id, stage: s, task: Int(t)), epoch: o.epoch, reason: reason, &out)
                }
            }
        }
    }

    /// Output lost: the committed output of `t` at `epoch` is gone. When a
    /// stage depending on its stage has not succeeded yet, the task returns to
    /// pending under the next epoch and its stage reopens (the stages reading
    /// it lease nothing until it succeeds again); otherwise nobody needs it
    /// now and nothing runs, but it is remembered (`dropped`): should a stage
    /// reading it reopen later, it runs again first. A stale epoch (already
    /// lost and rerun) changes nothing.
    mutating func loseOutput(_ t: TaskKey, epoch: Int, reason: String, _ out: inout [Action]) {
        guard let job = jobs[t.job], job.state == .running, t.stage >= 0, t.stage < job.stages.count else { return }
        let k = Int32(truncatingIfNeeded: t.task)
        guard let o = job.stages[t.stage].outputs[k], o.epoch == epoch else { return }
        jobs[t.job]!.stages[t.stage].outputs[k] = nil
        // The last stage of a job delivering a result is needed until the job ends.
        let needed = (job.plan.deliversResult && t.stage == job.stages.count - 1) || job.plan.stages.indices.contains { c in
            job.plan.stages[c].dependsOn.contains(t.stage) && job.stages[c].state != .succeeded
        }
        if needed {
            rerun(t, after: o, reason: reason, &out)
        } else {
            jobs[t.job]!.stages[t.stage].dropped[k] = o
        }
    }

    /// A committed task whose output `o` is gone runs again under the next epoch.
    private mutating func rerun(_ t: TaskKey, after o: Output, reason: String, _ out: inout [Action]) {
        let k = Int32(truncatingIfNeeded: t.task)
        let reopens = jobs[t.job]!.stages[t.stage].state == .succeeded
        jobs[t.job]!.stages[t.stage].live[k] = Task(phase: .succeeded, epoch: o.epoch + 1, earlierAttempts: o.attempts)
        jobs[t.job]!.stages[t.stage].succeeded -= 1
        jobs[t.job]!.stages[t.stage].state = .running
        move(t, to: .pending)
        jobs[t.job]!.stages[t.stage].ready.push(k)
        out.append(.outputLost(t, epoch: o.epoch + 1, reason: reason))
        guard reopens else { return }
        // The stage runs again: what it reads must exist again too.
        for d in jobs[t.job]!.plan.stages[t.stage].dependsOn {
            for (dk, dropped) in jobs[t.job]!.stages[d].dropped.sorted(by: { $0.key < $1.key }) {
                jobs[t.job]!.stages[d].dropped[dk] = nil
                rerun(TaskKey(job: t.job, stage: d, task: Int(dk)), after: dropped,
                      reason: "stage \(t.stage) runs again and reads it; it was lost earlier", &out)
            }
        }
    }

    /// Every attempt the worker holds is lost and goes back to the queue
    /// without using up a retry. When `countTowardPoison`, those that were
    /// running count toward poison: the ones reported started, and, since a
    /// task that kills its worker at once dies before its start is reported,
    /// the oldest leased ones that could have filled the remaining slots (a
    /// worker runs its leases in order). Queued lease-ahead never counts.
    private mutating func loseAttempts(of key: WorkerKey, countTowardPoison: Bool, reason: String, now: Millis, _ out: inout [Action]) {
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
            guard mayHaveRun, countTowardPoison, live(att.task) != nil else { continue }
            let t = att.task
            jobs[t.job]!.stages[t.stage].live[Int32(t.task)]!.lost += 1
            let lost = live(t)!.lost
            if lost >= config.poisonAfterLost {
                let why = "task \(t.stage).\(t.task) is poison: its attempts were running on \(lost) workers that died (last: \(reason))"
                failTask(t)
                finishJob(t.job, .failed, reason: why, now: now, &out)
            }
        }
    }

    /// Ends an active attempt as lost and makes its task pending again.
    private mutating func returnToQueue(_ a: AttemptID, reason: String, _ out: inout [Action]) {
        guard let att = attempts[a], att.state.isActive else { return }
        endAttempt(a, .lost, reason: reason, &out)
        let t = att.task
        guard let task = live(t), task.phase == .active, !hasActiveAttempt(task) else { return }
        move(t, to: .pending)
        jobs[t.job]!.stages[t.stage].ready.push(Int32(t.task))
    }

    private func hasActiveAttempt(_ task: Task) -> Bool {
        task.attempts.contains { attempts[$0]?.state.isActive == true }
    }

    private mutating func setWorker(_ key: WorkerKey, _ state: WorkerState, reason: String, now: Millis, _ out: inout [Action]) {
        guard let w = workers[key], w.state != state else { return }
        precondition(w.state.allows(state),
                     "Internal inconsistency: worker \(key) cannot go from \(w.state) to \(state) (this is a bug, please report it)")
        workers[key]!.state = state
        workers[key]!.since = now
        out.append(.workerChanged(key, state, reason: reason))
        if state != .alive { closeSync(key, &out) }
    }

    private mutating func closeSync(_ key: WorkerKey, _ out: inout [Action]) {
        guard let open = workers[key]?.openSync else { return }
        workers[key]!.openSync = nil
        openSyncs -= 1
        out.append(.answerSync(key, token: open.token, []))
    }

    // MARK: sync and results

    private mutating func sync(_ key: WorkerKey, token: UInt64, want: Int, deadline: Millis, started: [AttemptID], finished: [Report],
                               released: [AttemptID], draining: Bool, now: Millis, _ out: inout [Action]) {
        guard workers[key] != nil else {
            out.append(.answerSync(key, token: token, []))
            return
        }
        seen(key, now: now, &out)
        // Before the released tasks return to the queue, so they cannot come back to this worker.
        if draining { drain(key, now: now, &out) }
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
        let room = max(0, min(want, w.slots + leaseAhead - w.active.count))
        if w.state == .alive, room > 0 {
            workers[key]!.openSync = (token, room, deadline)
            openSyncs += 1
        } else {
            out.append(.answerSync(key, token: token, []))
        }
    }

    private mutating func finish(_ reports: [Report], from key: WorkerKey, now: Millis, _ out: inout [Action]) {
        for r in reports {
            // A worker reports only on attempts it was given; an attempt is
            // known only while its task is live, so anything else is discarded.
            guard let att = attempts[r.attempt], att.worker == key, let task = live(att.task) else { continue }
            let t = att.task
            let active = att.state.isActive
            switch r.outcome {
            case .succeeded:
                guard active || att.state == .lost || att.state == .cancelled else { continue }
                if active {
                    endAttempt(r.attempt, .succeeded, reason: "", &out)
                } else {
                    setAttempt(r.attempt, .succeeded)
                    out.append(.attemptEnded(AttemptEnd(attempt: r.attempt, task: t, state: .succeeded, reason: "late result accepted")))
                }
                // Other attempts of this task are now redundant.
                var cancels: [WorkerKey: [Assignment]] = [:]
                for other in task.attempts where other != r.attempt {
                    if let o = attempts[other], o.state.isActive {
                        endAttempt(other, .cancelled, reason: "attempt \(r.attempt) committed first", &out)
                        cancels[o.worker, default: []].append(Assignment(attempt: other, task: t, number: o.number))
                    }
                }
                for (w, list) in cancels.sorted(by: { $0.key < $1.key }) { out.append(.cancel(w, list)) }
                if task.phase == .backoff { backoffs.removeAll { $0.task == t } }
                workers[key]?.tasksDone += 1
                move(t, to: .succeeded)
                if jobs[t.job]!.stages[t.stage].keepsOutputs {
                    jobs[t.job]!.stages[t.stage].outputs[Int32(t.task)] = Output(worker: key, epoch: task.epoch, attempts: task.earlierAttempts + task.attempts.count,
                                                                                    attempt: r.attempt)
                }
                forget(t)
                jobs[t.job]!.stages[t.stage].succeeded += 1
                let stageDone = jobs[t.job]!.stages[t.stage].remaining == 0
                if stageDone { jobs[t.job]!.stages[t.stage].state = .succeeded }
                if stageDone && jobs[t.job]!.stages.allSatisfy({ $0.state == .succeeded }) {
                    if jobs[t.job]!.plan.deliversResult {
                        out.append(.resultReady(t.job))
                    } else {
                        finishJob(t.job, .succeeded, reason: "", now: now, &out)
                    }
                } else if stageDone {
                    startReadyStages(t.job, &out)
                }
            case .failed(let reason, let code), .timedOut(let reason, let code):
                guard active else { continue }
                let ended: AttemptState
                if case .timedOut = r.outcome { ended = .timedOut } else { ended = .failed }
                attempts[r.attempt]!.exitCode = code
                endAttempt(r.attempt, ended, reason: reason, &out)
                guard let task = live(t), task.phase == .active, !hasActiveAttempt(task) else { continue }
                jobs[t.job]!.stages[t.stage].live[Int32(t.task)]!.failures += 1
                let failures = task.failures + 1
                if failures > jobs[t.job]!.plan.retries {
                    let why = "task \(t.stage).\(t.task) failed after \(failures) attempt\(failures == 1 ? "" : "s"): \(reason)"
                    failTask(t)
                    finishJob(t.job, .failed, reason: why, now: now, &out)
                } else {
                    move(t, to: .backoff)
                    backoffs.append((now + config.backoff(afterFailures: failures), t))
                }
            case .cancelled:
                guard active else { continue }
                endAttempt(r.attempt, .cancelled, reason: "cancelled on the worker", &out)
                guard let task = live(t), task.phase == .active, !hasActiveAttempt(task) else { continue }
                move(t, to: .pending)
                jobs[t.job]!.stages[t.stage].ready.push(Int32(t.task))
            case .inputLost(let producer, let epoch, let reason):
                guard active else { continue }
                // Only a stage this one reads from: anything else is a confused report, and an ordinary failure.
                guard producer.job == t.job, jobs[t.job]!.plan.stages[t.stage].dependsOn.contains(producer.stage) else {
                    finish([Report(attempt: r.attempt, outcome: .failed(reason: reason, exitCode: 1))], from: key, now: now, &out)
                    continue
                }
                endAttempt(r.attempt, .failed, reason: "input lost: \(reason)", &out)
                loseOutput(producer, epoch: epoch, reason: reason, &out)
                guard let task = live(t), task.phase == .active, !hasActiveAttempt(task) else { continue }
                jobs[t.job]!.stages[t.stage].live[Int32(t.task)]!.inputLosses += 1
                if task.inputLosses + 1 >= config.failAfterInputLosses {
                    let why = "task \(t.stage).\(t.task) could not read its input \(task.inputLosses + 1) times; the last: \(reason)"
                    failTask(t)
                    finishJob(t.job, .failed, reason: why, now: now, &out)
                    continue
                }
                move(t, to: .pending)
                jobs[t.job]!.stages[t.stage].ready.push(Int32(t.task))
            }
        }
    }

    /// A task out of attempts (or poison): failed, and its stage with it.
    private mutating func failTask(_ t: TaskKey) {
        guard let task = live(t) else { return }
        if task.phase == .backoff { move(t, to: .pending) }
        move(t, to: .failed)
        forget(t)
        jobs[t.job]!.stages[t.stage].state = .failed
    }

    private mutating func endAttempt(_ a: AttemptID, _ state: AttemptState, reason: String, _ out: inout [Action]) {
        guard let att = attempts[a] else { return }
        setAttempt(a, state)
        attempts[a]!.reason = reason
        workers[att.worker]?.active.remove(a)
        out.append(.attemptEnded(AttemptEnd(attempt: a, task: att.task, state: state, reason: reason, exitCode: attempts[a]!.exitCode)))
    }

    private mutating func setAttempt(_ a: AttemptID, _ state: AttemptState) {
        let from = attempts[a]!.state
        guard from != state else { return }
        precondition(from.allows(state),
                     "Internal inconsistency: attempt \(a) cannot go from \(from) to \(state) (this is a bug, please report it)")
        attempts[a]!.state = state
    }

    // MARK: time

    private mutating func tick(now: Millis, _ out: inout [Action]) {
        let suspectAfter = config.heartbeatInterval * Millis(config.suspectAfterMissed)
        var forgettable: [WorkerKey] = []
        for key in workers.keys.sorted() {
            let w = workers[key]!
            let silence = now - w.lastSeen
            switch w.state {
            case .alive where silence > config.deadAfter, .suspect where silence > config.deadAfter,
                 .draining where silence > config.deadAfter, .recovering where silence > config.deadAfter:
                workerDied(key, reason: w.state == .recovering ? "did not register again after the coordinator restarted"
                                                               : "no heartbeat for \(silence) ms", now: now, &out)
            case .alive where silence > suspectAfter:
                setWorker(key, .suspect, reason: "missed \(silence / config.heartbeatInterval) heartbeats", now: now, &out)
            case .dead where now - w.since >= config.forgetWorkersAfter && w.active.isEmpty,
                 .left where now - w.since >= config.forgetWorkersAfter && w.active.isEmpty:
                forgettable.append(key)
            default:
                break
            }
        }
        for key in forgettable {
            workers[key] = nil
            out.append(.workerForgotten(key))
        }
        if !backoffs.isEmpty {
            var keep: [(until: Millis, task: TaskKey)] = []
            for b in backoffs {
                guard b.until <= now else { keep.append(b); continue }
                guard live(b.task)?.phase == .backoff else { continue }
                move(b.task, to: .pending)
                jobs[b.task.job]!.stages[b.task.stage].ready.push(Int32(b.task.task))
            }
            backoffs = keep
        }
        while let head = finishedJobs.first, head.at + config.keepFinished <= now {
            _ = finishedJobs.pop()
            if jobs[head.id]?.state.isFinal == true {
                jobs[head.id] = nil
                out.append(.jobForgotten(head.id))
            }
        }
    }

    // MARK: scheduling round

    /// One pass over the jobs with ready tasks, handing the open capacity of
    /// alive workers out round-robin across jobs (`weight` tasks per job per
    /// pass), so a small job behind a huge one gets a task in the first round.
    /// A task goes only to a worker that offers every capability its stage requires.
    /// Jobs of the low lane (backfills) come second and take only free slots,
    /// never a lease ahead: their queue stays here, so a normal job's task
    /// takes the next slot that frees, however many low tasks wait.
    private mutating func schedule(now: Millis, _ out: inout [Action]) {
        guard openSyncs > 0, pendingTasks > 0, !runningJobs.isEmpty else { return }
        // Lease-ahead beyond free slots is capped at a fair share of the ready
        // tasks, so the first worker to ask does not queue a small job's tasks
        // while the others idle.
        var alive = 0
        var open: [Demand] = []
        for w in workers.values where w.state == .alive {
            alive += 1
            if let o = w.openSync { open.append((w.key, o.want, w.capabilities)) }
        }
        guard !open.isEmpty else { return }
        open.sort { $0.key < $1.key }
        var normal: [JobID] = [], low: [JobID] = []
        for id in runningJobs { if jobs[id]!.plan.lane == .low { low.append(id) } else { normal.append(id) } }
        var given: [WorkerKey: [Assignment]] = [:]
        let normalPending = normal.reduce(0) { $0 + jobs[$1]!.pendingTasks }
        let fairShare = (normalPending + alive - 1) / max(1, alive)
        if normalPending > 0 {
            var demand: [Demand] = open.map { d in
                let w = workers[d.key]!
                return (d.key, min(d.left, max(0, w.slots - w.active.count) + min(leaseAhead, fairShare)), d.capabilities)
            }.filter { $0.left > 0 }
            var cursor = roundRobin
            handOut(normal, &demand, &given, cursor: &cursor)
            roundRobin = cursor
        }
        if !low.isEmpty {
            var demand: [Demand] = open.map { d in
                let w = workers[d.key]!
                let handed = given[d.key]?.count ?? 0
                return (d.key, min(d.left - handed, max(0, w.slots - w.active.count)), d.capabilities)   // `active` holds what was just given
            }.filter { $0.left > 0 }
            var cursor = roundRobinLow
            handOut(low, &demand, &given, cursor: &cursor)
            roundRobinLow = cursor
        }
        for key in given.keys.sorted() {
            let open = workers[key]!.openSync!
            workers[key]!.openSync = nil
            openSyncs -= 1
            out.append(.answerSync(key, token: open.token, given[key]!))
        }
    }

    /// A worker with an open sync: how many tasks it may still take, and what it can run.
    typealias Demand = (key: WorkerKey, left: Int, capabilities: Set<String>)

    /// Hands `demand` (what each worker may still take) out round-robin over
    /// `lane`'s jobs, starting at `cursor`.
    private mutating func handOut(_ lane: [JobID], _ demand: inout [Demand],
                                  _ given: inout [WorkerKey: [Assignment]], cursor: inout Int) {
        guard !demand.isEmpty, !lane.isEmpty else { return }
        var w = 0
        var idle = 0
        if cursor >= lane.count { cursor = 0 }
        var j = cursor
        while !demand.isEmpty, idle < lane.count {
            let id = lane[j]
            var gaveThisJob = 0
            let weight = jobs[id]!.plan.weight
            job: while gaveThisJob < weight, !demand.isEmpty, jobs[id]!.pendingTasks > 0 {
                // The next worker in turn, or the first after it that can run one of this job's tasks.
                for step in 0..<demand.count {
                    let i = (w + step) % demand.count
                    guard let task = popReady(id, capabilities: demand[i].capabilities) else { continue }
                    let key = demand[i].key
                    given[key, default: []].append(assign(task, to: key))
                    demand[i].left -= 1
                    if demand[i].left == 0 {
                        demand.remove(at: i)
                        w = i
                    } else {
                        w = i + 1
                    }
                    if w >= demand.count { w = 0 }
                    gaveThisJob += 1
                    continue job
                }
                break
            }
            idle = gaveThisJob == 0 ? idle + 1 : 0
            j = (j + 1) % lane.count
        }
        cursor = j
    }

    /// The next pending task of a job that a worker with these capabilities
    /// may run: tasks made pending again first, then the untouched range.
    private mutating func popReady(_ id: JobID, capabilities: Set<String>) -> TaskKey? {
        guard let job = jobs[id], job.pendingTasks > 0 else { return nil }
        for s in job.stages.indices where job.stages[s].state == .running {
            guard job.stages[s].requires.isSubset(of: capabilities) else { continue }
            // A stage whose input was lost waits for it to be made again.
            guard job.plan.stages[s].dependsOn.allSatisfy({ job.stages[$0].state == .succeeded }) else { continue }
            while let t = jobs[id]!.stages[s].ready.pop() {
                if jobs[id]!.stages[s].live[t]?.phase == .pending { return TaskKey(job: id, stage: s, task: Int(t)) }
            }
            let next = jobs[id]!.stages[s].untouched
            if next < job.stages[s].total {
                jobs[id]!.stages[s].untouched = next + 1
                jobs[id]!.stages[s].live[Int32(next)] = Task(phase: .pending)
                return TaskKey(job: id, stage: s, task: next)
            }
        }
        return nil
    }

    private mutating func assign(_ t: TaskKey, to key: WorkerKey) -> Assignment {
        let id = nextAttemptID
        nextAttemptID += 1
        move(t, to: .active)
        jobs[t.job]!.stages[t.stage].live[Int32(t.task)]!.attempts.append(id)
        let number = live(t)!.earlierAttempts + live(t)!.attempts.count
        attempts[id] = Attempt(id: id, task: t, number: number, worker: key, state: .leased)
        workers[key]!.active.insert(id)
        return Assignment(attempt: id, task: t, number: number)
    }
}
