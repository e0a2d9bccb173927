import Columnar
import SQL

/// What a SEMI, ANTI or MARK join learns about each left row of a batch from
/// the pairs it forms: whether some right row matched with the condition
/// TRUE, and (for MARK) whether one matched with it NULL. The hash and the
/// nested-loop joins share it, so the three kinds mean the same in both.
struct LeftMatches {
    private(set) var found: [Bool]
    private var unknown: [Bool]

    init(count: Int) {
        found = [Bool](repeating: false, count: count)
        unknown = [Bool](repeating: false, count: count)
    }

    /// Pairs whose left rows are `left`; `condition` is their condition's value (nil: no condition, TRUE).
    mutating func record(left: [Int32], condition: Column?) {
        guard let condition else {
            for i in left { found[Int(i)] = true }
            return
        }
        guard case .bool(let v) = condition.data else {
            for i in left { unknown[Int(i)] = true }   // a NULL-typed condition
            return
        }
        for (k, i) in left.enumerated() {
            if condition.isNull(k) { unknown[Int(i)] = true } else if v[k] { found[Int(i)] = true }
        }
    }

    /// The join's output for the batch `p` whose rows these are.
    func output(_ p: RecordBatch, kind: JoinKind, schema: Schema) -> RecordBatch {
        switch kind {
        case .semi, .anti:
            let want = kind == .semi
            var idx: [Int32] = []
            for i in found.indices where found[i] == want { idx.append(Int32(i)) }
            return idx.count == p.rowCount ? p : p.gather(idx)
        default:
            var validity = Bitmap(count: found.count, allSet: true)
            var anyNull = false
            for i in found.indices where !found[i] && unknown[i] { validity[i] = false; anyNull = true }
            let mark = Column(type: .boolean, data: .bool(found), validity: anyNull ? validity : nil)
            return RecordBatch(schema: schema, columns: p.columns + [mark], rowCount: p.rowCount)
        }
    }
}

/// The error of a SINGLE join (a scalar subquery) whose left row met a second right row.
let moreThanOneRow = SQLError.execution("More than one row returned by a subquery used as an expression; add LIMIT 1 or an aggregate")
