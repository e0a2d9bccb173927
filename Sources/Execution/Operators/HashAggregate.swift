import Columnar
import SQL

/// GROUP BY and aggregates over a hash table of group keys. Consumes its whole
/// input, then emits one row per group. For parallel execution each partition's
/// instance holds its own table; the partial/final split merges them by key.
final class HashAggregateOperator: Operator {
    let input: Operator
    let groups: [BoundExpr]
    let aggregates: [AggregateCall]
    let schema: Schema
    let stats = OperatorStats()
    private var output: [RecordBatch]?

    /// "partial" or "final" when the optimizer split the aggregate, for EXPLAIN.
    let phase: String?

    init(_ input: Operator, groups: [BoundExpr], aggregates: [AggregateCall], schema: Schema, phase: String? = nil) {
        self.input = input; self.groups = groups; self.aggregates = aggregates; self.schema = schema; self.phase = phase
    }
    var children: [Operator] { [input] }
    var label: String {
        var parts: [String] = []
        if !groups.isEmpty { parts.append("keys: " + groups.map { ExpressionText.render($0, input.schema) }.joined(separator: ", ")) }
        if !aggregates.isEmpty {
            parts.append("aggregates: " + aggregates.map { a in
                "\(a.kind == .countStar ? "count" : a.kind.rawValue)(\(a.distinct ? "DISTINCT " : "")\(a.argument.map { ExpressionText.render($0, input.schema) } ?? "*"))"
            }.joined(separator: ", "))
        }
        return "HASH_AGGREGATE" + (phase.map { " (\($0))" } ?? "") + " " + parts.joined(separator: "; ")
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if output == nil { output = try run() }
            return output!.isEmpty ? nil : output!.removeFirst()
        }
    }

    private func run() throws(SQLError) -> [RecordBatch] {
        let table = KeyTable(integerMode: Keys.integerMode(groups.map(\.type), packPairs: false))
        var keyBuilders = groups.map { ColumnBuilder(type: $0.type) }
        let states = aggregates.map { AggregateState($0) }
        var totalGroups = groups.isEmpty ? 1 : 0
        if groups.isEmpty { for s in states { s.resize(1) } }
        while let b = try input.next() {
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
        let all = RecordBatch(schema: schema, columns: cols, rowCount: totalGroups)
        var out: [RecordBatch] = []
        var start = 0
        while start < totalGroups {
            let end = min(totalGroups, start + targetBatchRows * 8)
            out.append(all.slice(start..<end))
            start = end
        }
        return out
    }
}
