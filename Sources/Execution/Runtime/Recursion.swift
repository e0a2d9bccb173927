import Columnar
import SQL

extension QueryRun {
    /// Rounds after which a recursive CTE that still adds rows is taken for
    /// one that never ends (DuckDB would run on until memory runs out).
    static let maxRecursionRounds = 100_000

    /// The rows of recursive CTE `p` (inputs anchor and step): the anchor's,
    /// then round after round the step's over the rows the round before
    /// added, each round a fresh run of the step's tree (its exchanges and
    /// threads as any query's), until a round adds nothing. Held under the
    /// memory limit, spilled past it.
    func recursive(_ p: PhysicalPlan, id: Int, distinct: Bool, tree: Int, from context: RunContext) throws(SQLError) -> HeldRows {
        let reservation = context.memory.map { MemoryReservation($0, owner: "WITH RECURSIVE", share: max(1 << 20, $0.limit / 4)) }
        let rows = HeldRows(reservation, spill: context.spill, what: "its rows")
        // UNION: every row produced so far, so that a row comes once and a cycle ends. It cannot
        // spill, so it is held under a reservation of its own and past the limit fails clearly.
        var seen = Set<[Value]>()
        let seenMemory = distinct ? context.memory.map { MemoryReservation($0, owner: "WITH RECURSIVE ... UNION", share: 0) } : nil
        func added(_ batches: [RecordBatch]) throws(SQLError) -> [RecordBatch] {
            var out: [RecordBatch] = []
            for var b in batches where b.rowCount > 0 {
                b = RecordBatch(schema: p.schema, columns: b.columns, rowCount: b.rowCount)
                if distinct {
                    var keep: [Int32] = []
                    for r in 0..<b.rowCount where seen.insert(b.columns.map { $0.value(at: r) }).inserted { keep.append(Int32(r)) }
                    if keep.count < b.rowCount { b = b.gather(keep) }
                    try seenMemory?.require(b.memoryBytes + b.rowCount * (64 + 32 * b.columns.count), "the rows its UNION has seen")
                }
                if b.rowCount > 0 {
                    try rows.append(b)
                    out.append(b)
                }
            }
            return out
        }
        defer { workingTables.withLock { $0[id] = nil } }
        var last = try added(try execute(p.inputs[0], tree: tree, parent: context))
        var rounds = 0
        while !last.isEmpty {
            rounds += 1
            guard rounds <= Self.maxRecursionRounds else {
                throw SQLError.execution("recursive CTE still adds rows after \(Self.maxRecursionRounds) rounds; its recursive part needs a condition that ends it")
            }
            try context.check()
            workingTables.withLock { $0[id] = last }
            last = try added(try execute(p.inputs[1], tree: tree, parent: context))
        }
        rows.finish()
        return rows
    }
}
