import Columnar
import SQL

/// ORDER BY ... LIMIT n: keeps only the best n rows seen so far (pruning
/// whenever it holds more than a few times n), so memory is bounded by n, not
/// by the input. Parallel plans keep a top-n per partition and merge them.
final class TopNOperator: Operator {
    let input: Operator
    let keys: [SortKey]
    let limit: Int
    let stats = OperatorStats()
    private var output: [RecordBatch]?

    init(_ input: Operator, keys: [SortKey], limit: Int) { self.input = input; self.keys = keys; self.limit = limit }
    var schema: Schema { input.schema }
    var children: [Operator] { [input] }
    var label: String { "TOP_N \(limit) " + SortKernel.describe(keys, input.schema) }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if output == nil { output = try run() }
            return output!.isEmpty ? nil : output!.removeFirst()
        }
    }

    private func run() throws(SQLError) -> [RecordBatch] {
        var held: [RecordBatch] = []
        var heldRows = 0
        while let b = try input.next() {
            if b.rowCount == 0 { continue }
            held.append(b); heldRows += b.rowCount
            if heldRows > max(4 * limit, 65_536) {
                let top = try SortKernel.sorted(RecordBatch.concat(held, schema: schema), keys, keep: limit)
                held = [top]; heldRows = top.rowCount
            }
        }
        guard !held.isEmpty else { return [] }
        return SortKernel.chunks(try SortKernel.sorted(RecordBatch.concat(held, schema: schema), keys, keep: limit))
    }
}
