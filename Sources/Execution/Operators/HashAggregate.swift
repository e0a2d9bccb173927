import Columnar
import SQL

/// GROUP BY and aggregates over a hash table of group keys: consumes its whole
/// input, then emits one row per group. One instance per partition, each with
/// its own table. A partial aggregate turns a partition's rows into one state
/// row per group; the final one, after a repartition on the keys, merges the
/// states of a group (all in its partition) with ordinary aggregates: sum of
/// counts, min of mins. The operator itself does not depend on the phase.
/// Under a memory limit the table is reserved from the query's pool, for
/// the groups a batch may add before it adds them. When the pool says no, a
/// partial aggregate (whose states a final one merges anyway) emits what it
/// has and starts an empty table; a final or single one keeps feeding the
/// groups already in its table and spills the rows of other groups into 16
/// files by bits of their key's hash; after the table's groups are emitted,
/// each file is aggregated the same way on its own (one level deeper: other
/// hash bits), so a group's rows always meet in one table.
final class HashAggregateOperator: Operator {
    let input: Operator
    let groups: [BoundExpr]
    let aggregates: [AggregateCall]
    let schema: Schema
    let stats = OperatorStats()
    private let context: RunContext
    /// Its states are merged by a final aggregate after it: it may emit a group more than once.
    private let partial: Bool
    /// How deep in the spill recursion this operator is (0: the plan's own).
    private let level: Int
    private var table: GroupTable?
    private var budget: (MemoryReservation, SpillSpace)?
    private var spills: HashSpill?
    private var inputDone = false
    private var output = BatchQueue()
    /// Spilled partitions still to aggregate, and the operator working on one.
    private var pending: [SpillReader] = []
    private var child: HashAggregateOperator?
    static let maxLevel = 6

    init(_ input: Operator, groups: [BoundExpr], aggregates: [AggregateCall], schema: Schema, context: RunContext,
         partial: Bool = false, level: Int = 0) {
        self.input = input
        self.groups = groups
        self.aggregates = aggregates
        self.schema = schema
        self.context = context
        self.partial = partial
        self.level = level
    }

    func close() {
        inputDone = true
        output = BatchQueue()
        pending = []
        child = nil
        budget?.0.free()
        input.close()
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            while true {
                if let b = output.pop() { return b }
                if !inputDone {
                    try consume()
                    continue
                }
                if let c = child {
                    if let b = try c.next() { return b }
                    // Its figures are this operator's (its rows already are, as they pass through).
                    stats.absorbMemory(of: c.stats)
                    child = nil
                }
                guard !pending.isEmpty else { return nil }
                child = HashAggregateOperator(SpillScan(pending.removeFirst(), schema: input.schema, stats: stats), groups: groups,
                                              aggregates: aggregates, schema: schema, context: context, level: level + 1)
            }
        }
    }

    /// Feeds input batches to the table until there is output (a partial
    /// aggregate's flush) or the input ends (the table's groups, then the spills).
    private func consume() throws(SQLError) {
        if table == nil { startTable() }
        while output.isEmpty, let b = try input.next() {
            try context.check()
            if b.rowCount > 0 { try add(b) }
        }
        guard output.isEmpty else { return }
        inputDone = true
        try emitTable()
        if let spills {
            stats.spilledBytes += spills.bytes
            pending = spills.files.filter { $0.batches > 0 }.map { $0.finish() }
            self.spills = nil
        }
    }

    /// An empty table, with its reservation: a partial aggregate keeps a small
    /// one (its share, over 8), leaving the rest to the final one.
    private func startTable() {
        let t = GroupTable(groups: groups, aggregates: aggregates)
        // Without groups only the values some calls hold (median, string_agg, ORDER BY in a call) grow.
        budget = groups.isEmpty && t.heldValueCost == 0 ? nil : context.reservation("GROUP BY", ways: partial ? 8 : 1)
        table = t
    }

    private func emitTable() throws(SQLError) {
        guard let t = table else { return }
        for b in chunked(try t.finish(schema: schema)) { output.append(b) }
        table = nil
        budget?.0.free()
    }

    private func add(_ b: RecordBatch) throws(SQLError) {
        guard let t = table else { return }
        guard !groups.isEmpty else {
            if let (memory, _) = budget {
                try memory.require(b.rowCount * t.heldValueCost, "the values its aggregates keep")
                stats.peakMemory = max(stats.peakMemory, memory.peak)
            }
            return try t.update(ids: [Int32](repeating: 0, count: b.rowCount), b)
        }
        var keyCols: [Column] = []
        for g in groups { keyCols.append(try Evaluator.evaluate(g, b)) }
        let keys = Keys(keyCols)
        guard let (memory, spill) = budget else { _ = try t.add(b, keys: keys, keyCols: keyCols); return }
        // What the batch may add: a group per row at worst; counted exactly when the pool is short.
        let rowCost = t.perGroup + keyCols.reduce(0) { $0 + $1.memoryBytes } / b.rowCount
        let valueCost = b.rowCount * t.keptValueCost
        if spills == nil, memory.grow(b.rowCount * rowCost + valueCost) {
            let added = try t.add(b, keys: keys, keyCols: keyCols)
            memory.shrink((b.rowCount - added) * rowCost)
        } else {
            let ids = t.table.ids(keys, insert: false, nullsMatch: true)
            var missing: [Int32] = []
            for (i, id) in ids.enumerated() where id < 0 { missing.append(Int32(i)) }
            // At most this many new groups (rows of one key share one).
            if spills == nil, memory.grow(missing.count * rowCost + valueCost) {
                let added = try t.add(b, keys: keys, keyCols: keyCols)
                memory.shrink((missing.count - added) * rowCost)
            } else if partial, t.count > 0 {
                // The final aggregate merges states: emit these and start again with this batch.
                try emitTable()
                startTable()
                return try add(b)
            } else if partial {
                // A batch larger than a partial aggregate's share: its states go out at once (a partial never spills).
                _ = try t.add(b, keys: keys, keyCols: keyCols)
                try emitTable()
                startTable()
            } else if level >= Self.maxLevel {
                // Spilled this deep, the rows left share their hash bits: spilling again would not make progress.
                // (An empty table spills all above it: each level's files hold fewer groups, and the
                // operators holding the pool meanwhile may be done by then.)
                try memory.require(missing.count * rowCost + valueCost, "the groups of one batch of its input (\(b.rowCount) rows)")
                _ = try t.add(b, keys: keys, keyCols: keyCols)
            } else {
                // Rows of groups in the table stay; the others go to disk by their hash.
                if spills == nil { spills = try HashSpill(spill, "aggregate", level: level) }
                try spills!.append(b, hashes: keys.hashes, rows: missing)
                let kept = ids.indices.filter { ids[$0] >= 0 }.map { Int32($0) }
                if !kept.isEmpty {
                    try memory.require(kept.count * t.keptValueCost, "the values of the groups it keeps in memory")
                    try t.update(ids: kept.map { ids[Int($0)] }, kept.count == b.rowCount ? b : b.gather(kept))
                }
            }
        }
        stats.peakMemory = max(stats.peakMemory, memory.peak)
    }
}

