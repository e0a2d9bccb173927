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

/// LIMIT / OFFSET: stops pulling from its input once it has enough rows.
final class LimitOperator: Operator {
    let input: Operator
    let limit: Int?
    var skip: Int
    var emitted = 0
    let stats = OperatorStats()
    init(_ input: Operator, limit: Int?, offset: Int) { self.input = input; self.limit = limit; self.skip = offset }
    var schema: Schema { input.schema }
    var children: [Operator] { [input] }
    var label: String { "LIMIT \(limit.map(String.init) ?? "ALL")" + (skip > 0 ? " OFFSET \(skip)" : "") }
    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            while true {
                if let l = limit, emitted >= l { return nil }
                guard var b = try input.next() else { return nil }
                if skip > 0 {
                    if b.rowCount <= skip { skip -= b.rowCount; continue }
                    b = b.slice(skip..<b.rowCount); skip = 0
                }
                if let l = limit, emitted + b.rowCount > l { b = b.slice(0..<(l - emitted)) }
                emitted += b.rowCount
                return b
            }
        }
    }
}

/// A shared CTE's rows: computed by the first reference that runs, then replayed
/// to every reference. Read-only once computed, so references may run at once.
final class MaterializedOperator: Operator {
    let shared: SharedPlan
    let schema: Schema
    let compute: () throws(SQLError) -> [RecordBatch]
    let stats = OperatorStats()
    private var index = 0
    init(shared: SharedPlan, schema: Schema, compute: @escaping () throws(SQLError) -> [RecordBatch]) {
        self.shared = shared; self.schema = schema; self.compute = compute
    }
    var children: [Operator] { [] }
    var label: String { "MATERIALIZED CTE [" + schema.fields.map(\.name).joined(separator: ", ") + "]" }
    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if shared.results == nil { shared.results = try compute() }
            guard index < shared.results!.count else { return nil }
            let b = shared.results![index]
            index += 1
            return RecordBatch(schema: schema, columns: b.columns, rowCount: b.rowCount)
        }
    }
}
