import Columnar
import SQL

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
