import Columnar
import SQL

/// Computes output columns from input columns. Stateless; parallel-safe.
final class ProjectOperator: Operator {
    let input: Operator
    let exprs: [BoundExpr]
    let schema: Schema
    let stats = OperatorStats()
    init(_ input: Operator, _ exprs: [BoundExpr], _ schema: Schema) { self.input = input; self.exprs = exprs; self.schema = schema }
    var children: [Operator] { [input] }
    var label: String { "PROJECT " + exprs.map { ExpressionText.render($0, input.schema) }.joined(separator: ", ") }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            guard let b = try input.next() else { return nil }
            var cols: [Column] = []
            for e in exprs { cols.append(try Evaluator.evaluate(e, b)) }
            return RecordBatch(schema: schema, columns: cols, rowCount: b.rowCount)
        }
    }
}
