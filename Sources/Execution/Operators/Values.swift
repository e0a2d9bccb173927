import Columnar
import SQL

/// Constant rows (VALUES, SELECT without FROM).
final class ValuesOperator: Operator {
    let batch: RecordBatch?
    var done = false
    let stats = OperatorStats()
    let schema: Schema
    init(_ batch: RecordBatch) { self.batch = batch; schema = batch.schema }
    var children: [Operator] { [] }
    var label: String { "VALUES (\(batch?.rowCount ?? 0) rows)" }
    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if done { return nil }
            done = true
            return batch
        }
    }
}
