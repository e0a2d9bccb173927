public import Columnar
import Foundation
import SQL

/// A physical operator instance: one partition of one plan node. Pulls
/// batches from its inputs and produces batches; runs on one thread at a
/// time. Operators that keep their input's order report the morsel of the
/// last batch they returned (`morsel`), so a gather can put partitions back
/// in file order.
protocol Operator: AnyObject {
    var schema: Schema { get }
    /// The next batch, or nil when done. Batches may be empty (a filtered
    /// morsel still says it ended).
    func next() throws(SQLError) -> RecordBatch?
    var stats: OperatorStats { get }
    /// The morsel the last batch came from; -1 when the operator keeps no order.
    var morsel: Int { get }
    /// The consumer wants nothing more (a LIMIT was reached): inputs stop
    /// holding rows for it, so an exchange does not wait on a reader that left.
    func close()
}

extension Operator {
    var morsel: Int { -1 }
}

/// What EXPLAIN ANALYZE reports per operator instance. Written by the one
/// thread running the operator, read after the run has joined its threads.
public final class OperatorStats: @unchecked Sendable {
    public var rows = 0
    public var batches = 0
    /// Inclusive of the inputs pulled on the same thread.
    public var nanos: UInt64 = 0
    public var filesRead = 0
    public var filesSkipped = 0
    public var bytesRead = 0
    public var bytesSkipped = 0
    /// Memory it held at most (reserved from the query's pool), and what it spilled and read back.
    public var peakMemory = 0
    public var spilledBytes = 0
    public var readBackBytes = 0
    public init() {}

    /// Takes the memory figures of an operator this one ran inside itself (a spilled partition's, an external sort's).
    func absorbMemory(of other: OperatorStats) {
        spilledBytes += other.spilledBytes
        readBackBytes += other.readBackBytes
        peakMemory = max(peakMemory, other.peakMemory)
    }

    /// Times `body` and counts the rows it returns.
    @inline(__always) func measure(_ body: () throws(SQLError) -> RecordBatch?) throws(SQLError) -> RecordBatch? {
        let start = monotonicNanos()
        defer { nanos &+= monotonicNanos() &- start }
        let b = try body()
        if let b, b.rowCount > 0 { rows += b.rowCount; batches += 1 }
        return b
    }
}

@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Rows per batch that operators aim for.
let targetBatchRows = 8192

/// Drains an operator into one list of non-empty batches.
func drain(_ op: Operator) throws(SQLError) -> [RecordBatch] {
    var out: [RecordBatch] = []
    while let b = try op.next() { if b.rowCount > 0 { out.append(b) } }
    return out
}

/// Batches handed out one at a time from a list, without copying the list.
struct BatchQueue {
    private var batches: [RecordBatch] = []
    private var index = 0
    init(_ batches: [RecordBatch] = []) { self.batches = batches }
    var isEmpty: Bool { index >= batches.count }
    mutating func append(_ b: RecordBatch) {
        if index == batches.count { batches.removeAll(keepingCapacity: true); index = 0 }
        batches.append(b)
    }
    mutating func pop() -> RecordBatch? {
        guard index < batches.count else { return nil }
        index += 1
        return batches[index - 1]
    }
}

/// A batch of `rows` rows cut into pieces of at most `targetBatchRows * 8`.
func chunked(_ all: RecordBatch) -> [RecordBatch] {
    var out: [RecordBatch] = []
    var start = 0
    while start < all.rowCount {
        let end = min(all.rowCount, start + targetBatchRows * 8)
        out.append(all.slice(start..<end))
        start = end
    }
    return out
}
