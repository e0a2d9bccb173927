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
    public static func run(_ plan: StagePlan, threads: Int, cancel: Cancellation, discard: Bool = false) throws(SQLError) -> StagedRun {
        let store = MemoryShuffle(stages: plan.stages.count)
        var figures: [StageFigures] = []
        for stage in plan.stages {
            var f = StageFigures(tasks: stage.tasks, workers: ["this process"])
            let stageStart = monotonicNanos()
            for t in 0..<stage.tasks {
                try cancel.check()
                let start = monotonicNanos()
                let buckets = try StageTask.run(stage, task: t, threads: threads, reader: store, cancel: cancel)
                let written = store.write(stage: stage.id, task: t, buckets: buckets)
                f.taskSeconds += Double(monotonicNanos() - start) / 1e9
                f.rows += UInt64(buckets.reduce(0) { $0 + $1.reduce(0) { $0 + $1.rowCount } })
                f.bytes += UInt64(written)
            }
            f.seconds = Double(monotonicNanos() - stageStart) / 1e9
            figures.append(f)
        }
        let rows = discard ? [] : try store.read(stage: plan.stages.count - 1, bucket: 0).flatMap { $0 }
        return StagedRun(rows: rows, figures: figures)
    }
}

/// Task outputs held as encoded batches, per stage, task and bucket.
final class MemoryShuffle: StageReader, Sendable {
    private let outputs: Mutex<[[Int: [[UInt8]]]]>

    init(stages: Int) {
        outputs = Mutex(Array(repeating: [:], count: stages))
    }

    /// Returns the bytes written.
    func write(stage: Int, task: Int, buckets: [[RecordBatch]]) -> Int {
        let encoded = buckets.map(BatchCodec.encodeAll)
        outputs.withLock { $0[stage][task] = encoded }
        return encoded.reduce(0) { $0 + $1.count }
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
