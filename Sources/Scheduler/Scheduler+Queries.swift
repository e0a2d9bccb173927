/// Read-only views for status commands, and the invariants tests check after every step.
extension Scheduler {
    /// Tasks waiting for a slot: pending or in retry backoff, in running jobs.
    public var queueDepth: Int { pendingTasks + backoffTasks }

    /// Attempts held by workers (leased or running).
    public var runningAttempts: Int {
        workers.values.reduce(0) { $0 + $1.active.count }
    }

    /// Attempts held by a worker, told apart: leased (not started yet) and running.
    public func attemptCounts(of key: WorkerKey) -> (leased: Int, running: Int) {
        guard let w = workers[key] else { return (0, 0) }
        var running = 0
        for a in w.active where attempts[a]?.state == .running { running += 1 }
        return (w.active.count - running, running)
    }

    /// Why a running job cannot get its queued tasks onto a worker, or nil
    /// when it can (or has nothing queued).
    public func waitingReason(_ id: JobID) -> WaitingReason? {
        guard let job = jobs[id], job.state == .running, job.queuedTasks > 0 else { return nil }
        let live = workers.values.filter { $0.state == .alive || $0.state == .suspect }
        if live.isEmpty { return .noWorkers }
        for (s, stage) in job.stages.enumerated() where stage.state == .running {
            if !live.contains(where: { stage.requires.isSubset(of: $0.capabilities) }) {
                return .missingCapabilities(stage: s, stage.requires.subtracting(live.reduce(into: Set<String>()) { $0.formUnion($1.capabilities) }))
            }
        }
        return nil
    }

    public enum WaitingReason: Equatable, Sendable {
        /// No worker is alive.
        case noWorkers
        /// No live worker offers every capability the stage requires; these are the ones none offers.
        case missingCapabilities(stage: Int, Set<String>)
    }

    /// Everything that must hold between events. Empty when all is well.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        var syncs = 0
        for (key, w) in workers {
            for a in w.active {
                guard let att = attempts[a] else { problems.append("worker \(key) holds unknown attempt \(a)"); continue }
                if !att.state.isActive { problems.append("worker \(key) holds attempt \(a) in state \(att.state)") }
                if att.worker != key { problems.append("worker \(key) holds attempt \(a) of \(att.worker)") }
            }
            if w.openSync != nil {
                syncs += 1
                if w.state != .alive { problems.append("worker \(key) is \(w.state) with an open sync") }
            }
        }
        if syncs != openSyncs { problems.append("openSyncs \(openSyncs) != \(syncs)") }
        for (id, att) in attempts {
            if att.state.isActive && workers[att.worker]?.active.contains(id) != true { problems.append("active attempt \(id) not held by \(att.worker)") }
            guard let job = jobs[att.task.job], job.state == .running, let task = job.stages[att.task.stage].task(att.task.task) else {
                problems.append("attempt \(id) belongs to no live task (\(att.task))")
                continue
            }
            if !task.attempts.contains(id) { problems.append("attempt \(id) is not listed by its task \(att.task)") }
        }
        var pending = 0, backoff = 0
        for job in jobs.values {
            var active = 0, jobPending = 0, jobBackoff = 0
            for (s, stage) in job.stages.enumerated() {
                if job.state != .running && !stage.live.isEmpty { problems.append("\(job.id) is \(job.state) but stage \(s) has live tasks") }
                if stage.state == .waiting && (stage.untouched != 0 || stage.live.contains { $0.value.phase != .waiting }) {
                    problems.append("\(job.id) stage \(s) is waiting but has leased tasks")
                }
                if stage.state == .running { jobPending += stage.total - stage.untouched }
                if stage.state == .running && stage.succeeded + stage.live.count + (stage.total - stage.untouched) != stage.total {
                    problems.append("\(job.id) stage \(s): \(stage.succeeded) succeeded + \(stage.live.count) live + \(stage.total - stage.untouched) untouched != \(stage.total)")
                }
                for (t, task) in stage.live {
                    let live = task.attempts.filter { attempts[$0]?.state.isActive == true }
                    let committed = task.attempts.filter { attempts[$0]?.state == .succeeded }
                    switch task.phase {
                    case .active: active += 1
                    case .pending: jobPending += 1
                    case .backoff: jobBackoff += 1
                    default: problems.append("\(job.id) task \(s).\(t) is live in phase \(task.phase)")
                    }
                    if Int(t) >= stage.untouched { problems.append("\(job.id) task \(s).\(t) is live but in the untouched range") }
                    if task.phase == .active && live.isEmpty { problems.append("\(job.id) task \(s).\(t) active without a live attempt") }
                    if task.phase != .active && !live.isEmpty { problems.append("\(job.id) task \(s).\(t) is \(task.phase) with live attempts \(live)") }
                    if !committed.isEmpty { problems.append("\(job.id) task \(s).\(t) is live with a succeeded attempt") }
                    for a in task.attempts where attempts[a] == nil { problems.append("\(job.id) task \(s).\(t) lists forgotten attempt \(a)") }
                }
                if job.state == .succeeded && stage.state != .succeeded { problems.append("\(job.id) succeeded but stage \(s) is \(stage.state)") }
                if !stage.keepsOutputs && !stage.outputs.isEmpty { problems.append("\(job.id) stage \(s) keeps no outputs but lists \(stage.outputs.count)") }
                if stage.outputs.count + stage.dropped.count > stage.succeeded {
                    problems.append("\(job.id) stage \(s): \(stage.outputs.count) outputs and \(stage.dropped.count) dropped for \(stage.succeeded) committed tasks")
                }
                for t in stage.dropped.keys where stage.live[t] != nil || stage.outputs[t] != nil { problems.append("\(job.id) task \(s).\(t) is dropped and live or held") }
                for t in stage.outputs.keys where stage.live[t] != nil { problems.append("\(job.id) task \(s).\(t) is live and has an output") }
                if stage.state == .succeeded && stage.succeeded != stage.total { problems.append("\(job.id) stage \(s) succeeded with \(stage.succeeded) of \(stage.total)") }
            }
            if job.state == .succeeded && job.succeededTasks != job.totalTasks { problems.append("\(job.id) succeeded with \(job.succeededTasks) of \(job.totalTasks) tasks") }
            if job.state == .running {
                if job.activeTasks != active { problems.append("\(job.id) activeTasks \(job.activeTasks) != \(active)") }
                if job.pendingTasks != jobPending { problems.append("\(job.id) pendingTasks \(job.pendingTasks) != \(jobPending)") }
                if job.backoffTasks != jobBackoff { problems.append("\(job.id) backoffTasks \(job.backoffTasks) != \(jobBackoff)") }
                let succeeded = job.stages.reduce(0) { $0 + $1.succeeded }
                if job.succeededTasks != succeeded { problems.append("\(job.id) succeededTasks \(job.succeededTasks) != \(succeeded)") }
                pending += jobPending
                backoff += jobBackoff
            } else if job.activeTasks != 0 || job.pendingTasks != 0 || job.backoffTasks != 0 {
                problems.append("\(job.id) is \(job.state) with task counters \(job.activeTasks)/\(job.pendingTasks)/\(job.backoffTasks)")
            }
        }
        if pending != pendingTasks { problems.append("pendingTasks \(pendingTasks) != \(pending)") }
        if backoff != backoffTasks { problems.append("backoffTasks \(backoffTasks) != \(backoff)") }
        return problems
    }
}
