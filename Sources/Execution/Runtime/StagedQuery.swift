import Columnar
import SQL
import Synchronization

/// Runs a `StagePlan` in this process the way the cluster runs it: stage by
/// stage, each task on its own, every task's output encoded into buckets of
/// batch bytes (LZ4) and read back by the next stage's tasks. What it checks
/// is the cut and the shuffle; the network is the worker's business.
public enum StagedQuery {
    /// The result stage's rows, in order (none with `discard`, for EXPLAIN
    /// ANALYZE), and what each stage did.
    public static func run(_ plan: StagePlan, threads: Int, cancel: Cancellation, discard: Bool = false,
                           memoryLimit: Int? = nil, tempDirectory: String = Session.defaultTempDirectory) throws(SQLError) -> StagedRun {
        let spill = SpillSpace(root: tempDirectory)
        defer { spill.close() }
        let store = MemoryShuffle(stages: plan.stages.count)
        var figures: [StageFigures] = []
        for planned in plan.stages {
            var stage = planned
            var changes: [String] = []
            // Its inputs are written: adaptive execution may re-plan how it reads them, as the coordinator does.
            let sizes = Dictionary(uniqueKeysWithValues: stage.dependsOn.map { ($0, store.sizes(stage: $0)) })
            if let decision = AdaptivePlanner.adapt(stage, sizes: sizes, policy: plan.adaptive) {
                stage = decision.stage
                changes = decision.changes
            }
            var f = StageFigures(tasks: stage.tasks, workers: ["this process"])
            f.changes = changes
            let stageStart = monotonicNanos()
            for t in 0..<stage.tasks {
                try cancel.check()
                let start = monotonicNanos()
                let spilledBefore = spill.written
                let (output, rows) = try StageTask.run(stage, task: t, threads: threads, reader: store, cancel: cancel,
                                                       memory: memoryLimit.map { MemoryPool(limit: $0) }, spill: spill)
                f.spilled += UInt64(spill.written - spilledBefore)
                store.write(stage: stage.id, task: t, output: output)
                f.taskSeconds += Double(monotonicNanos() - start) / 1e9
                f.rows += UInt64(rows)
                f.bytes += UInt64(output.sizes.reduce(0, +))
            }
            f.seconds = Double(monotonicNanos() - stageStart) / 1e9
            figures.append(f)
        }
        let rows = discard ? [] : try store.read([.whole(plan.stages.count - 1)]).flatMap { $0 }
        return StagedRun(rows: rows, figures: figures)
    }
}

/// Task outputs as their tasks left them (encoded batches in memory, or files
/// in the run's spill space), per stage and task.
final class MemoryShuffle: StageReader, Sendable {
    private let outputs: Mutex<[[Int: TaskOutput]]>

    init(stages: Int) {
        outputs = Mutex(Array(repeating: [:], count: stages))
    }

    func write(stage: Int, task: Int, output: TaskOutput) {
        outputs.withLock { $0[stage][task] = output }
    }

    func read(_ slices: [InputSlice]) throws(SQLError) -> [[RecordBatch]] {
        var out: [[RecordBatch]] = []
        for slice in slices {
            let tasks = outputs.withLock { all in slice.stage >= 0 && slice.stage < all.count ? all[slice.stage] : [:] }
            for b in slice.buckets {
                for t in slice.producers ?? 0..<tasks.count {
                    guard let output = tasks[t] else { throw SQLError.execution("stage \(slice.stage) has no output of task \(t)") }
                    guard b >= 0, b < output.sizes.count else { throw SQLError.execution("stage \(slice.stage) task \(t) wrote no bucket \(b)") }
                    let bytes = try output.bucket(b)
                    do { out.append(try BatchCodec.decodeAll(bytes)) } catch {
                        throw SQLError.execution("stage \(slice.stage) task \(t) bucket \(b): \(error)")
                    }
                }
            }
        }
        return out
    }

    /// The bytes each task of `stage` wrote into each bucket (what the cluster's workers report).
    func sizes(stage: Int) -> [[UInt64]] {
        outputs.withLock { all in
            guard stage >= 0, stage < all.count else { return [] }
            return all[stage].keys.sorted().map { t in all[stage][t]!.sizes.map { UInt64($0) } }
        }
    }
}
