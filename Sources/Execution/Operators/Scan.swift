import Columnar
import SQL

/// Reads a table's files (or memory) and applies the filters pushed into it.
/// Files whose partition values fail a filter on partition columns are skipped
/// unopened. Files are independent, so parallel scans split the file list.
final class ScanOperator: Operator {
    let source: TableSource
    let fields: [Int]            // positions in source.schema
    let filters: [BoundExpr]     // compiled against this operator's output
    let schema: Schema
    let stats = OperatorStats()
    let cancel: Cancellation

    private var fileIndex = 0
    private var reader: BatchReader?
    private var partitionValues: [Int: Value] = [:]
    private var memoryIndex = 0
    private var pruneFilters: [BoundExpr] = []

    init(source: TableSource, fields: [Int], filters: [BoundExpr], cancel: Cancellation) {
        self.source = source; self.fields = fields; self.filters = filters; self.cancel = cancel
        schema = Schema(fields.map { source.schema.fields[$0] })
        if let t = source as? FileTable {
            let partitionSlots = Set(fields.indices.filter { fields[$0] >= t.dataSchema.count })
            pruneFilters = filters.filter { f in !f.columnIDs.isEmpty && f.columnIDs.isSubset(of: partitionSlots) }
        }
    }
    var children: [Operator] { [] }
    var label: String {
        var s = "SCAN \(source.displayName) [" + schema.fields.map(\.name).joined(separator: ", ") + "]"
        if !filters.isEmpty { s += " filters: " + filters.map { ExpressionText.render($0, schema) }.joined(separator: " AND ") }
        return s
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            while true {
                try cancel.check()
                guard let b = try nextRaw() else { return nil }
                var out = b
                for f in filters {
                    let idx = selectionIndices(try Evaluator.select(f, out))
                    if idx.count != out.rowCount { out = out.gather(idx) }
                    if out.rowCount == 0 { break }
                }
                if out.rowCount > 0 { return out }
            }
        }
    }

    private func nextRaw() throws(SQLError) -> RecordBatch? {
        if let m = source as? MemoryTable {
            guard memoryIndex < m.batches.count else { return nil }
            let b = m.batches[memoryIndex]
            memoryIndex += 1
            return RecordBatch(schema: schema, columns: fields.map { b.columns[$0] }, rowCount: b.rowCount)
        }
        guard let t = source as? FileTable else { return nil }
        while true {
            if let r = reader {
                if let b = try r.next() {
                    var cols: [Column] = []
                    var k = 0
                    for (slot, f) in fields.enumerated() {
                        if f < t.dataSchema.count { cols.append(b.columns[k]); k += 1 }
                        else { cols.append(Column.constant(partitionValues[slot] ?? .null, type: schema.fields[slot].type, count: b.rowCount)) }
                    }
                    return RecordBatch(schema: schema, columns: cols, rowCount: b.rowCount)
                }
                stats.bytesRead += r.bytesRead
                reader = nil
            }
            guard fileIndex < t.files.count else { return nil }
            let file = t.files[fileIndex]
            fileIndex += 1
            partitionValues = [:]
            for (slot, f) in fields.enumerated() where f >= t.dataSchema.count {
                let name = schema.fields[slot].name
                let text = file.partitions.first { $0.0 == name }?.1
                partitionValues[slot] = text.flatMap { Cast.parse($0, as: schema.fields[slot].type) } ?? .null
            }
            if !pruneFilters.isEmpty {
                let one = RecordBatch(schema: schema, columns: schema.fields.indices.map { i in
                    Column.constant(partitionValues[i] ?? .null, type: schema.fields[i].type, count: 1)
                }, rowCount: 1)
                var keep = true
                for f in pruneFilters where !(try Evaluator.select(f, one)[0]) { keep = false; break }
                if !keep { stats.filesSkipped += 1; stats.bytesSkipped += file.size; continue }
            }
            stats.filesRead += 1
            let dataColumns = fields.filter { $0 < t.dataSchema.count }
            reader = try t.format.reader(for: file, schema: t.dataSchema, columns: dataColumns)
        }
    }
}
