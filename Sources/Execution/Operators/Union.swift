import Columnar
import SQL

/// UNION ALL of one partition: each input's rows in turn, under the union's
/// column names (the inputs' types are the union's: the planner made them so).
final class UnionOperator: Operator {
    let schema: Schema
    let stats = OperatorStats()
    private var inputs: [Operator]
    private let context: RunContext

    init(_ inputs: [Operator], schema: Schema, context: RunContext) {
        self.inputs = inputs
        self.schema = schema
        self.context = context
    }

    func close() {
        for i in inputs { i.close() }
        inputs = []
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            while let input = inputs.first {
                try context.check()
                if let b = try input.next() { return RecordBatch(schema: schema, columns: b.columns, rowCount: b.rowCount) }
                input.close()
                inputs.removeFirst()
            }
            return nil
        }
    }
}
