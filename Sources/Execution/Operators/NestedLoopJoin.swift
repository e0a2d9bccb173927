import Columnar
import SQL

/// Every left row with every right row, then the condition (if any). The right
/// input is materialized; the left streams.
final class NestedLoopJoinOperator: Operator {
    let left: Operator, right: Operator
    let condition: BoundExpr?
    let kind: JoinKind
    let schema: Schema
    let stats = OperatorStats()
    private var rightBatch: RecordBatch?
    private var pending: [RecordBatch] = []
    private var rightMatched: [Bool] = []
    private var finished = false
    let cancel: Cancellation

    init(_ left: Operator, _ right: Operator, kind: JoinKind, condition: BoundExpr?, schema: Schema, cancel: Cancellation) {
        self.left = left; self.right = right; self.kind = kind; self.condition = condition; self.schema = schema; self.cancel = cancel
    }
    var children: [Operator] { [left, right] }
    var label: String { (kind == .cross || kind == .inner ? "CROSS_PRODUCT" : "NESTED_LOOP_JOIN \(kind.rawValue)") + (condition.map { " " + ExpressionText.render($0, schema) } ?? "") }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if rightBatch == nil {
                let bs = try drain(right)
                rightBatch = bs.isEmpty ? RecordBatch.empty(right.schema) : RecordBatch.concat(bs, schema: right.schema)
                rightMatched = [Bool](repeating: false, count: rightBatch!.rowCount)
            }
            let r = rightBatch!
            while pending.isEmpty {
                if finished { return nil }
                guard let l = try left.next() else {
                    finished = true
                    if kind == .right || kind == .full {
                        let un = (0..<r.rowCount).filter { !rightMatched[$0] }.map { Int32($0) }
                        if !un.isEmpty {
                            let nulls = left.schema.fields.map { Column.constant(.null, type: $0.type, count: un.count) }
                            pending.append(RecordBatch(schema: schema, columns: nulls + r.columns.map { $0.gather(un) }, rowCount: un.count))
                        }
                    }
                    continue
                }
                var leftMatched = [Bool](repeating: false, count: l.rowCount)
                let chunk = max(1, targetBatchRows * 4 / max(1, r.rowCount))
                var start = 0
                while start < l.rowCount {
                    try cancel.check()
                    let end = min(l.rowCount, start + chunk)
                    var li: [Int32] = [], ri: [Int32] = []
                    for i in start..<end { for j in 0..<r.rowCount { li.append(Int32(i)); ri.append(Int32(j)) } }
                    var out = RecordBatch(schema: schema, columns: l.columns.map { $0.gather(li) } + r.columns.map { $0.gather(ri) }, rowCount: li.count)
                    if let condition {
                        let idx = selectionIndices(try Evaluator.select(condition, out))
                        out = out.gather(idx)
                        for k in idx { leftMatched[Int(li[Int(k)])] = true; rightMatched[Int(ri[Int(k)])] = true }
                    } else {
                        for k in li.indices { leftMatched[Int(li[k])] = true; rightMatched[Int(ri[k])] = true }
                    }
                    if out.rowCount > 0 { pending.append(out) }
                    start = end
                }
                if kind == .left || kind == .full {
                    let un = (0..<l.rowCount).filter { !leftMatched[$0] }.map { Int32($0) }
                    if !un.isEmpty {
                        let nulls = right.schema.fields.map { Column.constant(.null, type: $0.type, count: un.count) }
                        pending.append(RecordBatch(schema: schema, columns: l.columns.map { $0.gather(un) } + nulls, rowCount: un.count))
                    }
                }
            }
            return pending.removeFirst()
        }
    }
}
