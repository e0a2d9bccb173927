import Columnar
import SQL

/// Keeps rows where the predicate is TRUE. Stateless: instances may run on
/// separate partitions at once.
final class FilterOperator: Operator {
    let input: Operator
    let predicate: BoundExpr
    let stats = OperatorStats()
    init(_ input: Operator, _ predicate: BoundExpr) { self.input = input; self.predicate = predicate }
    var schema: Schema { input.schema }
    var children: [Operator] { [input] }
    var label: String { "FILTER \(ExpressionText.render(predicate, input.schema))" }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            while let b = try input.next() {
                let keep = try Evaluator.select(predicate, b)
                let idx = selectionIndices(keep)
                if idx.isEmpty { continue }
                return idx.count == b.rowCount ? b : b.gather(idx)
            }
            return nil
        }
    }
}

func selectionIndices(_ keep: [Bool]) -> [Int32] {
    var idx: [Int32] = []
    idx.reserveCapacity(keep.count)
    for i in 0..<keep.count where keep[i] { idx.append(Int32(i)) }
    return idx
}
