import Columnar
import SQL

/// LIMIT / OFFSET: stops pulling from its input once it has enough rows.
final class LimitOperator: Operator {
    let input: Operator
    let limit: Int?
    var skip: Int
    var emitted = 0
    let stats = OperatorStats()
    init(_ input: Operator, limit: Int?, offset: Int) { self.input = input; self.limit = limit; self.skip = offset }
    var schema: Schema { input.schema }
    var children: [Operator] { [input] }
    var label: String { "LIMIT \(limit.map(String.init) ?? "ALL")" + (skip > 0 ? " OFFSET \(skip)" : "") }
    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            while true {
                if let l = limit, emitted >= l { return nil }
                guard var b = try input.next() else { return nil }
                if skip > 0 {
                    if b.rowCount <= skip { skip -= b.rowCount; continue }
                    b = b.slice(skip..<b.rowCount); skip = 0
                }
                if let l = limit, emitted + b.rowCount > l { b = b.slice(0..<(l - emitted)) }
                emitted += b.rowCount
                return b
            }
        }
    }
}
