import Columnar
import SQL
import Synchronization

/// Runs a `StagePlan` in this process the way the cluster runs it: stage by
/// stage, each task on its own, every task's output encoded into buckets of
/// batch bytes (LZ4) and read back by the next stage's tasks. What it checks
/// is the cut and the shuffle; the network is the worker's business.
public enum StagedQuery {
    /// The result stage's rows, in order.
    public static func run(_ plan: StagePlan, threads: Int, cancel: Cancellation) throws(SQLError) -> [RecordBatch] {
        let store = MemoryShuffle(stages: plan.stages.count)
        for stage in plan.stages {
            for t in 0..<stage.tasks {
                try cancel.check()
                let buckets = try StageTask.run(stage, task: t, threads: threads, reader: store, cancel: cancel)
                store.write(stage: stage.id, task: t, buckets: buckets)
            }
        }
        return try store.read(stage: plan.stages.count - 1, bucket: 0).flatMap { $0 }
    }
}

/// Task outputs held as encoded batches, per stage, task and bucket.
final class MemoryShuffle: StageReader, Sendable {
    private let outputs: Mutex<[[Int: [[UInt8]]]]>

    init(stages: Int) {
        outputs = Mutex(Array(repeating: [:], count: stages))
    }

    func write(stage: Int, task: Int, buckets: [[RecordBatch]]) {
        let encoded = buckets.map(BatchCodec.encodeAll)
        outputs.withLock { $0[stage][task] = encoded }
    }

    func read(stage: Int, bucket: Int) throws(SQLError) -> [[RecordBatch]] {
        let tasks = outputs.withLock { all in stage >= 0 && stage < all.count ? all[stage] : [:] }
        var out: [[RecordBatch]] = []
        for t in tasks.keys.sorted() {
            guard bucket < tasks[t]!.count else { throw SQLError.execution("stage \(stage) task \(t) wrote no bucket \(bucket)") }
            do { out.append(try BatchCodec.decodeAll(tasks[t]![bucket])) } catch {
                throw SQLError.execution("stage \(stage) task \(t) bucket \(bucket): \(error)")
            }
        }
        return out
    }
}
