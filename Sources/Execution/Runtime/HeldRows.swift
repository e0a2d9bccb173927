import Columnar
import SQL

/// Rows computed once and read by several consumers (a materialized CTE, a
/// broadcast), held under the query's memory budget. Rows that may spill go
/// to a file once the budget refuses them (each reader then walks the
/// memory part and the file, in order); rows that must stay in memory (a
/// join's shared build side) fail the query with a clear error instead.
/// Filled by one thread, then read by any number.
final class HeldRows: @unchecked Sendable {
    private var batches: [RecordBatch] = []
    private var file: SpillWriter?
    private var spilled: (path: String, bytes: Int, batches: Int)?
    private let reservation: MemoryReservation?
    private let spill: SpillSpace?
    private let what: String

    /// `spill` nil: the rows must stay in memory (`require`); `what` names them in that error.
    init(_ reservation: MemoryReservation?, spill: SpillSpace?, what: String) {
        self.reservation = reservation
        self.spill = spill
        self.what = what
    }

    /// Rows already in hand, unaccounted (a stage input read whole).
    init(_ batches: [RecordBatch]) {
        self.batches = batches
        reservation = nil
        spill = nil
        what = ""
    }

    func append(_ b: RecordBatch) throws(SQLError) {
        guard b.rowCount > 0 else { return }
        if let file { return try file.append(b) }
        if let reservation {
            if let spill {
                if !reservation.grow(b.memoryBytes) {
                    let f = try spill.file("held")
                    try f.append(b)
                    file = f
                    return
                }
            } else {
                try reservation.require(b.memoryBytes, what)
            }
        }
        batches.append(b)
    }

    /// Ends filling: readers may start.
    func finish() {
        if let file { spilled = (file.path, file.bytes, file.batches) }
        file = nil
    }

    /// The rows when all are in memory (the only case for rows that may not spill).
    var inMemory: [RecordBatch]? { spilled == nil ? batches : nil }

    /// A reader of every row, in the order appended.
    func reader() -> Reader { Reader(self) }

    final class Reader {
        private let rows: HeldRows
        private var index = 0
        private var file: SpillReader?

        init(_ rows: HeldRows) {
            self.rows = rows
            if let s = rows.spilled { file = SpillReader(path: s.path, bytes: s.bytes, batchCount: s.batches) }
        }

        func next() throws(SQLError) -> RecordBatch? {
            if index < rows.batches.count {
                index += 1
                return rows.batches[index - 1]
            }
            return try file?.next()
        }

        func close() { file?.close() }
    }
}
