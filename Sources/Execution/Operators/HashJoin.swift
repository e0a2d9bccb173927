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

    /// The key id of every probe row (-1: no build row has its key).
    func ids(_ keys: [Column]) -> [Int32] {
        let n = keys.first?.count ?? 0
        guard n > 0, !isEmpty else { return [Int32](repeating: -1, count: n) }
        return table.ids(Keys(keys, packPairs: true), insert: false, nullsMatch: false)
    }

    /// Appends the (probe row, build row) pairs with equal keys, probe rows in
    /// order from `start`, stopping after the probe row that reaches `limit`
    /// pairs; returns the probe row to go on from.
    func pairs(_ ids: [Int32], from start: Int, limit: Int, left: inout [Int32], right: inout [Int32]) -> Int {
        var i = start
        head.withUnsafeBufferPointer { head in
            nextRow.withUnsafeBufferPointer { next in
                ids.withUnsafeBufferPointer { ids in
                    while i < ids.count, left.count < limit {
                        let id = ids[i]
                        if id >= 0 {
                            var row = head[Int(id)]
                            while row >= 0 {
                                left.append(Int32(i))
                                right.append(row)
                                row = next[Int(row)]
                            }
                        }
                        i += 1
                    }
                }
            }
        }
        return i
    }
}

/// Equi-join of one probe partition against a build table: INNER, LEFT,
/// RIGHT and FULL; extra conditions are checked on each candidate pair. The
/// table is this partition's own (`partitioned`, both sides hashed on the
/// keys) or one shared by all (`shared`, built once from a broadcast).
/// Unmatched build rows (RIGHT, FULL) of a shared table are known only when
/// every partition is done: `matches` combines their flags for the last one.
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
    private let matches: SharedMatches?
    private var table: JoinTable?
    private var buildMatched: [Bool] = []
    private var pending = BatchQueue()
    private var finished = false

    init(probe: Operator, build: @escaping () throws(SQLError) -> JoinTable, closeBuild: @escaping () -> Void, matches: SharedMatches?,
         kind: JoinKind, probeKeys: [BoundExpr], residual: BoundExpr?, schema: Schema, context: RunContext) {
        self.probe = probe
        self.matches = matches
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
        let ids = t.ids(keyCols)
        var probeMatched = [Bool](repeating: false, count: kind == .left || kind == .full ? p.rowCount : 0)
        var left: [Int32] = [], right: [Int32] = []
        left.reserveCapacity(min(p.rowCount, targetBatchRows * 4))
        right.reserveCapacity(min(p.rowCount, targetBatchRows * 4))
        var next = 0
        while next < p.rowCount {
            left.removeAll(keepingCapacity: true)
            right.removeAll(keepingCapacity: true)
            next = t.pairs(ids, from: next, limit: targetBatchRows * 4, left: &left, right: &right)
            guard !left.isEmpty else { continue }
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
            if !buildMatched.isEmpty { buildMatched.withUnsafeMutableBufferPointer { m in for x in r { m[Int(x)] = true } } }
            if out.rowCount > 0 { pending.append(out) }
        }
        if !probeMatched.isEmpty {
            let unmatched = (0..<p.rowCount).filter { !probeMatched[$0] }.map { Int32($0) }
            if !unmatched.isEmpty { pending.append(joined(p, unmatched, t.rows, [Int32](repeating: -1, count: unmatched.count))) }
        }
    }

    private func emitUnmatchedBuild() {
        guard let b = table?.rows else { return }
        var matched = buildMatched
        if let matches {
            guard let all = matches.finish(buildMatched) else { return }   // another partition finishes last
            matched = all
        }
        let unmatched = (0..<b.rowCount).filter { !matched[$0] }.map { Int32($0) }
        guard !unmatched.isEmpty else { return }
        let nullProbe = RecordBatch(schema: probe.schema, columns: probe.schema.fields.map { Column.constant(.null, type: $0.type, count: 1) }, rowCount: 1)
        pending.append(joined(nullProbe, [Int32](repeating: -1, count: unmatched.count), b, unmatched))
    }

    private func joined(_ p: RecordBatch, _ l: [Int32], _ b: RecordBatch, _ r: [Int32]) -> RecordBatch {
        RecordBatch(schema: schema, columns: p.columns.map { $0.gather(l) } + b.columns.map { $0.gather(r) }, rowCount: l.count)
    }
}
