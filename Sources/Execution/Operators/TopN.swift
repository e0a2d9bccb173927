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
        // Under a memory limit: its rows (and their sorted copy) are reserved; when they do not
        // fit, the best `limit` so far are kept, and when even those do not, it sorts externally.
        let budget = context.reservation("ORDER BY ... LIMIT")
        var held: [RecordBatch] = []
        var heldRows = 0
        func prune() throws(SQLError) {
            let top = try SortKernel.sorted(RecordBatch.concat(held, schema: schema), keys, keep: limit)
            held = [top]
            heldRows = top.rowCount
            guard let memory = budget?.0 else { return }
            memory.free()
            _ = memory.grow(2 * top.memoryBytes)
        }
        while let b = try input.next() {
            try context.check()
            if b.rowCount == 0 { continue }
            if let memory = budget?.0, !memory.grow(2 * b.memoryBytes) {
                if !held.isEmpty { try prune() }
                if !memory.grow(2 * b.memoryBytes) {
                    memory.free()
                    // In batches of the usual size, so the sort can spill between them.
                    let rows = RecordBatch.concat(held + [b], schema: schema)
                    return try sortedExternally(stride(from: 0, to: rows.rowCount, by: targetBatchRows).map {
                        rows.slice($0..<min(rows.rowCount, $0 + targetBatchRows))
                    })
                }
            }
            held.append(b)
            heldRows += b.rowCount
            if heldRows > max(4 * limit, 65_536) { try prune() }
            if let memory = budget?.0 { stats.peakMemory = max(stats.peakMemory, memory.peak) }
        }
        budget?.0.free()
        guard !held.isEmpty else { return [] }
        return chunked(try SortKernel.sorted(RecordBatch.concat(held, schema: schema), keys, keep: limit))
    }

    /// The best `limit` rows when they do not fit the budget: an external sort of
    /// `held` and the rest of the input, of which the first `limit` rows are kept.
    private func sortedExternally(_ held: [RecordBatch]) throws(SQLError) -> [RecordBatch] {
        let sort = SortOperator(Prepended(held, then: input), keys: keys, context: context)
        defer {
            stats.absorbMemory(of: sort.stats)
            sort.close()
        }
        var out: [RecordBatch] = []
        var rows = 0
        while rows < limit, let b = try sort.next() {
            let take = min(b.rowCount, limit - rows)
            out.append(take == b.rowCount ? b : b.slice(0..<take))
            rows += take
        }
        return out
    }
}

/// Batches in hand, then the rest of an operator's.
final class Prepended: Operator {
    let schema: Schema
    let stats = OperatorStats()
    private var first: [RecordBatch]
    private let rest: Operator

    init(_ first: [RecordBatch], then rest: Operator) {
        self.first = first.reversed()
        self.rest = rest
        schema = rest.schema
    }

    func next() throws(SQLError) -> RecordBatch? {
        if let b = first.popLast() { return b }
        return try rest.next()
    }

    func close() {
        first = []
        rest.close()
    }
}
