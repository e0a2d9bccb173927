import Columnar
import SQL

/// Keeps rows where the predicate is TRUE. Stateless: one instance per
/// partition, any number at once. Returns a batch for every input batch, an
/// empty one when nothing passes, so morsel boundaries reach the gather.
final class FilterOperator: Operator {
    let input: Operator
    let predicate: BoundExpr
    let stats = OperatorStats()
    private let context: RunContext

    init(_ input: Operator, _ predicate: BoundExpr, context: RunContext) {
        self.input = input
        self.predicate = predicate
        self.context = context
    }

    var schema: Schema { input.schema }
    var morsel: Int { input.morsel }

    func close() { input.close() }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            try context.check()
            guard let b = try input.next() else { return nil }
            if b.rowCount == 0 { return b }
            let idx = selectionIndices(try Evaluator.select(predicate, b))
            return idx.count == b.rowCount ? b : b.gather(idx)
        }
    }
}

func selectionIndices(_ keep: [Bool]) -> [Int32] {
    var idx: [Int32] = []
    idx.reserveCapacity(keep.count)
    for i in 0..<keep.count where keep[i] { idx.append(Int32(i)) }
    return idx
}
