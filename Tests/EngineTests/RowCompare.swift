import Columnar
import Execution

/// The last statement's rows of `sql`, each value rendered as text ("NULL" for null).
func renderedRows(_ s: Session, _ sql: String) throws -> [[String]] {
    guard case .rows(let schema, let batches)? = try s.execute(sql).last else { return [] }
    return batches.flatMap { b in
        (0..<b.rowCount).map { r in b.columns.indices.map { c in render(b.columns[c].value(at: r), as: schema.fields[c].type) ?? "NULL" } }
    }
}

/// Row for row equal, numbers within 1e-9 relative (sums of DOUBLE in another order).
func sameRows(_ a: [[String]], _ b: [[String]]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { x, y in
        x.count == y.count && zip(x, y).allSatisfy { p, q in
            p == q || (Double(p).flatMap { u in Double(q).map { v in abs(u - v) <= 1e-9 * max(abs(u), abs(v)) } } ?? false)
        }
    }
}