/// One hash table of groups: their keys (in id order) and aggregate states.
final class GroupTable {
    let table: KeyTable
    private var keyBuilders: [ColumnBuilder]
    private let states: [AggregateState]
    private(set) var count: Int
    /// Bytes a group costs beyond its key (slot, states), and a row of the states that keep values
    /// (DISTINCT, median, string_agg, mode, quantiles; a call with ORDER BY holds the row and its keys).
    let perGroup: Int
    let keptValueCost: Int
    /// The part of keptValueCost that every row adds (DISTINCT keeps only new values).
    let heldValueCost: Int

    init(groups: [BoundExpr], aggregates: [AggregateCall]) {
        table = KeyTable(integerMode: Keys.integerMode(groups.map(\.type), packPairs: false))
        keyBuilders = groups.map { ColumnBuilder(type: $0.type) }
        states = aggregates.map { AggregateState($0) }
        count = groups.isEmpty ? 1 : 0
        if groups.isEmpty { for s in states { s.resize(1) } }
        perGroup = 48 + 24 * aggregates.count
        let keeping: Set<AggregateKind> = [.median, .stringAgg, .mode, .quantileCont, .quantileDisc]
        heldValueCost = aggregates.reduce(0) { cost, a in
            cost + (keeping.contains(a.kind) ? 24 : 0) + (a.orderBy.isEmpty ? 0 : 64 + 24 * a.orderBy.count)
        }
        keptValueCost = heldValueCost + 24 * aggregates.filter { $0.distinct && !keeping.contains($0.kind) }.count
    }

    /// Adds a batch's rows, making groups for new keys; how many groups it made.
    @discardableResult
    func add(_ b: RecordBatch, keys: Keys, keyCols: [Column]) throws(SQLError) -> Int {
        let before = table.count
        let ids = table.ids(keys, insert: true, nullsMatch: true)
        if table.count > before {
            // New groups appear in id order; remember their key values.
            var firstRows: [Int32] = []
            var next = Int32(before)
            for (row, id) in ids.enumerated() where id == next { firstRows.append(Int32(row)); next += 1 }
            for k in keyCols.indices { keyBuilders[k].append(contentsOf: keyCols[k].gather(firstRows)) }
            count = table.count
            for s in states { s.resize(count) }
        }
        try update(ids: ids, b)
        return table.count - before
    }

    func update(ids: [Int32], _ b: RecordBatch) throws(SQLError) {
        // Each distinct argument is evaluated once per batch (avg and sum of x share x).
        var evaluated: [BoundExpr: Column] = [:]
        for s in states {
            var arg: Column? = nil
            if let e = s.call.argument {
                if let c = evaluated[e] { arg = c } else { let c = try Evaluator.evaluate(e, b); evaluated[e] = c; arg = c }
            }
            var extra: Column? = nil
            if let e = s.call.extra {
                if let c = evaluated[e] { extra = c } else { let c = try Evaluator.evaluate(e, b); evaluated[e] = c; extra = c }
            }
            var keys: [Column] = []
            for k in s.call.orderBy { keys.append(try Evaluator.evaluate(k.expr, b)) }
            try s.update(ids, arg, extra: extra, orderKeys: keys, rows: b.rowCount)
        }
    }

    func finish(schema: Schema) throws(SQLError) -> RecordBatch {
        var cols: [Column] = []
        for k in keyBuilders.indices { cols.append(keyBuilders[k].finish()) }
        for s in states { cols.append(try s.finish(count)) }
        return RecordBatch(schema: schema, columns: cols, rowCount: count)
    }
}
