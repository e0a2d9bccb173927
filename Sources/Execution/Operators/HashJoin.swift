import Columnar
import SQL

/// Equi-join: builds a hash table on the right input, streams the left input
/// through it. INNER, LEFT, RIGHT and FULL; extra conditions are checked on each
/// candidate pair. The build is read-only once done, so partitions of the probe
/// side could share one build (broadcast) or each take a hash partition.
final class HashJoinOperator: Operator {
    let probe: Operator, build: Operator
    let kind: JoinKind
    let probeKeys: [BoundExpr], buildKeys: [BoundExpr]
    let residual: BoundExpr?
    let schema: Schema
    let stats = OperatorStats()

    private var built: RecordBatch?
    private var table: KeyTable?
    private var head: [Int32] = []
    private var nextRow: [Int32] = []
    private var buildMatched: [Bool] = []
    private var pending: [RecordBatch] = []
    private var finished = false

    init(probe: Operator, build: Operator, kind: JoinKind, probeKeys: [BoundExpr], buildKeys: [BoundExpr], residual: BoundExpr?, schema: Schema) {
        self.probe = probe; self.build = build; self.kind = kind
        self.probeKeys = probeKeys; self.buildKeys = buildKeys; self.residual = residual; self.schema = schema
    }
    var children: [Operator] { [probe, build] }
    var label: String {
        let conds = zip(probeKeys, buildKeys).map { "\(ExpressionText.render($0, probe.schema)) = \(ExpressionText.render($1, build.schema))" }
        return "HASH_JOIN \(kind.rawValue) " + conds.joined(separator: " AND ") + (residual.map { " AND \(ExpressionText.render($0, schema))" } ?? "")
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if built == nil { try buildTable() }
            while pending.isEmpty {
                if finished { return nil }
                guard let p = try probe.next() else {
                    finished = true
                    if kind == .right || kind == .full { emitUnmatchedBuild() }
                    continue
                }
                try probeBatch(p)
            }
            return pending.removeFirst()
        }
    }

    private func buildTable() throws(SQLError) {
        let batches = try drain(build)
        let b = batches.isEmpty ? RecordBatch.empty(build.schema) : RecordBatch.concat(batches, schema: build.schema)
        var keyCols: [Column] = []
        for k in buildKeys { keyCols.append(try Evaluator.evaluate(k, b)) }
        let t = KeyTable(integerMode: Keys.integerMode(keyCols.map(\.type), packPairs: true), capacity: max(16, b.rowCount))
        let ids = b.rowCount == 0 ? [] : t.ids(Keys(keyCols, packPairs: true), insert: true, nullsMatch: false)
        head = [Int32](repeating: -1, count: t.count)
        nextRow = [Int32](repeating: -1, count: b.rowCount)
        // Chains keep build rows in input order: insert from the back.
        for row in stride(from: b.rowCount - 1, through: 0, by: -1) where ids[row] >= 0 {
            let id = Int(ids[row])
            nextRow[row] = head[id]
            head[id] = Int32(row)
        }
        buildMatched = [Bool](repeating: false, count: b.rowCount)
        built = b
        table = t
    }

    private func probeBatch(_ p: RecordBatch) throws(SQLError) {
        guard let b = built, let t = table else { return }
        var keyCols: [Column] = []
        for k in probeKeys { keyCols.append(try Evaluator.evaluate(k, p)) }
        let ids = (b.rowCount == 0 || p.rowCount == 0) ? [Int32](repeating: -1, count: p.rowCount) : t.ids(Keys(keyCols, packPairs: true), insert: false, nullsMatch: false)
        var left: [Int32] = [], right: [Int32] = []
        left.reserveCapacity(p.rowCount); right.reserveCapacity(p.rowCount)
        var probeMatched = [Bool](repeating: false, count: p.rowCount)
        func flush() throws(SQLError) {
            guard !left.isEmpty else { return }
            var out = joined(p, left, b, right)
            var l = left, r = right
            if let residual {
                let keep = try Evaluator.select(residual, out)
                let idx = selectionIndices(keep)
                if idx.count != out.rowCount {
                    out = out.gather(idx)
                    l = idx.map { left[Int($0)] }; r = idx.map { right[Int($0)] }
                }
            }
            for x in l { probeMatched[Int(x)] = true }
            for x in r { buildMatched[Int(x)] = true }
            if out.rowCount > 0 { pending.append(out) }
            left.removeAll(keepingCapacity: true); right.removeAll(keepingCapacity: true)
        }
        for i in 0..<p.rowCount {
            var row = ids[i] >= 0 ? head[Int(ids[i])] : -1
            while row >= 0 {
                left.append(Int32(i)); right.append(row)
                row = nextRow[Int(row)]
            }
            if left.count >= targetBatchRows * 4 { try flush() }
        }
        try flush()
        if kind == .left || kind == .full {
            let unmatched = (0..<p.rowCount).filter { !probeMatched[$0] }.map { Int32($0) }
            if !unmatched.isEmpty { pending.append(joined(p, unmatched, b, [Int32](repeating: -1, count: unmatched.count))) }
        }
    }

    private func emitUnmatchedBuild() {
        guard let b = built else { return }
        let unmatched = (0..<b.rowCount).filter { !buildMatched[$0] }.map { Int32($0) }
        guard !unmatched.isEmpty else { return }
        let nullProbe = RecordBatch(schema: probe.schema, columns: probe.schema.fields.map { Column.constant(.null, type: $0.type, count: 1) }, rowCount: 1)
        pending.append(joined(nullProbe, [Int32](repeating: -1, count: unmatched.count), b, unmatched))
    }

    private func joined(_ p: RecordBatch, _ l: [Int32], _ b: RecordBatch, _ r: [Int32]) -> RecordBatch {
        RecordBatch(schema: schema, columns: p.columns.map { $0.gather(l) } + b.columns.map { $0.gather(r) }, rowCount: l.count)
    }
}
