import Columnar
import Execution
import Foundation
import SQL
import Synchronization
import Wire

/// A `sql` task's view of the shuffle: reads the buckets the tasks of earlier
/// stages wrote, from the workers holding them, in chunks, several producers
/// at once, retrying a failed fetch. When a producer's output cannot be had
/// (its worker is gone, or no longer holds it) `lost` names it, so the task
/// can report the input lost instead of failing.
final class BlockFetcher: StageReader, Sendable {
    let job: String
    /// Per stage, its tasks' outputs.
    let inputs: [Int: [OutputLocation]]
    let blocks: BlockClient
    let cancel: Cancellation
    private let lostInput = Mutex<InputLost?>(nil)
    /// Attempts at one chunk before the producer counts as lost, and how long each may take.
    static let tries = 2
    static let timeout: Duration = .seconds(5)
    /// Producers fetched from at once.
    static let parallel = 4

    init(job: String, inputs: [StageOutputs], blocks: BlockClient, cancel: Cancellation) {
        self.job = job
        var byStage: [Int: [OutputLocation]] = [:]
        for s in inputs { byStage[Int(s.stage)] = s.outputs.sorted { $0.task < $1.task } }
        self.inputs = byStage
        self.blocks = blocks
        self.cancel = cancel
    }

    /// The producer whose output could not be fetched, if one could not.
    var lost: InputLost? { lostInput.withLock { $0 } }

    func read(stage: Int, bucket: Int) throws(SQLError) -> [[RecordBatch]] {
        guard let outputs = inputs[stage] else {
            throw SQLError.execution("the task was sent no locations for the outputs of stage \(stage)")
        }
        let results = Mutex([Result<[RecordBatch], SQLError>?](repeating: nil, count: outputs.count))
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: min(Self.parallel, max(1, outputs.count))) { _ in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard i < outputs.count else { return }
                let r: Result<[RecordBatch], SQLError>
                do throws(SQLError) { r = .success(try fetch(outputs[i], stage: stage, bucket: bucket)) } catch { r = .failure(error) }
                results.withLock { $0[i] = r }
            }
        }
        var out: [[RecordBatch]] = []
        for r in results.withLock({ $0 }) {
            switch r {
            case .success(let batches)?: out.append(batches)
            case .failure(let e)?: throw e
            case nil: throw SQLError.execution("internal error: a fetch did not finish")
            }
        }
        return out
    }

    /// One producer's bucket, decoded.
    private func fetch(_ o: OutputLocation, stage: Int, bucket: Int) throws(SQLError) -> [RecordBatch] {
        var bytes: [UInt8] = []
        var total: Int? = nil
        var failures = 0
        while total.map({ bytes.count < $0 }) ?? true {
            if cancel.isCancelled { throw SQLError.execution("Interrupted: query cancelled") }
            do {
                let (data, t) = try blocks.read(address: o.dataAddress, job: job, attempt: o.attemptID, bucket: bucket, offset: bytes.count)
                if total != nil, total != t { throw WireError(.malformed, "the bucket changed size") }
                total = t
                bytes += data
                failures = 0
            } catch {
                failures += 1
                // A server that says it does not have the output will not have it on a retry.
                let gone = (error as? WireError)?.code == .remote(.notFound)
                if gone || failures >= Self.tries {
                    lostInput.withLock { $0 = $0 ?? InputLost(stage: UInt32(stage), task: o.task, epoch: o.epoch, lost: true) }
                    throw SQLError.execution("cannot fetch bucket \(bucket) of stage \(stage) task \(o.task) (attempt \(o.attemptID)) from worker \(o.workerID) at \(o.dataAddress): \(error)")
                }
                Thread.sleep(forTimeInterval: 0.1 * Double(failures))
            }
        }
        do { return try BatchCodec.decodeAll(bytes) } catch {
            throw SQLError.execution("bucket \(bucket) of stage \(stage) task \(o.task) from worker \(o.workerID) is corrupt: \(error)")
        }
    }
}
