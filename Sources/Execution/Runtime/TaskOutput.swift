public import Columnar
import Foundation
public import SQL

/// What one task of a stage wrote for the stages after it: its rows split
/// into the stage's buckets, each a run of encoded batch blocks (what the
/// next stage's readers decode), in memory or, when they passed the task's
/// memory budget, in one file per bucket.
public enum TaskOutput: Sendable {
    case memory([[UInt8]])
    /// Files in the task's spill space (removed with it): whoever keeps the
    /// output moves them out first (the worker's shuffle store does).
    case files([String], sizes: [Int])

    /// The bytes of each bucket.
    public var sizes: [Int] {
        switch self {
        case .memory(let b): b.map(\.count)
        case .files(_, let s): s
        }
    }

    /// The blocks of bucket `b`, read from its file if need be.
    public func bucket(_ b: Int) throws(SQLError) -> [UInt8] {
        switch self {
        case .memory(let all):
            guard b >= 0, b < all.count else { throw SQLError.execution("no output bucket \(b) of \(all.count)") }
            return all[b]
        case .files(let paths, _):
            guard b >= 0, b < paths.count else { throw SQLError.execution("no output bucket \(b) of \(paths.count)") }
            guard let data = FileManager.default.contents(atPath: paths[b]) else {
                throw SQLError.execution("IO Error: cannot read the task output \(paths[b])")
            }
            return [UInt8](data)
        }
    }
}

/// The shuffle's map side: takes a task's rows as they come out of its plan,
/// encodes each bucket's share at once and holds the bytes under the task's
/// memory budget; when the budget refuses more, every bucket's bytes go to a
/// file of their own and the rest follows them there. So a task's output is
/// never held whole in memory twice (rows, then bytes), nor beyond the limit.
final class TaskOutputWriter {
    private var buffers: [[UInt8]]
    private var blocks: [Int]
    private var files: [SpillWriter]?
    private let reservation: MemoryReservation?
    private let spill: SpillSpace?
    private var scratch: [UInt8] = []
    private(set) var rows = 0

    /// `memory` and `spill`: the task's budget and where it spills (none: all in memory).
    init(buckets: Int, memory: MemoryPool?, spill: SpillSpace?) {
        buffers = Array(repeating: [], count: buckets)
        blocks = Array(repeating: 0, count: buckets)
        self.spill = spill
        // A quarter of the task's budget: the operators feeding it hold the rest at most.
        reservation = memory.map { MemoryReservation($0, owner: "the stage's output", share: max(1 << 20, $0.limit / 4)) }
    }

    func append(_ batch: RecordBatch, bucket b: Int) throws(SQLError) {
        guard batch.rowCount > 0 else { return }
        rows += batch.rowCount
        if let files {
            scratch.removeAll(keepingCapacity: true)
            BatchCodec.encode(batch, into: &scratch)
            try files[b].append(encoded: scratch, batches: 1)
            return
        }
        let before = buffers[b].count
        BatchCodec.encode(batch, into: &buffers[b])
        blocks[b] += 1
        if let reservation, let spill, !reservation.grow(buffers[b].count - before) { try moveToFiles(spill) }
    }

    /// Writes what is held to a file per bucket; later rows are appended there.
    private func moveToFiles(_ spill: SpillSpace) throws(SQLError) {
        var made: [SpillWriter] = []
        for b in buffers.indices {
            let f = try spill.file("output-b\(b)")
            try f.append(encoded: buffers[b], batches: blocks[b])
            buffers[b] = []
            made.append(f)
        }
        files = made
        reservation?.free()
    }

    /// The output; held bytes stay reserved until the writer is gone.
    func finish() -> TaskOutput {
        if let files { return .files(files.map(\.path), sizes: files.map(\.bytes)) }
        return .memory(buffers)
    }
}
