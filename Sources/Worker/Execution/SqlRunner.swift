import Columnar
import Execution
import Foundation
import Platform
import PlanCodec
import SQL
import Wire

/// Runs `sql` tasks: one task of one stage of a query. Reads the stages
/// before it through the shuffle (`BlockFetcher`), runs the fragment with
/// the engine, and keeps its output buckets in the `ShuffleStore` for the
/// stages after it; the result reports the bytes of each bucket.
struct SqlRunner {
    let store: ShuffleStore
    let blocks: BlockClient
    /// Threads a task runs on unless its stage says otherwise.
    let threadsPerTask: Int
    /// A task's memory budget (the worker's over its slots), and where it spills.
    let taskMemory: Int
    let spillRoot: String

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
        TestHold.wait(stage, ctx)
        let reader = BlockFetcher(job: ctx.ref.jobID, inputs: inputs, blocks: blocks, cancel: cancel)
        let threads = task.threads > 0 ? Int(min(task.threads, 256)) : threadsPerTask
        let spill = SpillSpace(root: spillRoot)
        defer { spill.close() }
        do {
            let (output, rows) = try StageTask.run(stage, task: Int(ctx.ref.task), threads: threads, reader: reader,
                                                   writeTag: "t\(ctx.ref.task)-a\(ctx.attemptID)", cancel: cancel,
                                                   memory: MemoryPool(limit: taskMemory), spill: spill)
            TestHold.wait(stage, ctx, after: true)
            if let stop = ctx.stopOutcome { return RunOutcome(outcome: stop.0, reason: stop.1) }
            let sizes = try store.put(job: ctx.ref.jobID, attempt: ctx.attemptID, output: output)
            var out = RunOutcome.success
            out.bucketBytes = sizes.map { UInt64($0) }
            out.rows = UInt64(rows)
            out.threads = UInt32(clamping: threads)
            out.spilledBytes = UInt64(spill.written)
            return out
        } catch {
            if let stop = ctx.stopOutcome { return RunOutcome(outcome: stop.0, reason: stop.1) }
            // Named, since files are the workers' own: a path one of them cannot see is that worker's problem.
            let worker = ctx.workerID.split(separator: "#").first.map(String.init) ?? ctx.workerID
            var out = RunOutcome(outcome: .failed, exitCode: 1, reason: "on worker \(worker): " + ((error as? SQLError)?.message ?? "\(error)"))
            out.inputLost = reader.lost
            return out
        }
    }
}

/// A hook for fault tests, active only when `SLUICE_TEST_HOLD_DIR` names a
/// directory: every `sql` task leaves a file there when it starts
/// (`started-KIND-WORKER-JOB-sSTAGE-tTASK`, KIND `map` for stages that read
/// files, `reduce` for stages that read a hash shuffle, `write` for stages
/// that write files, `other`), and waits while `hold-KIND` or
/// `hold-KIND-tTASK` exists, so a test can kill a worker at an exact point.
/// A write stage's task also stops after it wrote its files and before it
/// reports (`started-wrote-...`, `hold-wrote`).
enum TestHold {
    static func wait(_ stage: QueryStage, _ ctx: TaskContext, after: Bool = false) {
        guard FaultHold.dir != nil else { return }
        let write = stage.plan.allNodes.contains { if case .write = $0.node { true } else { false } }
        let reduce = !stage.plan.shuffledStageInputs.isEmpty
        let map = stage.plan.allNodes.contains { if case .scan = $0.node { true } else { false } }
        let worker = ctx.workerID.split(separator: "#").first.map(String.init) ?? ctx.workerID
        var kind = write ? "write" : reduce ? "reduce" : map ? "map" : "other"
        if after { guard write else { return }; kind = "wrote" }
        FaultHold.pause(marker: "started-\(kind)-\(worker)-\(ctx.ref.jobID)-s\(ctx.ref.stage)-t\(ctx.ref.task)",
                        holds: ["hold-\(kind)", "hold-\(kind)-t\(ctx.ref.task)"], stop: { ctx.shouldStop })
    }
}
