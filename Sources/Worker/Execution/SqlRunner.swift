import Columnar
import Execution
import Foundation
import PlanCodec
import SQL
import Wire

/// Runs `sql` tasks: one task of one stage of a query. Reads the stages
/// before it through the shuffle (`BlockFetcher`), runs the fragment with
/// the engine, and keeps its output buckets in the `ShuffleStore` for the
/// stages after it; the result reports the bytes of each bucket.
struct SqlRunner {
    let store: ShuffleStore
    let sealer: Sealer
    /// Threads a task runs on unless its stage says otherwise.
    let threadsPerTask: Int

    func run(_ ctx: TaskContext, inputs: [StageOutputs]) -> RunOutcome {
        guard let task = try? SqlTask(decoding: ctx.spec.payload) else {
            return RunOutcome(outcome: .failed, exitCode: 2, reason: "malformed sql task")
        }
        let stage: QueryStage
        do { stage = try PlanCodec.decodeStage(task.stage) } catch {
            return RunOutcome(outcome: .failed, exitCode: 2, reason: "refused the stage: \(error.message)")
        }
        let cancel = Cancellation()
        // Cancels and timeouts reach the engine between batches.
        let watch = DispatchSource.makeTimerSource(queue: .global())
        watch.schedule(deadline: .now() + .milliseconds(50), repeating: .milliseconds(50))
        watch.setEventHandler { if ctx.shouldStop { cancel.cancel() } }
        watch.resume()
        defer { watch.cancel() }
        let reader = BlockFetcher(job: ctx.ref.jobID, inputs: inputs, sealer: sealer, cancel: cancel)
        let threads = task.threads > 0 ? Int(min(task.threads, 256)) : threadsPerTask
        do {
            let buckets = try StageTask.run(stage, task: Int(ctx.ref.task), threads: threads, reader: reader, cancel: cancel)
            let encoded = buckets.map { batches in
                var bytes: [UInt8] = []
                for b in batches where b.rowCount > 0 { BatchCodec.encode(b, into: &bytes) }
                return bytes
            }
            if let stop = ctx.stopOutcome { return RunOutcome(outcome: stop.0, reason: stop.1) }
            let sizes = try store.put(job: ctx.ref.jobID, attempt: ctx.attemptID, buckets: encoded)
            var out = RunOutcome.success
            out.bucketBytes = sizes.map { UInt64($0) }
            return out
        } catch {
            if let stop = ctx.stopOutcome { return RunOutcome(outcome: stop.0, reason: stop.1) }
            var out = RunOutcome(outcome: .failed, exitCode: 1, reason: (error as? SQLError)?.message ?? "\(error)")
            out.inputLost = reader.lost
            return out
        }
    }
}
