import Columnar
import SQL

/// Renders a compiled expression (columns by position) for EXPLAIN.
enum ExpressionText {
    static func render(_ e: BoundExpr, _ schema: Schema) -> String {
        switch e {
        case .column(let i, _): return i < schema.count ? schema.fields[i].name : "#\(i)"
        case .literal(let v, let t):
            guard let s = Columnar.render(v, as: t) else { return "NULL" }
            return t == .varchar ? "'\(s)'" : (t == .date || t == .timestamp ? "\(t) '\(s)'" : s)
        case .call(let n, let a, _):
            if let sym = n.symbol, a.count == 2 { return "(\(render(a[0], schema)) \(sym) \(render(a[1], schema)))" }
            return "\(n.rawValue)(" + a.map { render($0, schema) }.joined(separator: ", ") + ")"
        case .cast(let x, let t): return "CAST(\(render(x, schema)) AS \(t))"
        case .caseWhen(let w, let o, _):
            return "CASE " + w.map { "WHEN \(render($0.condition, schema)) THEN \(render($0.result, schema))" }.joined(separator: " ")
                + (o.map { " ELSE \(render($0, schema))" } ?? "") + " END"
        case .inList(let x, let l, let neg):
            let items = l.count > 6 ? l.prefix(6).map { render($0, schema) }.joined(separator: ", ") + ", ... (\(l.count))" : l.map { render($0, schema) }.joined(separator: ", ")
            return "\(render(x, schema)) \(neg ? "NOT IN" : "IN") (\(items))"
        case .inSubquery(let x, _, let neg): return "\(render(x, schema)) \(neg ? "NOT IN" : "IN") (subquery)"
        case .scalarSubquery: return "(subquery)"
        case .exists(_, let neg): return "\(neg ? "NOT " : "")EXISTS (subquery)"
        case .subqueryValue(let i, _): return "$subquery\(i + 1)"
        case .inSubqueryRows(let x, let i, let neg): return "\(render(x, schema)) \(neg ? "NOT IN" : "IN") ($subquery\(i + 1))"
        case .aggregate(let a): return "\(a.kind.rawValue)(\(a.argument.map { render($0, schema) } ?? "*"))"
        case .window(let w): return "\(w.function.name)(\(w.arguments.map { render($0, schema) }.joined(separator: ", "))) OVER (...)"
        }
    }
}
