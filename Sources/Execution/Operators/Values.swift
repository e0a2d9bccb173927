import Columnar
import SQL

/// Rows known when planning (VALUES, SELECT without FROM, an in-memory table).
final class ValuesOperator: Operator {
    let batches: [RecordBatch]
    let schema: Schema
    let stats = OperatorStats()
    private var index = 0
    private let context: RunContext

    init(_ batches: [RecordBatch], schema: Schema, context: RunContext) {
        self.batches = batches
        self.schema = schema
        self.context = context
    }

    var morsel: Int { 0 }

    func close() { index = batches.count }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            try context.check()
            guard index < batches.count else { return nil }
            index += 1
            let b = batches[index - 1]
            return RecordBatch(schema: schema, columns: b.columns, rowCount: b.rowCount)
        }
    }
}
