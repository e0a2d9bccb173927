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

    /// The slices' pieces, decoded, a list per piece (a join's build side, a merge).
    func read(_ slices: [InputSlice]) throws(SQLError) -> [[RecordBatch]] {
        let (prefetch, corrupt) = try prefetch(slices)
        defer { prefetch.close() }
        var out: [[RecordBatch]] = []
        for i in 0..<prefetch.count {
            let bytes = try prefetch.take(i)
            do { out.append(try BatchCodec.decodeAll(bytes)) } catch { throw corrupt(i, error) }
        }
        return out
    }

    func stream(_ slices: [InputSlice]) throws(SQLError) -> any StageStream {
        let (prefetch, corrupt) = try prefetch(slices)
        return PrefetchStream(prefetch, corrupt: corrupt)
    }

    /// The slices' (bucket, producer) pieces being fetched, `parallel` at a
    /// time, in order; and the error for one that does not decode.
    private func prefetch(_ slices: [InputSlice]) throws(SQLError) -> (Prefetch, (Int, any Error) -> SQLError) {
        var pieces: [(stage: Int, bucket: Int, output: OutputLocation)] = []
        for slice in slices {
            guard let outputs = inputs[slice.stage] else {
                throw SQLError.execution("the task was sent no locations for the outputs of stage \(slice.stage)")
            }
            let producers = slice.producers ?? 0..<outputs.count
            guard producers.upperBound <= outputs.count else {
                throw SQLError.execution("the task reads producers \(producers) of stage \(slice.stage), which has \(outputs.count)")
            }
            for b in slice.buckets { for p in producers { pieces.append((slice.stage, b, outputs[p])) } }
        }
        let prefetch = Prefetch(count: pieces.count) { (i) throws(SQLError) -> [UInt8] in
            try self.fetchBytes(pieces[i].output, stage: pieces[i].stage, bucket: pieces[i].bucket)
        }
        prefetch.start(threads: Self.parallel)
        return (prefetch, { i, error in
            SQLError.execution("bucket \(pieces[i].bucket) of stage \(pieces[i].stage) task \(pieces[i].output.task) from worker \(pieces[i].output.workerID) is corrupt: \(error)")
        })
    }

    /// One producer's bucket, as bytes.
    private func fetchBytes(_ o: OutputLocation, stage: Int, bucket: Int) throws(SQLError) -> [UInt8] {
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
        return bytes
    }
}

/// Producers' buckets fetched ahead of the task reading them: fetch threads
/// take the producers in task order, and a thread waits before taking one
/// more while `aheadBytes` are already fetched and unread (backpressure); the
/// producer the reader waits for is always taken.
final class Prefetch: @unchecked Sendable {
    let count: Int
    private let fetch: (Int) throws(SQLError) -> [UInt8]
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var done: [Int: Result<[UInt8], SQLError>] = [:]
    private var claimed = 0
    private var reading = 0
    private var held = 0
    private var closed = false
    /// Bytes fetched ahead of the reader at most (one bucket may exceed it).
    static let aheadBytes = 64 << 20

    init(count: Int, fetch: @escaping (Int) throws(SQLError) -> [UInt8]) {
        self.count = count
        self.fetch = fetch
    }

    func start(threads: Int) {
        for _ in 0..<min(threads, count) {
            let t = Thread { self.work() }
            t.name = "sluice-fetch"
            t.start()
        }
    }

    /// One fetch thread: takes producers until none are left or the reader closed.
    private func work() {
        while true {
            let i: Int? = condition.withLock {
                while !closed, claimed < count, claimed != reading, held >= Self.aheadBytes { condition.wait() }
                guard !closed, claimed < count else { return nil }
                claimed += 1
                return claimed - 1
            }
            guard let i else { return }
            let r: Result<[UInt8], SQLError>
            do throws(SQLError) { r = .success(try fetch(i)) } catch { r = .failure(error) }
            condition.withLock {
                guard !closed else { return }
                if case .success(let b) = r { held += b.count }
                done[i] = r
                condition.broadcast()
            }
        }
    }

    /// Producer `i`'s bytes, waiting for them; the reader moves on to `i + 1`.
    func take(_ i: Int) throws(SQLError) -> [UInt8] {
        let r: Result<[UInt8], SQLError> = condition.withLock {
            reading = i
            condition.broadcast()
            while done[i] == nil, !closed { condition.wait() }
            guard let r = done.removeValue(forKey: i) else { return .failure(SQLError.execution("Interrupted: the stage input was closed")) }
            if case .success(let b) = r { held -= b.count }
            reading = i + 1
            condition.broadcast()
            return r
        }
        return try r.get()
    }

    func close() {
        condition.withLock {
            closed = true
            done = [:]
            condition.broadcast()
        }
    }
}

/// A stage input read in task order from a `Prefetch`, a batch decoded at a
/// time. The fetch threads stop when it is closed or dropped.
final class PrefetchStream: StageStream {
    private let prefetch: Prefetch
    private let corrupt: (Int, any Error) -> SQLError
    private var producer = -1
    private var bytes: [UInt8] = []
    private var offset = 0

    init(_ prefetch: Prefetch, corrupt: @escaping (Int, any Error) -> SQLError) {
        self.prefetch = prefetch
        self.corrupt = corrupt
    }

    func next() throws(SQLError) -> RecordBatch? {
        while offset >= bytes.count {
            guard producer + 1 < prefetch.count else { return nil }
            producer += 1
            bytes = try prefetch.take(producer)
            offset = 0
        }
        do { return try BatchCodec.decode(bytes, offset: &offset) } catch { throw corrupt(producer, error) }
    }

    func close() {
        prefetch.close()
        bytes = []
    }

    deinit { prefetch.close() }
}
