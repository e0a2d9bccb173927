import Columnar
import SQL

/// Computes the output expressions. Stateless: one instance per partition.
final class ProjectOperator: Operator {
    let input: Operator
    let exprs: [BoundExpr]
    let schema: Schema
    let stats = OperatorStats()
    private let context: RunContext

    init(_ input: Operator, _ exprs: [BoundExpr], _ schema: Schema, context: RunContext) {
        self.input = input
        self.exprs = exprs
        self.schema = schema
        self.context = context
    }

    var morsel: Int { input.morsel }

    func close() { input.close() }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            try context.check()
            guard let b = try input.next() else { return nil }
            var cols: [Column] = []
            for e in exprs { cols.append(try Evaluator.evaluate(e, b)) }
            return RecordBatch(schema: schema, columns: cols, rowCount: b.rowCount)
        }
    }
}
