import Columnar
import SQL

/// The build side of a hash join: its rows, a hash table of their keys, and
/// for each distinct key the chain of rows that have it (in input order).
/// Built once, then only read, so every probe partition may share one.
final class JoinTable: @unchecked Sendable {
    let rows: RecordBatch
    private let table: KeyTable
    private let head: [Int32]
    private let nextRow: [Int32]

    init(_ batches: [RecordBatch], schema: Schema, keys: [BoundExpr]) throws(SQLError) {
        let b = batches.isEmpty ? RecordBatch.empty(schema) : RecordBatch.concat(batches, schema: schema)
        var keyCols: [Column] = []
        for k in keys { keyCols.append(try Evaluator.evaluate(k, b)) }
        let t = KeyTable(integerMode: Keys.integerMode(keyCols.map(\.type), packPairs: true), capacity: max(16, b.rowCount))
        let ids = b.rowCount == 0 ? [] : t.ids(Keys(keyCols, packPairs: true), insert: true, nullsMatch: false)
        var head = [Int32](repeating: -1, count: t.count)
        var nextRow = [Int32](repeating: -1, count: b.rowCount)
        // Chains keep build rows in input order: insert from the back.
        for row in stride(from: b.rowCount - 1, through: 0, by: -1) where ids[row] >= 0 {
            let id = Int(ids[row])
            nextRow[row] = head[id]
            head[id] = Int32(row)
        }
        rows = b
        table = t
        self.head = head
        self.nextRow = nextRow
    }

    var isEmpty: Bool { rows.rowCount == 0 }

    /// Calls `match(probeRow, buildRow)` for every pair with equal keys, probe rows in order.
    @inline(__always)
    func matches(_ keys: [Column], _ body: (Int32, Int32) throws(SQLError) -> Void) throws(SQLError) {
        guard let n = keys.first?.count, n > 0, !isEmpty else { return }
        let ids = table.ids(Keys(keys, packPairs: true), insert: false, nullsMatch: false)
        for i in 0..<n where ids[i] >= 0 {
            var row = head[Int(ids[i])]
            while row >= 0 {
                try body(Int32(i), row)
                row = nextRow[Int(row)]
            }
        }
    }
}

/// Equi-join of one probe partition against a build table: INNER, LEFT,
/// RIGHT and FULL; extra conditions are checked on each candidate pair. The
/// table is this partition's own (`partitioned`, both sides hashed on the
/// keys) or one shared by all (`shared`, built once from a broadcast).
/// Unmatched build rows (RIGHT, FULL) are known only to a partition that saw
/// every probe row for them, which the planner guarantees.
final class HashJoinOperator: Operator {
    let probe: Operator
    let kind: JoinKind
    let probeKeys: [BoundExpr]
    let residual: BoundExpr?
    let schema: Schema
    let stats = OperatorStats()
    private let context: RunContext
    private let build: () throws(SQLError) -> JoinTable
    private let closeBuild: () -> Void
    private var table: JoinTable?
    private var buildMatched: [Bool] = []
    private var pending = BatchQueue()
    private var finished = false

    init(probe: Operator, build: @escaping () throws(SQLError) -> JoinTable, closeBuild: @escaping () -> Void,
         kind: JoinKind, probeKeys: [BoundExpr], residual: BoundExpr?, schema: Schema, context: RunContext) {
        self.probe = probe
        self.build = build
        self.closeBuild = closeBuild
        self.kind = kind
        self.probeKeys = probeKeys
        self.residual = residual
        self.schema = schema
        self.context = context
    }

    func close() {
        finished = true
        pending = BatchQueue()
        probe.close()
        closeBuild()
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if table == nil {
                let t = try build()
                table = t
                if kind == .right || kind == .full { buildMatched = [Bool](repeating: false, count: t.rows.rowCount) }
                // Nothing can match an empty build: an inner or right join is done.
                if t.isEmpty, kind == .inner || kind == .right { finished = true; probe.close() }
            }
            while true {
                if let b = pending.pop() { return b }
                if finished { return nil }
                try context.check()
                guard let p = try probe.next() else {
                    finished = true
                    if kind == .right || kind == .full { emitUnmatchedBuild() }
                    continue
                }
                if p.rowCount > 0 { try probeBatch(p) }
            }
        }
    }

    private func probeBatch(_ p: RecordBatch) throws(SQLError) {
        guard let t = table else { return }
        var keyCols: [Column] = []
        for k in probeKeys { keyCols.append(try Evaluator.evaluate(k, p)) }
        var left: [Int32] = [], right: [Int32] = []
        left.reserveCapacity(p.rowCount)
        right.reserveCapacity(p.rowCount)
        var probeMatched = [Bool](repeating: false, count: kind == .left || kind == .full ? p.rowCount : 0)
        let tracksBuild = kind == .right || kind == .full
        func flush() throws(SQLError) {
            guard !left.isEmpty else { return }
            var out = joined(p, left, t.rows, right)
            var l = left, r = right
            if let residual {
                let idx = selectionIndices(try Evaluator.select(residual, out))
                if idx.count != out.rowCount {
                    out = out.gather(idx)
                    l = idx.map { left[Int($0)] }
                    r = idx.map { right[Int($0)] }
                }
            }
            if !probeMatched.isEmpty { for x in l { probeMatched[Int(x)] = true } }
            if tracksBuild { for x in r { buildMatched[Int(x)] = true } }
            if out.rowCount > 0 { pending.append(out) }
            left.removeAll(keepingCapacity: true)
            right.removeAll(keepingCapacity: true)
        }
        try t.matches(keyCols) { (i, row) throws(SQLError) in
            left.append(i)
            right.append(row)
            if left.count >= targetBatchRows * 4 { try flush() }
        }
        try flush()
        if !probeMatched.isEmpty {
            let unmatched = (0..<p.rowCount).filter { !probeMatched[$0] }.map { Int32($0) }
            if !unmatched.isEmpty { pending.append(joined(p, unmatched, t.rows, [Int32](repeating: -1, count: unmatched.count))) }
        }
    }

    private func emitUnmatchedBuild() {
        guard let b = table?.rows else { return }
        let unmatched = (0..<b.rowCount).filter { !buildMatched[$0] }.map { Int32($0) }
        guard !unmatched.isEmpty else { return }
        let nullProbe = RecordBatch(schema: probe.schema, columns: probe.schema.fields.map { Column.constant(.null, type: $0.type, count: 1) }, rowCount: 1)
        pending.append(joined(nullProbe, [Int32](repeating: -1, count: unmatched.count), b, unmatched))
    }

    private func joined(_ p: RecordBatch, _ l: [Int32], _ b: RecordBatch, _ r: [Int32]) -> RecordBatch {
        RecordBatch(schema: schema, columns: p.columns.map { $0.gather(l) } + b.columns.map { $0.gather(r) }, rowCount: l.count)
    }
}
