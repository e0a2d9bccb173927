extension Scheduler {
    /// The queue and the workers as the autoscaler sees them: every member
    /// counts; those `managed` says the provider started may be released
    /// (nil: all). `starting` is what the provider was asked for that has not registered yet.
    public func autoscaleObservation(now: Millis, starting: Int, managed: ((String) -> Bool)? = nil) -> AutoscaleObservation {
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
            w.state == .alive || w.state == .suspect || w.state == .draining
        }.sorted { $0.key < $1.key }
        return AutoscaleObservation(nowMs: now, pending: queueDepth, leased: leased, running: running,
                                    workers: members.map { .init(id: $0.key.id, busy: !$0.active.isEmpty, holdsNeededOutputs: holders.contains($0.key.id),
                                                                 draining: $0.state == .draining, managed: managed?($0.key.id) ?? true) },
                                    starting: starting)
    }
}
