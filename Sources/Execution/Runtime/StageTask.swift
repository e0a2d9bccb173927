public import Columnar
public import SQL

/// What a task of a stage reads from the stages before it: the cluster's
/// shuffle as the engine sees it (the worker implements it over the network).
public protocol StageReader: Sendable {
    /// The rows of `slices`, decoded: a list per (bucket, producer) piece, in
    /// the slices' order (within one, bucket by bucket, producers in task order).
    func read(_ slices: [InputSlice]) throws(SQLError) -> [[RecordBatch]]
    /// The same rows, in the same order, pulled a batch at a time, so reading
    /// can run ahead of the task's work (the worker fetches later producers'
    /// buckets while earlier ones are computed on).
    func stream(_ slices: [InputSlice]) throws(SQLError) -> any StageStream
}

/// A stage input pulled a batch at a time; `close` when no more is wanted.
public protocol StageStream: AnyObject {
    func next() throws(SQLError) -> RecordBatch?
    func close()
}

extension StageReader {
    public func stream(_ slices: [InputSlice]) throws(SQLError) -> any StageStream {
        ListStream(try read(slices).flatMap { $0 })
    }
}

/// Batches already in hand, as a stream.
final class ListStream: StageStream {
    private var batches: [RecordBatch]
    private var index = 0
    init(_ batches: [RecordBatch]) { self.batches = batches }
    func next() throws(SQLError) -> RecordBatch? {
        guard index < batches.count else { return nil }
        index += 1
        return batches[index - 1]
    }
    func close() { batches = [] }
}

/// Runs one task of one stage of a `StagePlan`.
public enum StageTask {
    /// Task `task` of `stage` on `threads` threads; its rows, split into the
    /// stage's output buckets (`stage.output.buckets` lists) as they come, and how many.
    /// `writeTag` names the files a write node writes (the task and its attempt on the cluster).
    /// `memory` and `spill`: the task's memory budget and where it spills (none: unbounded).
    public static func run(_ stage: QueryStage, task: Int, threads: Int, reader: any StageReader, writeTag: String? = nil,
                           cancel: Cancellation, memory: MemoryPool? = nil, spill: SpillSpace? = nil)
        throws(SQLError) -> (output: TaskOutput, rows: Int) {
        guard task >= 0, task < stage.tasks else {
            throw SQLError.execution("stage \(stage.id) has \(stage.tasks) tasks; there is no task \(task)")
        }
        if let layout = stage.layout, layout.count != stage.tasks {
            throw SQLError.execution("Invalid plan: stage \(stage.id) lays out reads for \(layout.count) tasks, not \(stage.tasks)")
        }
        var plan = stage.plan
        if let shares = stage.scanShares {
            guard shares.count == stage.tasks else { throw SQLError.execution("Invalid plan: stage \(stage.id) shares its files among \(shares.count) tasks, not \(stage.tasks)") }
            let share = shares[task]
            plan = try plan.transformUp { (p) throws(SQLError) -> PhysicalPlan in
                guard case .scan(var spec) = p.node else { return p }
                var files: [DataFile] = []
                for part in share {
                    guard part.file >= 0, part.file < spec.files.count else {
                        throw SQLError.execution("Invalid plan: stage \(stage.id) task \(task) reads file \(part.file) of \(spec.files.count)")
                    }
                    var f = spec.files[part.file]
                    f.range = part.range
                    files.append(f)
                }
                spec.files = files
                var q = p
                q.node = .scan(spec)
                return q
            }
        }
        if case .single = plan.partitioning {} else {
            // The task's threads each hold a partition; the readers expect one stream per task.
            var gather = PhysicalPlan(.exchange(.gather(stage.combine)), inputs: [plan], schema: plan.schema)
            gather.id = (plan.allNodes.map(\.id).max() ?? 0) + 1
            plan = gather
        }
        // The subqueries its expressions use, from the stages that computed them.
        let used = StageCutter.subqueriesUsed(plan)
        var subqueryRows: [[RecordBatch]] = []
        guard stage.subqueryTypes.count == stage.subqueries.count, used.allSatisfy({ $0 < stage.subqueries.count }) else {
            throw SQLError.execution("Invalid plan: stage \(stage.id) uses a subquery it does not list")
        }
        for (i, s) in stage.subqueries.enumerated() {
            subqueryRows.append(used.contains(i) ? try reader.read([.whole(s)]).flatMap { $0 } : [])
        }
        let buckets: Int
        var router: HashRouter?
        switch stage.output {
        case .single:
            buckets = 1
        case .hash(let keys, let n):
            guard n >= 1 else { throw SQLError.execution("Invalid plan: stage \(stage.id) writes \(n) buckets") }
            buckets = n
            router = HashRouter(keys: keys, n: n, remix: true)
        }
        let writer = TaskOutputWriter(buckets: buckets, memory: memory, spill: spill)
        try QueryRun(fragment: plan, subqueryRows: subqueryRows, subqueryTypes: stage.subqueryTypes, task: task, reader: reader,
                     reads: stage.layout?[task], writeTag: writeTag ?? "t\(task)", partitions: threads, cancel: cancel,
                     memory: memory, spill: spill).run { (b) throws(SQLError) in
            guard let router else { return try writer.append(b, bucket: 0) }
            for (k, part) in try router.split(b).enumerated() { if let part { try writer.append(part, bucket: k) } }
        }
        return (writer.finish(), writer.rows)
    }
}
