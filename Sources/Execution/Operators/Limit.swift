import Columnar
import SQL

/// LIMIT / OFFSET: stops pulling from its input once it has enough rows. Below
/// a gather it bounds one partition (at limit + offset); above it, the result.
final class LimitOperator: Operator {
    let input: Operator
    let limit: Int?
    private var skip: Int
    private var emitted = 0
    private var done = false
    let stats = OperatorStats()
    private let context: RunContext

    init(_ input: Operator, limit: Int?, offset: Int, context: RunContext) {
        self.input = input
        self.limit = limit
        self.skip = offset
        self.context = context
    }

    var schema: Schema { input.schema }
    var morsel: Int { input.morsel }

    func close() {
        if !done { done = true; input.close() }
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            while !done {
                try context.check()
                if let l = limit, emitted >= l { close(); return nil }
                guard var b = try input.next() else { done = true; return nil }
                if skip > 0 {
                    if b.rowCount <= skip { skip -= b.rowCount; continue }
                    b = b.slice(skip..<b.rowCount)
                    skip = 0
                }
                if let l = limit, emitted + b.rowCount > l { b = b.slice(0..<(l - emitted)) }
                emitted += b.rowCount
                return b
            }
            return nil
        }
    }
}
