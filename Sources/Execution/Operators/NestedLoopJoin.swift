import Columnar
import SQL

/// Every outer row with every inner row, then the condition (if any), for
/// joins without equality keys. The inner rows are materialized (this
/// partition's own, or one copy shared by all partitions, whose unmatched
/// rows the last partition to finish emits); the outer side streams.
final class NestedLoopJoinOperator: Operator {
    let outer: Operator
    let condition: BoundExpr?
    let kind: JoinKind
    let schema: Schema
    let stats = OperatorStats()
    private let innerSchema: Schema
    private let inner: () throws(SQLError) -> RecordBatch
    private let closeInner: () -> Void
    private let matches: SharedMatches?
    private let context: RunContext
    private var rows: RecordBatch?
    private var pending = BatchQueue()
    private var innerMatched: [Bool] = []
    private var finished = false

    init(outer: Operator, inner: @escaping () throws(SQLError) -> RecordBatch, innerSchema: Schema, closeInner: @escaping () -> Void,
         matches: SharedMatches?, kind: JoinKind, condition: BoundExpr?, schema: Schema, context: RunContext) {
        self.outer = outer
        self.matches = matches
        self.inner = inner
        self.innerSchema = innerSchema
        self.closeInner = closeInner
        self.kind = kind
        self.condition = condition
        self.schema = schema
        self.context = context
    }

    func close() {
        finished = true
        pending = BatchQueue()
        outer.close()
        closeInner()
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if rows == nil {
                let r = try inner()
                rows = r
                innerMatched = [Bool](repeating: false, count: r.rowCount)
            }
            guard let r = rows else { return nil }
            while true {
                if let b = pending.pop() { return b }
                if finished { return nil }
                try context.check()
                guard let l = try outer.next() else {
                    finished = true
                    if kind.keepsUnmatchedRight, let matched = matches.map({ $0.finish(innerMatched) }) ?? innerMatched {
                        let un = (0..<r.rowCount).filter { !matched[$0] }.map { Int32($0) }
                        if !un.isEmpty {
                            let nulls = outer.schema.fields.map { Column.constant(.null, type: $0.type, count: un.count) }
                            pending.append(RecordBatch(schema: schema, columns: nulls + r.columns.map { $0.gather(un) }, rowCount: un.count))
                        }
                    }
                    continue
                }
                if l.rowCount > 0 { try join(l, r) }
            }
        }
    }

    private func join(_ l: RecordBatch, _ r: RecordBatch) throws(SQLError) {
        guard kind.outputsRight else { return try joinForMatches(l, r) }
        var outerMatched = [Bool](repeating: false, count: l.rowCount)
        let chunk = max(1, targetBatchRows * 4 / max(1, r.rowCount))
        var start = 0
        while start < l.rowCount {
            try context.check()
            let end = min(l.rowCount, start + chunk)
            var li: [Int32] = [], ri: [Int32] = []
            li.reserveCapacity((end - start) * r.rowCount)
            ri.reserveCapacity((end - start) * r.rowCount)
            for i in start..<end { for j in 0..<r.rowCount { li.append(Int32(i)); ri.append(Int32(j)) } }
            var out = RecordBatch(schema: schema, columns: l.columns.map { $0.gather(li) } + r.columns.map { $0.gather(ri) }, rowCount: li.count)
            var kept: [Int32] = li.indices.map { Int32($0) }
            if let condition {
                kept = selectionIndices(try Evaluator.select(condition, out))
                out = out.gather(kept)
            }
            for k in kept {
                let o = Int(li[Int(k)])
                if kind == .single, outerMatched[o] { throw moreThanOneRow }
                outerMatched[o] = true
                innerMatched[Int(ri[Int(k)])] = true
            }
            if out.rowCount > 0 { pending.append(out) }
            start = end
        }
        if kind.keepsUnmatchedLeft {
            let un = (0..<l.rowCount).filter { !outerMatched[$0] }.map { Int32($0) }
            if !un.isEmpty {
                let nulls = innerSchema.fields.map { Column.constant(.null, type: $0.type, count: un.count) }
                pending.append(RecordBatch(schema: schema, columns: l.columns.map { $0.gather(un) } + nulls, rowCount: un.count))
            }
        }
    }

    /// SEMI, ANTI, MARK: which outer rows some inner row meets with the condition TRUE (or NULL).
    private func joinForMatches(_ l: RecordBatch, _ r: RecordBatch) throws(SQLError) {
        var matches = LeftMatches(count: l.rowCount)
        let pairSchema = Schema(l.schema.fields + innerSchema.fields)
        let chunk = max(1, targetBatchRows * 4 / max(1, r.rowCount))
        var start = 0
        while start < l.rowCount, r.rowCount > 0 {
            try context.check()
            let end = min(l.rowCount, start + chunk)
            var li: [Int32] = [], ri: [Int32] = []
            for i in start..<end { for j in 0..<r.rowCount { li.append(Int32(i)); ri.append(Int32(j)) } }
            let pairs = RecordBatch(schema: pairSchema, columns: l.columns.map { $0.gather(li) } + r.columns.map { $0.gather(ri) }, rowCount: li.count)
            matches.record(left: li, condition: try condition.map { (c) throws(SQLError) in try Evaluator.evaluate(c, pairs) })
            start = end
        }
        let out = matches.output(l, kind: kind, schema: schema)
        if out.rowCount > 0 { pending.append(out) }
    }
}
