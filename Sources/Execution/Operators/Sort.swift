import Columnar
import SQL

/// ORDER BY over one partition: materializes its input and sorts it
/// (stable). Above it, a merging gather combines the partitions' runs.
final class SortOperator: Operator {
    let input: Operator
    let keys: [SortKey]
    let stats = OperatorStats()
    private let context: RunContext
    private var output: BatchQueue?

    init(_ input: Operator, keys: [SortKey], context: RunContext) {
        self.input = input
        self.keys = keys
        self.context = context
    }

    var schema: Schema { input.schema }

    func close() {
        output = BatchQueue()
        input.close()
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if output == nil {
                var held: [RecordBatch] = []
                while let b = try input.next() {
                    try context.check()
                    if b.rowCount > 0 { held.append(b) }
                }
                output = BatchQueue(held.isEmpty ? [] : chunked(try SortKernel.sorted(RecordBatch.concat(held, schema: schema), keys, keep: nil)))
            }
            return output?.pop()
        }
    }
}

/// Sorting shared by ORDER BY and top-N: a permutation by the keys, then a gather.
enum SortKernel {
    static func describe(_ keys: [SortKey], _ schema: Schema) -> String {
        keys.map { k in
            ExpressionText.render(k.expr, schema) + (k.ascending ? " ASC" : " DESC") + (k.nullsFirst ? " NULLS FIRST" : " NULLS LAST")
        }.joined(separator: ", ")
    }

    /// The rows of `b` in key order; only the first `keep` when given.
    static func sorted(_ b: RecordBatch, _ keys: [SortKey], keep: Int?) throws(SQLError) -> RecordBatch {
        var comparators: [(Int, Int) -> Int] = []
        for k in keys { comparators.append(RowComparator.make(try Evaluator.evaluate(k.expr, b), ascending: k.ascending, nullsFirst: k.nullsFirst)) }
        var perm = Array(0..<b.rowCount)
        let less: (Int, Int) -> Bool = { x, y in
            for c in comparators {
                let r = c(x, y)
                if r != 0 { return r < 0 }
            }
            return x < y   // stable
        }
        if let keep, keep < perm.count / 4 {
            perm = smallest(perm, keep, by: less)
        } else {
            perm.sort(by: less)
            if let keep, keep < perm.count { perm.removeLast(perm.count - keep) }
        }
        return b.gather(perm.map { Int32($0) })
    }

    /// The `k` smallest elements in order, via a bounded max-heap.
    static func smallest(_ xs: [Int], _ k: Int, by less: (Int, Int) -> Bool) -> [Int] {
        guard k > 0 else { return [] }
        var heap: [Int] = []
        heap.reserveCapacity(k + 1)
        func siftUp(_ i: Int) {
            var c = i
            while c > 0 { let p = (c - 1) / 2; if less(heap[p], heap[c]) { heap.swapAt(p, c); c = p } else { break } }
        }
        func siftDown() {
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < heap.count, less(heap[m], heap[l]) { m = l }
                if r < heap.count, less(heap[m], heap[r]) { m = r }
                if m == p { return }
                heap.swapAt(p, m); p = m
            }
        }
        for x in xs {
            if heap.count < k { heap.append(x); siftUp(heap.count - 1) }
            else if less(x, heap[0]) { heap[0] = x; siftDown() }
        }
        return heap.sorted(by: less)
    }
}

/// Compares two rows of one column with the ORDER BY direction and NULL placement.
enum RowComparator {
    static func make(_ c: Column, ascending: Bool, nullsFirst: Bool) -> (Int, Int) -> Int {
        let dir = ascending ? 1 : -1
        let base: (Int, Int) -> Int
        switch c.data {
        case .bool(let a): base = { a[$0] == a[$1] ? 0 : (a[$0] ? 1 : -1) }
        case .int32(let a): base = { a[$0] < a[$1] ? -1 : (a[$0] > a[$1] ? 1 : 0) }
        case .int64(let a): base = { a[$0] < a[$1] ? -1 : (a[$0] > a[$1] ? 1 : 0) }
        case .int128(let a): base = { a[$0] < a[$1] ? -1 : (a[$0] > a[$1] ? 1 : 0) }
        case .double(let a):
            // NaN sorts after every number, as in DuckDB.
            base = { x, y in
                let p = a[x], q = a[y]
                if p.isNaN || q.isNaN { return p.isNaN == q.isNaN ? 0 : (p.isNaN ? 1 : -1) }
                return p < q ? -1 : (p > q ? 1 : 0)
            }
        case .interval(let a): base = { a[$0] < a[$1] ? -1 : (a[$0] == a[$1] ? 0 : 1) }
        case .string(let s):
            base = { x, y in
                s.bytes.withUnsafeBytes { raw in
                    compareBytes(UnsafeRawBufferPointer(rebasing: raw[s.range(x)]), UnsafeRawBufferPointer(rebasing: raw[s.range(y)]))
                }
            }
        }
        guard c.validity != nil || c.type == .null else { return { base($0, $1) * dir } }
        let nullOrder = nullsFirst ? -1 : 1
        return { x, y in
            let nx = c.isNull(x) || c.type == .null, ny = c.isNull(y) || c.type == .null
            if nx || ny { return nx == ny ? 0 : (nx ? nullOrder : -nullOrder) }
            return base(x, y) * dir
        }
    }
}

import Foundation
