/// Read-only views for status commands, and the invariants tests check after every step.
extension Scheduler {
    /// Tasks waiting for a slot: pending or in retry backoff, in running jobs.
    public var queueDepth: Int {
        var n = 0
        for job in jobs.values where job.state == .running {
            for stage in job.stages where stage.state == .running {
                for t in stage.tasks where t.phase == .pending || t.phase == .backoff { n += 1 }
            }
        }
        return n
    }

    public var runningAttempts: Int {
        workers.values.reduce(0) { $0 + $1.active.count }
    }

    /// Jobs in submission order.
    public var jobsInOrder: [Job] {
        jobs.values.sorted { ($0.id.rawValue.count, $0.id.rawValue) < ($1.id.rawValue.count, $1.id.rawValue) }
    }

    /// Everything that must hold between events. Empty when all is well.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        for (key, w) in workers {
            for a in w.active {
                guard let att = attempts[a] else { problems.append("worker \(key) holds unknown attempt \(a)"); continue }
                if !att.state.isActive { problems.append("worker \(key) holds attempt \(a) in state \(att.state)") }
                if att.worker != key { problems.append("worker \(key) holds attempt \(a) of \(att.worker)") }
            }
            if w.openSync != nil && w.state != .alive { problems.append("worker \(key) is \(w.state) with an open sync") }
        }
        for (id, att) in attempts where att.state.isActive {
            if workers[att.worker]?.active.contains(id) != true { problems.append("active attempt \(id) not held by \(att.worker)") }
        }
        for job in jobs.values {
            var active = 0, succeeded = 0
            for (s, stage) in job.stages.enumerated() {
                var remaining = 0
                for (t, task) in stage.tasks.enumerated() {
                    let live = task.attempts.filter { attempts[$0]?.state.isActive == true }
                    let committed = task.attempts.filter { attempts[$0]?.state == .succeeded }
                    if task.phase == .active { active += 1 }
                    if task.phase == .succeeded { succeeded += 1 }
                    if task.phase != .succeeded { remaining += 1 }
                    if task.phase == .active && live.isEmpty { problems.append("\(job.id) task \(s).\(t) active without a live attempt") }
                    if task.phase != .active && !live.isEmpty { problems.append("\(job.id) task \(s).\(t) is \(task.phase) with live attempts \(live)") }
                    if committed.count > 1 { problems.append("\(job.id) task \(s).\(t) has \(committed.count) succeeded attempts") }
                    if task.phase == .succeeded && task.committed == nil { problems.append("\(job.id) task \(s).\(t) succeeded without a committed attempt") }
                    if job.state == .succeeded && task.phase != .succeeded { problems.append("\(job.id) succeeded but task \(s).\(t) is \(task.phase)") }
                    if job.state != .running && task.phase != .succeeded && task.phase != .failed && task.phase != .cancelled {
                        problems.append("\(job.id) is \(job.state) but task \(s).\(t) is \(task.phase)")
                    }
                }
                if stage.remaining != remaining { problems.append("\(job.id) stage \(s) remaining \(stage.remaining) != \(remaining)") }
            }
            if job.state == .running {
                if job.activeTasks != active { problems.append("\(job.id) activeTasks \(job.activeTasks) != \(active)") }
                if job.succeededTasks != succeeded { problems.append("\(job.id) succeededTasks \(job.succeededTasks) != \(succeeded)") }
            }
        }
        return problems
    }
}
