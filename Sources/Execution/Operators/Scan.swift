import Columnar
import SQL

/// One partition of a scan: takes morsels from the scan's shared queue until
/// none are left, reads each, adds the partition columns of its file, and
/// applies the pushed filters. Batches carry their morsel (`morsel`); each
/// morsel ends with the batch that exhausted it, possibly empty, so a gather
/// keeping file order learns the morsel is complete.
final class ScanOperator: Operator {
    let spec: ScanSpec
    let schema: Schema
    let stats = OperatorStats()
    private let queue: MorselQueue
    private let format: FileFormat
    /// Filters still to apply to rows (those on partition columns only were applied per file).
    private let filters: [BoundExpr]
    /// Positions in the data schema of the data columns read, in output order.
    private let dataColumns: [Int]
    private let context: RunContext
    private var reader: BatchReader?
    private var partitionColumns: [Int: Value] = [:]   // output slot -> this file's value
    private(set) var morsel = -1
    private var closed = false
    private let scratch = ReadScratch()

    init(_ spec: ScanSpec, queue: MorselQueue, format: FileFormat, filters: [BoundExpr], context: RunContext) {
        self.spec = spec
        self.schema = spec.outputSchema
        self.queue = queue
        self.format = format
        self.filters = filters
        self.context = context
        dataColumns = spec.fields.filter { $0 < spec.dataSchema.count }
    }

    func close() {
        closed = true
        reader = nil
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            while !closed {
                try context.check()
                if reader == nil {
                    guard let m = queue.next() else { closed = true; return nil }
                    try open(m)
                }
                guard let r = reader else { continue }
                guard let raw = try r.next() else {
                    stats.bytesRead += r.bytesRead
                    reader = nil
                    continue
                }
                var out = assemble(raw)
                for f in filters where out.rowCount > 0 {
                    let idx = selectionIndices(try Evaluator.select(f, out))
                    if idx.count != out.rowCount { out = out.gather(idx) }
                }
                return out
            }
            return nil
        }
    }

    private func open(_ m: MorselQueue.Morsel) throws(SQLError) {
        let file = spec.files[m.file]
        partitionColumns = [:]
        let dataCount = spec.dataSchema.count
        for (slot, field) in spec.fields.enumerated() where field >= dataCount {
            partitionColumns[slot] = queue.partitionValues[m.file][field - dataCount]
        }
        morsel = m.index
        reader = try format.reader(for: file, schema: spec.dataSchema, columns: dataColumns, range: m.range, scratch: scratch)
    }

    /// The data columns read, with the file's partition values in their slots.
    private func assemble(_ b: RecordBatch) -> RecordBatch {
        if partitionColumns.isEmpty { return RecordBatch(schema: schema, columns: b.columns, rowCount: b.rowCount) }
        var cols: [Column] = []
        var k = 0
        for slot in spec.fields.indices {
            if let v = partitionColumns[slot] {
                cols.append(Column.constant(v, type: schema.fields[slot].type, count: b.rowCount))
            } else {
                cols.append(b.columns[k])
                k += 1
            }
        }
        return RecordBatch(schema: schema, columns: cols, rowCount: b.rowCount)
    }
}
