import Columnar
import SQL

/// GROUP BY and aggregates over a hash table of group keys: consumes its whole
/// input, then emits one row per group. One instance per partition, each with
/// its own table. A partial aggregate turns a partition's rows into one state
/// row per group; the final one, after a repartition on the keys, merges the
/// states of a group (all in its partition) with ordinary aggregates: sum of
/// counts, min of mins. The operator itself does not depend on the phase.
final class HashAggregateOperator: Operator {
    let input: Operator
    let groups: [BoundExpr]
    let aggregates: [AggregateCall]
    let schema: Schema
    let stats = OperatorStats()
    private let context: RunContext
    private var output: BatchQueue?

    init(_ input: Operator, groups: [BoundExpr], aggregates: [AggregateCall], schema: Schema, context: RunContext) {
        self.input = input
        self.groups = groups
        self.aggregates = aggregates
        self.schema = schema
        self.context = context
    }

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
        let table = KeyTable(integerMode: Keys.integerMode(groups.map(\.type), packPairs: false))
        var keyBuilders = groups.map { ColumnBuilder(type: $0.type) }
        let states = aggregates.map { AggregateState($0) }
        var totalGroups = groups.isEmpty ? 1 : 0
        if groups.isEmpty { for s in states { s.resize(1) } }
        while let b = try input.next() {
            try context.check()
            if b.rowCount == 0 { continue }
            let ids: [Int32]
            if groups.isEmpty {
                ids = [Int32](repeating: 0, count: b.rowCount)
            } else {
                var keyCols: [Column] = []
                for g in groups { keyCols.append(try Evaluator.evaluate(g, b)) }
                let before = table.count
                ids = table.ids(Keys(keyCols), insert: true, nullsMatch: true)
                if table.count > before {
                    // New groups appear in id order; remember their key values.
                    var firstRows: [Int32] = []
                    var next = Int32(before)
                    for (row, id) in ids.enumerated() where id == next { firstRows.append(Int32(row)); next += 1 }
                    for k in keyCols.indices { keyBuilders[k].append(contentsOf: keyCols[k].gather(firstRows)) }
                    totalGroups = table.count
                    for s in states { s.resize(totalGroups) }
                }
            }
            // Each distinct argument is evaluated once per batch (avg and sum of x share x).
            var evaluated: [BoundExpr: Column] = [:]
            for s in states {
                var arg: Column? = nil
                if let e = s.call.argument {
                    if let c = evaluated[e] { arg = c } else { let c = try Evaluator.evaluate(e, b); evaluated[e] = c; arg = c }
                }
                try s.update(ids, arg, rows: b.rowCount)
            }
        }
        var cols: [Column] = []
        for k in keyBuilders.indices { cols.append(keyBuilders[k].finish()) }
        for s in states { cols.append(try s.finish(totalGroups)) }
        return chunked(RecordBatch(schema: schema, columns: cols, rowCount: totalGroups))
    }
}
