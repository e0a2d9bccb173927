import Scheduler
import Wire

extension JobSpec {
    /// Why this spec cannot run, or nil when it can.
    var problem: String? {
        if stages.isEmpty { return "the job has no stages" }
        for (i, stage) in stages.enumerated() {
            if stage.tasks == 0 { return "stage \(i) has no tasks (--tasks must be at least 1)" }
            if stage.tasks > JobPlan.maxTasksPerStage { return "stage \(i) has \(stage.tasks) tasks; the limit is \(JobPlan.maxTasksPerStage)" }
            for d in stage.dependsOn where Int(d) >= i {
                return "stage \(i) depends on stage \(d), which is not an earlier stage"
            }
            switch stage.spec.kind {
            case .command:
                guard let c = try? CommandSpec(decoding: stage.spec.payload) else { return "stage \(i): malformed command payload" }
                if c.argv.isEmpty || c.argv[0].isEmpty { return "stage \(i): the command is empty" }
            case .builtin:
                guard let b = try? BuiltinSpec(decoding: stage.spec.payload) else { return "stage \(i): malformed builtin payload" }
                if let why = Builtin.problem(b.action) { return "stage \(i): \(why)" }
            case .sql:
                return "stage \(i): sql tasks are made by the coordinator from queries (sluice query)"
            case .unspecified:
                return "stage \(i): unknown task kind"
            }
        }
        return nil
    }

    var plan: JobPlan {
        JobPlan(stages: stages.map { s in
                    .init(tasks: Int(s.tasks), dependsOn: s.dependsOn.map { Int($0) },
                          requires: Capability.required(by: s.spec.kind).union(s.requires),
                          keepsOutputs: s.spec.kind == .sql)
                },
                retries: retriesSet ? Int(retries) : 3,
                weight: Int(weight),
                // A query's last stage is its result, read by the coordinator once the stages are done.
                deliversResult: stages.last?.spec.kind == .sql,
                lane: lowPriority ? .low : .normal)
    }

    var totalTasks: Int { stages.reduce(0) { $0 + Int($1.tasks) } }
}
