extension Scheduler {
    /// The queue and the workers as the autoscaler sees them. `ids` limits the
    /// workers to the provider's own (nil: every worker); `starting` is what
    /// the provider was asked for that has not registered yet.
    public func autoscaleObservation(now: Millis, starting: Int, workers ids: Set<String>? = nil) -> AutoscaleObservation {
        var leased = 0, running = 0
        for a in attempts.values {
            if a.state == .leased { leased += 1 } else if a.state == .running { running += 1 }
        }
        // A worker holding a committed output of a running job: losing it would make that task run again.
        var holders: Set<String> = []
        for id in runningJobs {
            for s in jobs[id]!.stages where s.keepsOutputs { for o in s.outputs.values { holders.insert(o.worker.id) } }
        }
        let members = workers.values.filter { w in
            (w.state == .alive || w.state == .suspect || w.state == .draining) && (ids?.contains(w.key.id) ?? true)
        }.sorted { $0.key < $1.key }
        return AutoscaleObservation(nowMs: now, pending: queueDepth, leased: leased, running: running,
                                    workers: members.map { .init(id: $0.key.id, busy: !$0.active.isEmpty, holdsNeededOutputs: holders.contains($0.key.id),
                                                                 draining: $0.state == .draining) },
                                    starting: starting)
    }
}
