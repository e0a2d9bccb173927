import Columnar

/// The columns visible at one point of a query, with the table names that qualify them.
struct Scope {
    struct Entry {
        var table: String?
        var column: PlanColumn
        /// Hidden from unqualified names (the right-hand copy of a USING column).
        var qualifiedOnly = false
    }
    var entries: [Entry] = []

    init(_ entries: [Entry] = []) { self.entries = entries }
    init(columns: [PlanColumn], table: String?) {
        entries = columns.map { Entry(table: table, column: $0) }
    }

    static func + (a: Scope, b: Scope) -> Scope { Scope(a.entries + b.entries) }

    func resolve(_ parts: [String], at loc: SourceLocation) throws(SQLError) -> PlanColumn {
        let name = parts.last!.lowercased()
        let qualifier = parts.count > 1 ? parts[parts.count - 2].lowercased() : nil
        var matches = entries.filter { $0.column.name.lowercased() == name && (qualifier == nil ? !$0.qualifiedOnly : $0.table?.lowercased() == qualifier) }
        var seen = Set<Int>()
        matches = matches.filter { seen.insert($0.column.id).inserted }
        if matches.count == 1 { return matches[0].column }
        let shown = parts.joined(separator: ".")
        if matches.count > 1 {
            let tables = matches.compactMap(\.table).joined(separator: ", ")
            throw SQLError.binder("column reference \"\(shown)\" is ambiguous (it is in \(tables)); qualify it with a table name", loc)
        }
        if let q = qualifier, !entries.contains(where: { $0.table?.lowercased() == q }) {
            let tables = Array(Set(entries.compactMap(\.table)))
            let hint = nearestName(to: q, among: tables).map { "; did you mean \"\($0)\"?" } ?? ""
            throw SQLError.binder("table \"\(parts[parts.count - 2])\" is not in the FROM clause\(hint)", loc)
        }
        let candidates = entries.filter { qualifier == nil || $0.table?.lowercased() == qualifier }.map(\.column.name)
        let hint = nearestName(to: name, among: candidates).map { "; did you mean \"\($0)\"?" } ?? ""
        throw SQLError.binder("column \"\(shown)\" not found\(hint)", loc)
    }
}
