import Columnar
import SQL

/// ORDER BY ... LIMIT n over one partition: keeps only the best n rows seen
/// so far (pruning whenever it holds more than a few times n), so memory is
/// bounded by n, not by the input. A merging gather above takes the best of
/// every partition's n.
final class TopNOperator: Operator {
    let input: Operator
    let keys: [SortKey]
    let limit: Int
    let stats = OperatorStats()
    private let context: RunContext
    private var output: BatchQueue?

    init(_ input: Operator, keys: [SortKey], limit: Int, context: RunContext) {
        self.input = input
        self.keys = keys
        self.limit = limit
        self.context = context
    }

    var schema: Schema { input.schema }

    func close() {
        output = BatchQueue()
        input.close()
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if output == nil { output = BatchQueue(try run()) }
            return output?.pop()
        }
    }

    private func run() throws(SQLError) -> [RecordBatch] {
        var held: [RecordBatch] = []
        var heldRows = 0
        while let b = try input.next() {
            try context.check()
            if b.rowCount == 0 { continue }
            held.append(b)
            heldRows += b.rowCount
            if heldRows > max(4 * limit, 65_536) {
                let top = try SortKernel.sorted(RecordBatch.concat(held, schema: schema), keys, keep: limit)
                held = [top]
                heldRows = top.rowCount
            }
        }
        guard !held.isEmpty else { return [] }
        return chunked(try SortKernel.sorted(RecordBatch.concat(held, schema: schema), keys, keep: limit))
    }
}
