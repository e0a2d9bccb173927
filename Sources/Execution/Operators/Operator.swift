public import Columnar
import SQL

/// A physical operator: pulls batches from its children and produces batches.
/// One instance runs on one thread; parallel plans run one instance per partition
/// (each operator's doc says which state it would share across instances).
public protocol Operator: AnyObject {
    var schema: Schema { get }
    /// The next batch, or nil when done. Batches may be empty.
    func next() throws(SQLError) -> RecordBatch?
    var children: [Operator] { get }
    /// One line for EXPLAIN.
    var label: String { get }
    var stats: OperatorStats { get }
}

/// What EXPLAIN ANALYZE reports per operator.
public final class OperatorStats {
    public var rows = 0
    public var batches = 0
    public var nanos: UInt64 = 0
    public var filesRead = 0
    public var filesSkipped = 0
    public var bytesRead = 0
    public var bytesSkipped = 0
    public init() {}

    /// Times `body` (inclusive of children) and counts what it returns.
    @inline(__always) func measure(_ body: () throws(SQLError) -> RecordBatch?) throws(SQLError) -> RecordBatch? {
        let start = monotonicNanos()
        let b = try body()
        nanos &+= monotonicNanos() &- start
        if let b { rows += b.rowCount; batches += 1 }
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

/// Drains an operator into one list of batches.
func drain(_ op: Operator) throws(SQLError) -> [RecordBatch] {
    var out: [RecordBatch] = []
    while let b = try op.next() { if b.rowCount > 0 { out.append(b) } }
    return out
}

import Foundation
