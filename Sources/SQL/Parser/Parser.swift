import Columnar

/// Recursive-descent parser for Sluice's SQL (DuckDB's dialect where dialects differ).
public struct Parser {
    private var tokens: [Token]
    private var pos = 0

    /// Parses a script of `;`-separated statements.
    public static func parse(_ sql: String) throws(SQLError) -> [Statement] {
        var p = Parser(tokens: try Lexer.tokenize(sql))
        var out: [Statement] = []
        while true {
            while p.accept(";") {}
            if case .end = p.peek.kind { break }
            out.append(try p.statement())
            if case .end = p.peek.kind { break }
            try p.expect(";")
        }
        return out
    }

    public static func parseExpression(_ sql: String) throws(SQLError) -> Expr {
        var p = Parser(tokens: try Lexer.tokenize(sql))
        let e = try p.expression()
        guard case .end = p.peek.kind else { throw p.unexpected("end of expression") }
        return e
    }

    init(tokens: [Token]) { self.tokens = tokens }

    // MARK: token helpers
    var peek: Token { tokens[pos] }
    func peek(_ k: Int) -> Token { tokens[min(pos + k, tokens.count - 1)] }
    mutating func advance() -> Token { defer { if pos < tokens.count - 1 { pos += 1 } }; return tokens[pos] }

    func isKeyword(_ k: String, at offset: Int = 0) -> Bool { peek(offset).keyword == k }
    mutating func acceptKeyword(_ k: String) -> Bool {
        if isKeyword(k) { pos += 1; return true }
        return false
    }
    mutating func acceptKeywords(_ ks: String...) -> Bool {
        for (i, k) in ks.enumerated() where !isKeyword(k, at: i) { return false }
        pos += ks.count
        return true
    }
    mutating func expectKeyword(_ k: String) throws(SQLError) {
        guard acceptKeyword(k) else { throw unexpected(k) }
    }
    func isSymbol(_ s: String, at offset: Int = 0) -> Bool { peek(offset).kind == .symbol(s) }
    mutating func accept(_ s: String) -> Bool {
        if isSymbol(s) { pos += 1; return true }
        return false
    }
    mutating func expect(_ s: String) throws(SQLError) {
        guard accept(s) else { throw unexpected("'\(s)'") }
    }

    func describe(_ t: Token) -> String {
        switch t.kind {
        case .identifier(let s): return "'\(s)'"
        case .quotedIdentifier(let s): return "\"\(s)\""
        case .string(let s): return "string '\(s)'"
        case .number(let s): return "number \(s)"
        case .symbol(let s): return "'\(s)'"
        case .parameter(let n): return "$\(n)"
        case .end: return "end of input"
        }
    }
    func unexpected(_ wanted: String) -> SQLError {
        .syntax("expected \(wanted) but found \(describe(peek))", peek.location)
    }

    /// Words that end an expression or a FROM item, so they cannot be bare aliases.
    static let reserved: Set<String> = [
        "SELECT", "FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "UNION", "EXCEPT", "INTERSECT",
        "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "OUTER", "ON", "USING", "AND", "OR", "NOT", "AS", "BY",
        "WITH", "CASE", "WHEN", "THEN", "ELSE", "END", "IS", "IN", "LIKE", "ILIKE", "BETWEEN", "NULL", "TRUE", "FALSE",
        "ASC", "DESC", "NULLS", "DISTINCT", "ALL", "VALUES", "SET", "INTO", "NATURAL", "WINDOW", "QUALIFY", "TO",
    ]

    mutating func identifier(_ what: String = "a name") throws(SQLError) -> String {
        switch peek.kind {
        case .identifier(let s) where !Parser.reserved.contains(s.uppercased()): pos += 1; return s
        case .quotedIdentifier(let s): pos += 1; return s
        default: throw unexpected(what)
        }
    }

    /// A possibly dotted name (schema.table); Sluice has one namespace, so the last part counts.
    mutating func qualifiedName() throws(SQLError) -> String {
        var name = try identifier("a table name")
        while accept(".") { name = try identifier("a table name") }
        return name
    }

    mutating func optionalAlias() throws(SQLError) -> String? {
        if acceptKeyword("AS") { return try identifier("an alias") }
        switch peek.kind {
        case .identifier(let s) where !Parser.reserved.contains(s.uppercased()): pos += 1; return s
        case .quotedIdentifier(let s): pos += 1; return s
        default: return nil
        }
    }

    // MARK: statements
    mutating func statement() throws(SQLError) -> Statement {
        let start = peek.location
        if acceptKeyword("EXPLAIN") {
            let analyze = acceptKeyword("ANALYZE")
            return .explain(try statement(), analyze: analyze)
        }
        if isKeyword("SELECT") || isKeyword("WITH") || isKeyword("VALUES") || isSymbol("(") { return .query(try query()) }
        if acceptKeyword("CREATE") {
            let orReplace = acceptKeywords("OR", "REPLACE")
            _ = acceptKeyword("TEMP") || acceptKeyword("TEMPORARY")
            if acceptKeyword("VIEW") {
                let name = try qualifiedName()
                let columns = try columnListBeforeAS()
                try expectKeyword("AS")
                return .createView(name: name, query: Self.renamed(try query(), columns, start), orReplace: orReplace)
            }
            try expectKeyword("TABLE")
            let ifNotExists = acceptKeywords("IF", "NOT", "EXISTS")
            let name = try qualifiedName()
            let columns = try columnListBeforeAS()
            if acceptKeyword("AS") {
                return .createTable(name: name, columns: [], query: Self.renamed(try query(), columns, start), orReplace: orReplace, ifNotExists: ifNotExists)
            }
            try expect("(")
            var cols: [Field] = []
            repeat {
                if isKeyword("PRIMARY") || isKeyword("UNIQUE") || isKeyword("CONSTRAINT") || isKeyword("FOREIGN") {
                    try skipParenthesizedClause()
                    continue
                }
                let col = try identifier("a column name")
                cols.append(Field(col, try dataType()))
                // Column constraints are accepted and ignored (NOT NULL, PRIMARY KEY, ...).
                while !isSymbol(",") && !isSymbol(")") {
                    if case .end = peek.kind { break }
                    pos += 1
                }
            } while accept(",")
            try expect(")")
            return .createTable(name: name, columns: cols, query: nil, orReplace: orReplace, ifNotExists: ifNotExists)
        }
        if isKeyword("UPDATE") {
            let loc = peek.location
            pos += 1
            let name = try qualifiedName()
            try expectKeyword("SET")
            var assignments: [(column: String, value: Expr)] = []
            repeat {
                let column = try identifier("a column name")
                try expect("=")
                assignments.append((column, try expression()))
            } while accept(",")
            return .update(table: name, assignments: assignments, filter: acceptKeyword("WHERE") ? try expression() : nil, location: loc)
        }
        if isKeyword("DELETE") {
            let loc = peek.location
            pos += 1
            try expectKeyword("FROM")
            let name = try qualifiedName()
            return .delete(table: name, filter: acceptKeyword("WHERE") ? try expression() : nil, location: loc)
        }
        if acceptKeyword("INSERT") {
            if acceptKeyword("OVERWRITE") {
                _ = acceptKeyword("TABLE")
                let name = try qualifiedName()
                try expectKeyword("PARTITION")
                try expect("(")
                var partition: [(column: String, value: Literal)] = []
                repeat {
                    let column = try identifier("a partition column")
                    try expect("=")
                    let at = peek.location
                    guard case .literal(let v) = try expression().kind, v != .null else {
                        throw SQLError.syntax("a partition value is a literal, like date = '2026-11-01'", at)
                    }
                    partition.append((column, v))
                } while accept(",")
                try expect(")")
                return .insertOverwrite(table: name, partition: partition, source: try query(), location: start)
            }
            try expectKeyword("INTO")
            let name = try qualifiedName()
            var columns: [String]? = nil
            if isSymbol("("), !(isKeyword("SELECT", at: 1) || isKeyword("WITH", at: 1)) {
                pos += 1
                var cs: [String] = []
                repeat { cs.append(try identifier("a column name")) } while accept(",")
                try expect(")")
                columns = cs
            }
            return .insert(table: name, columns: columns, source: try query(), location: start)
        }
        if acceptKeyword("DROP") {
            guard let kind = peek.keyword, kind == "TABLE" || kind == "VIEW" else { throw unexpected("TABLE or VIEW") }
            pos += 1
            let ifExists = acceptKeywords("IF", "EXISTS")
            let loc = peek.location
            return .drop(kind: kind, name: try qualifiedName(), ifExists: ifExists, location: loc)
        }
        if acceptKeyword("DESCRIBE") || acceptKeyword("DESC") {
            if isKeyword("SELECT") || isKeyword("WITH") { return .describe(.subquery(try query(), alias: nil)) }
            return .describe(try tablePrimary())
        }
        if acceptKeyword("COPY") {
            try expect("(")
            let q = try query()
            try expect(")")
            try expectKeyword("TO")
            guard case .string(let path) = peek.kind else { throw unexpected("a file path in quotes") }
            pos += 1
            var options: [String: Expr] = [:]
            if accept("(") {
                repeat {
                    let key = try identifier("an option name").uppercased()
                    if accept("(") {
                        var cols: [Expr] = []
                        repeat { cols.append(try expression()) } while accept(",")
                        try expect(")")
                        options[key] = Expr(.listLiteral(cols), peek.location)
                    } else {
                        _ = accept("=")
                        if isSymbol(",") || isSymbol(")") { options[key] = Expr(.literal(.bool(true)), peek.location) }
                        else if case .identifier(let word) = peek.kind {
                            pos += 1
                            options[key] = Expr(.literal(.string(word)), peek.location)
                        } else { options[key] = try expression() }
                    }
                } while accept(",")
                try expect(")")
            }
            return .copy(q, path: path, options: options)
        }
        if acceptKeyword("SET") {
            _ = acceptKeyword("SESSION") || acceptKeyword("GLOBAL")
            let loc = peek.location
            let name = try identifier("a setting name")
            guard accept("=") || acceptKeyword("TO") else { throw unexpected("= or TO") }
            return .set(name: name, value: try expression(), location: loc)
        }
        if acceptKeyword("RESET") {
            let loc = peek.location
            return .set(name: try identifier("a setting name"), value: nil, location: loc)
        }
        throw unexpected("a statement (SELECT, WITH, CREATE, INSERT, DROP, DESCRIBE, COPY, EXPLAIN, SET)")
    }

    mutating func skipParenthesizedClause() throws(SQLError) {
        var depth = 0
        while true {
            if case .end = peek.kind { throw unexpected("')'") }
            if isSymbol("(") { depth += 1 }
            if isSymbol(")") { if depth == 0 { return }; depth -= 1; if depth == 0 { pos += 1; return } }
            if isSymbol(","), depth == 0 { return }
            pos += 1
        }
    }

    mutating func dataType() throws(SQLError) -> DataType {
        let loc = peek.location
        var text = try identifier("a type name")
        if text.uppercased() == "DOUBLE", acceptKeyword("PRECISION") {}
        if text.uppercased() == "CHARACTER", acceptKeyword("VARYING") { text = "VARCHAR" }
        if ["STRUCT", "MAP", "LIST", "UNION", "JSON", "ARRAY"].contains(text.uppercased()) {
            throw SQLError.unsupported("the \(text.uppercased()) type is not supported yet (nested and JSON types come in a later release)", loc)
        }
        if ["UHUGEINT", "UINT128"].contains(text.uppercased()) {
            throw SQLError.unsupported("the UHUGEINT type is not supported; HUGEINT holds 128-bit integers", loc)
        }
        if accept("(") {
            var parts: [String] = []
            repeat {
                guard case .number(let n) = peek.kind else { throw unexpected("a number") }
                pos += 1
                parts.append(n)
            } while accept(",")
            try expect(")")
            text += "(" + parts.joined(separator: ",") + ")"
        }
        guard let t = DataType.parse(text) else { throw SQLError.syntax("unknown type \(text)", loc) }
        if isSymbol("[") { throw SQLError.unsupported("LIST types such as \(t)[] are not supported yet (nested types come in a later release)", peek.location) }
        return t
    }

    // MARK: queries
    mutating func query() throws(SQLError) -> Query {
        var ctes: [(name: String, query: Query, columns: [String])] = []
        var recursive = false
        if acceptKeyword("WITH") {
            recursive = acceptKeyword("RECURSIVE")
            repeat {
                let loc = peek.location
                let name = try identifier("a CTE name")
                guard !ctes.contains(where: { $0.0.lowercased() == name.lowercased() }) else {
                    throw SQLError.syntax("Duplicate CTE name \"\(name)\"", loc)
                }
                // `name(a, b) AS (...)`: the query's columns renamed.
                var columns: [String] = []
                if accept("(") {
                    repeat { columns.append(try identifier("a column name")) } while accept(",")
                    try expect(")")
                }
                try expectKeyword("AS")
                _ = acceptKeywords("NOT", "MATERIALIZED") || acceptKeyword("MATERIALIZED")
                try expect("(")
                let q = try query()
                try expect(")")
                // A recursive CTE keeps its column list: the binder names the anchor's columns with it.
                if recursive && References.count(in: q)[name.lowercased(), default: 0] > 0 {
                    ctes.append((name, q, columns))
                } else {
                    ctes.append((name, Self.renamed(q, columns, loc), []))
                }
            } while accept(",")
        }
        // INTERSECT binds tighter than UNION and EXCEPT, which go left to right (the standard's precedence).
        var body = try intersectTerm()
        while isKeyword("UNION") || isKeyword("EXCEPT") {
            let loc = peek.location
            let kind: SetOperation.Kind = isKeyword("UNION") ? .union : .except
            pos += 1
            let (all, byName) = setQuantifier()
            body = .setOperation(SetOperation(kind: kind, all: all, byName: byName, left: body, right: try intersectTerm(), location: loc))
        }
        var q = Query(body: body)
        q.ctes = ctes
        q.recursive = recursive
        if acceptKeywords("ORDER", "BY") {
            repeat {
                let loc = peek.location
                if q.orderBy.isEmpty, isKeyword("ALL"), !isSymbol("(", at: 1) {
                    pos += 1
                    q.orderBy.append(try orderDirection(OrderItem(expr: Expr(.literal(.number("1")), loc), all: true)))
                } else {
                    q.orderBy.append(try orderDirection(OrderItem(expr: try expression())))
                }
            } while accept(",")
        }
        while true {
            if acceptKeyword("LIMIT") { q.limit = try expression() }
            else if acceptKeyword("OFFSET") { q.offset = try expression(); _ = acceptKeyword("ROWS") || acceptKeyword("ROW") }
            else { break }
        }
        return q
    }

    /// `EXCLUDE (a, b)` / `EXCLUDE a`, then `REPLACE (expr AS a, ...)`, after a star (DuckDB's order).
    mutating func starModifiers() throws(SQLError) -> StarModifiers {
        var m = StarModifiers()
        if acceptKeyword("EXCLUDE") {
            if accept("(") {
                repeat { m.exclude.append(try identifier("a column name")) } while accept(",")
                try expect(")")
            } else {
                m.exclude.append(try identifier("a column name"))
            }
        }
        if isKeyword("REPLACE"), isSymbol("(", at: 1) {
            pos += 2
            repeat {
                let e = try expression()
                try expectKeyword("AS")
                m.replace.append((e, try identifier("a column name")))
            } while accept(",")
            try expect(")")
        }
        return m
    }

    /// `(a, b)` right before AS (`CREATE VIEW v(a, b) AS`, `CREATE TABLE t(a, b) AS`): names for
    /// the query's columns. Anything else (a table's typed columns) is left to the caller.
    mutating func columnListBeforeAS() throws(SQLError) -> [String] {
        guard isSymbol("(") else { return [] }
        var k = 1
        while true {
            guard case .identifier = peek(k).kind else { return [] }
            if isSymbol(",", at: k + 1) { k += 2; continue }
            guard isSymbol(")", at: k + 1), isKeyword("AS", at: k + 2) else { return [] }
            break
        }
        pos += 1
        var names: [String] = []
        repeat { names.append(try identifier("a column name")) } while accept(",")
        try expect(")")
        return names
    }

    /// `query` with its columns renamed (all `columns` given; none: as it is).
    static func renamed(_ q: Query, _ columns: [String], _ loc: SourceLocation) -> Query {
        guard !columns.isEmpty else { return q }
        return Query(body: .select(SelectCore(items: [.star(qualifier: nil, StarModifiers(), loc)], from: .renamed(.subquery(q, alias: nil), columns: columns, loc))))
    }

    /// After a comma: the select list ended with a trailing comma (DuckDB allows one).
    var endsSelectList: Bool {
        if peek.kind == .end || isSymbol(")") || isSymbol(";") { return true }
        return ["FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "UNION", "EXCEPT", "INTERSECT", "QUALIFY", "WINDOW"]
            .contains { isKeyword($0) }
    }

    mutating func intersectTerm() throws(SQLError) -> QueryBody {
        var body = try queryBody()
        while isKeyword("INTERSECT") {
            let loc = peek.location
            pos += 1
            let (all, byName) = setQuantifier()
            body = .setOperation(SetOperation(kind: .intersect, all: all, byName: byName, left: body, right: try queryBody(), location: loc))
        }
        return body
    }

    /// `[ALL | DISTINCT] [BY NAME]` after a set operator.
    mutating func setQuantifier() -> (all: Bool, byName: Bool) {
        let all = acceptKeyword("ALL")
        if !all { _ = acceptKeyword("DISTINCT") }
        return (all, acceptKeywords("BY", "NAME"))
    }

    mutating func queryBody() throws(SQLError) -> QueryBody {
        if accept("(") {
            let inner = try query()
            try expect(")")
            return .query(inner)
        }
        if acceptKeyword("VALUES") {
            var rows: [[Expr]] = []
            repeat {
                try expect("(")
                var row: [Expr] = []
                repeat { row.append(try expression()) } while accept(",")
                try expect(")")
                rows.append(row)
            } while accept(",")
            return .values(rows)
        }
        try expectKeyword("SELECT")
        var core = SelectCore()
        if acceptKeyword("DISTINCT") {
            if acceptKeyword("ON") {
                try expect("(")
                repeat { core.distinctOn.append(try expression()) } while accept(",")
                try expect(")")
            } else {
                core.distinct = true
            }
        } else { _ = acceptKeyword("ALL") }
        repeat {
            let loc = peek.location
            if accept("*") { core.items.append(.star(qualifier: nil, try starModifiers(), loc)); continue }
            if case .identifier = peek.kind, isSymbol(".", at: 1), isSymbol("*", at: 2) {
                let q = try identifier()
                pos += 2
                core.items.append(.star(qualifier: q, try starModifiers(), loc)); continue
            }
            if case .quotedIdentifier(let q) = peek.kind, isSymbol(".", at: 1), isSymbol("*", at: 2) {
                pos += 3
                core.items.append(.star(qualifier: q, try starModifiers(), loc)); continue
            }
            let e = try expression()
            core.items.append(.expr(e, alias: try optionalAlias()))
        } while accept(",") && !endsSelectList
        if acceptKeyword("FROM") { core.from = try fromClause() }
        if acceptKeyword("WHERE") { core.filter = try expression() }
        if acceptKeywords("GROUP", "BY") {
            if acceptKeyword("ALL") {
                core.groupBy = [Expr(.column(["*all*"]), peek.location)]
            } else {
                // Each item gives sets of expressions (a plain one, one set of one); the sets of the
                // clause are every combination of one set per item.
                var sets: [[Int]] = [[]]
                var explicit = false
                repeat {
                    let itemSets = try groupingItem(&core.groupBy, explicit: &explicit)
                    sets = sets.flatMap { s in itemSets.map { s + $0 } }
                } while accept(",")
                if explicit { core.groupingSets = sets }
            }
        }
        if acceptKeyword("HAVING") { core.having = try expression() }
        if acceptKeyword("WINDOW") {
            repeat {
                let name = try identifier("a window name")
                try expectKeyword("AS")
                core.windows.append((name, try windowSpec()))
            } while accept(",")
        }
        if acceptKeyword("QUALIFY") { core.qualify = try expression() }
        return .select(core)
    }

    /// One GROUP BY item as its sets (positions of expressions appended to `exprs`).
    mutating func groupingItem(_ exprs: inout [Expr], explicit: inout Bool) throws(SQLError) -> [[Int]] {
        func list() throws(SQLError) -> [Int] {
            var out: [Int] = []
            try expect("(")
            if !isSymbol(")") { repeat { exprs.append(try expression()); out.append(exprs.count - 1) } while accept(",") }
            try expect(")")
            return out
        }
        if isKeyword("ROLLUP"), isSymbol("(", at: 1) {
            pos += 1
            explicit = true
            let all = try list()
            return (0...all.count).reversed().map { Array(all.prefix($0)) }
        }
        if isKeyword("CUBE"), isSymbol("(", at: 1) {
            pos += 1
            explicit = true
            let all = try list()
            guard all.count <= 12 else { throw SQLError.syntax("CUBE of more than 12 expressions makes too many grouping sets", peek.location) }
            return (0..<(1 << all.count)).reversed().map { mask in all.indices.filter { mask & (1 << (all.count - 1 - $0)) != 0 }.map { all[$0] } }
        }
        if isKeyword("GROUPING"), isKeyword("SETS", at: 1) {
            pos += 2
            explicit = true
            try expect("(")
            var sets: [[Int]] = []
            repeat {
                if isSymbol("(") { sets.append(try list()) } else { exprs.append(try expression()); sets.append([exprs.count - 1]) }
            } while accept(",")
            try expect(")")
            return sets
        }
        exprs.append(try expression())
        return [[exprs.count - 1]]
    }

    /// `FILTER (WHERE condition)` after an aggregate's arguments.
    mutating func aggregateFilter() throws(SQLError) -> Expr? {
        guard isKeyword("FILTER"), isSymbol("(", at: 1) else { return nil }
        pos += 2
        try expectKeyword("WHERE")
        let condition = try expression()
        try expect(")")
        return condition
    }

    /// `ASC`/`DESC` and `NULLS FIRST`/`LAST` after an ORDER BY expression.
    mutating func orderDirection(_ item: OrderItem) throws(SQLError) -> OrderItem {
        var item = item
        if acceptKeyword("DESC") { item.ascending = false } else { _ = acceptKeyword("ASC") }
        if acceptKeyword("NULLS") {
            if acceptKeyword("FIRST") { item.nullsFirst = true }
            else { try expectKeyword("LAST"); item.nullsFirst = false }
        }
        return item
    }

    /// After OVER: a window name, or a window specification in parentheses.
    mutating func overClause() throws(SQLError) -> WindowSpec {
        if isSymbol("(") { return try windowSpec() }
        var spec = WindowSpec(location: peek.location)
        spec.base = try identifier("a window name or (")
        return spec
    }

    /// `( [name] [PARTITION BY ...] [ORDER BY ...] [frame] )`.
    mutating func windowSpec() throws(SQLError) -> WindowSpec {
        var spec = WindowSpec(location: peek.location)
        try expect("(")
        if case .identifier = peek.kind, !isKeyword("PARTITION"), !isKeyword("ORDER"), !isKeyword("ROWS"), !isKeyword("RANGE"), !isKeyword("GROUPS") {
            spec.base = try identifier("a window name")
        }
        if acceptKeywords("PARTITION", "BY") {
            repeat { spec.partitionBy.append(try expression()) } while accept(",")
        }
        if acceptKeywords("ORDER", "BY") {
            repeat { spec.orderBy.append(try orderDirection(OrderItem(expr: try expression()))) } while accept(",")
        }
        let loc = peek.location
        let mode: FrameClause.Mode? = acceptKeyword("ROWS") ? .rows : acceptKeyword("RANGE") ? .range : acceptKeyword("GROUPS") ? .groups : nil
        if let mode {
            var frame: FrameClause
            if acceptKeyword("BETWEEN") {
                let start = try frameBound()
                try expectKeyword("AND")
                frame = FrameClause(mode: mode, start: start, end: try frameBound(), location: loc)
            } else {
                frame = FrameClause(mode: mode, start: try frameBound(), end: .currentRow, location: loc)
            }
            if acceptKeyword("EXCLUDE") {
                if acceptKeywords("CURRENT", "ROW") { frame.exclude = .currentRow }
                else if acceptKeyword("GROUP") { frame.exclude = .group }
                else if acceptKeyword("TIES") { frame.exclude = .ties }
                else if acceptKeywords("NO", "OTHERS") { frame.exclude = .noOthers }
                else { throw unexpected("CURRENT ROW, GROUP, TIES or NO OTHERS") }
            }
            spec.frame = frame
        }
        try expect(")")
        return spec
    }

    mutating func frameBound() throws(SQLError) -> FrameClause.Bound {
        if acceptKeyword("UNBOUNDED") {
            if acceptKeyword("PRECEDING") { return .unboundedPreceding }
            try expectKeyword("FOLLOWING")
            return .unboundedFollowing
        }
        if acceptKeywords("CURRENT", "ROW") { return .currentRow }
        let e = try additive()
        if acceptKeyword("PRECEDING") { return .preceding(e) }
        try expectKeyword("FOLLOWING")
        return .following(e)
    }

    mutating func fromClause() throws(SQLError) -> TableRef {
        var left = try joinedTable()
        while accept(",") {
            left = .join(left, try joinedTable(), .cross, on: nil, using: [])
        }
        return left
    }

    mutating func joinedTable() throws(SQLError) -> TableRef {
        var left = try tablePrimary()
        while true {
            var kind: JoinKind
            if acceptKeywords("CROSS", "JOIN") { left = .join(left, try tablePrimary(), .cross, on: nil, using: []); continue }
            if acceptKeyword("JOIN") || acceptKeywords("INNER", "JOIN") { kind = .inner }
            else if acceptKeyword("LEFT") { _ = acceptKeyword("OUTER"); try expectKeyword("JOIN"); kind = .left }
            else if acceptKeyword("RIGHT") { _ = acceptKeyword("OUTER"); try expectKeyword("JOIN"); kind = .right }
            else if acceptKeyword("FULL") { _ = acceptKeyword("OUTER"); try expectKeyword("JOIN"); kind = .full }
            else { return left }
            let right = try tablePrimary()
            if acceptKeyword("ON") {
                left = .join(left, right, kind, on: try expression(), using: [])
            } else if acceptKeyword("USING") {
                try expect("(")
                var cols: [String] = []
                repeat { cols.append(try identifier("a column name")) } while accept(",")
                try expect(")")
                left = .join(left, right, kind, on: nil, using: cols)
            } else {
                throw unexpected("ON or USING")
            }
        }
    }

    mutating func tablePrimary() throws(SQLError) -> TableRef {
        let ref = try tableReference()
        guard isSymbol("("), hasAlias(ref) else { return ref }
        let loc = advance().location
        var cols: [String] = []
        repeat { cols.append(try identifier("a column alias")) } while accept(",")
        try expect(")")
        return .renamed(ref, columns: cols, loc)
    }

    func hasAlias(_ r: TableRef) -> Bool {
        switch r {
        case .named(_, let a, _), .path(_, let a, _), .function(_, _, let a, _), .subquery(_, let a): return a != nil
        default: return false
        }
    }

    mutating func tableReference() throws(SQLError) -> TableRef {
        let loc = peek.location
        if accept("(") {
            if isKeyword("SELECT") || isKeyword("WITH") || isKeyword("VALUES") || isSymbol("(") {
                let q = try query()
                try expect(")")
                return .subquery(q, alias: try optionalAlias())
            }
            let inner = try fromClause()
            try expect(")")
            return inner
        }
        if case .string(let path) = peek.kind {
            pos += 1
            return .path(path, alias: try optionalAlias(), loc)
        }
        if isKeyword("VALUES") {
            // FROM VALUES (1, 'a'), (2, 'b') [AS] t(x, y), as DuckDB.
            return .subquery(Query(body: try queryBody()), alias: try optionalAlias())
        }
        let name = try qualifiedName()
        if accept("(") {
            var args: [FunctionArg] = []
            if !isSymbol(")") {
                repeat {
                    if case .identifier(let n) = peek.kind, isSymbol("=", at: 1) {
                        pos += 2
                        args.append(FunctionArg(name: n.lowercased(), value: try expression()))
                    } else {
                        args.append(FunctionArg(name: nil, value: try expression()))
                    }
                } while accept(",")
            }
            try expect(")")
            return .function(name.lowercased(), args: args, alias: try optionalAlias(), loc)
        }
        return .named(name, alias: try optionalAlias(), loc)
    }

    // MARK: expressions, by precedence (lowest first)
    public mutating func expression() throws(SQLError) -> Expr { try orExpr() }

    mutating func orExpr() throws(SQLError) -> Expr {
        var l = try andExpr()
        while isKeyword("OR") { let loc = advance().location; l = Expr(.binary("OR", l, try andExpr()), loc) }
        return l
    }
    mutating func andExpr() throws(SQLError) -> Expr {
        var l = try notExpr()
        while isKeyword("AND") { let loc = advance().location; l = Expr(.binary("AND", l, try notExpr()), loc) }
        return l
    }
    mutating func notExpr() throws(SQLError) -> Expr {
        if isKeyword("NOT"), !isKeyword("EXISTS", at: 1) {
            let loc = advance().location
            return Expr(.unary("NOT", try notExpr()), loc)
        }
        return try comparison()
    }

    mutating func comparison() throws(SQLError) -> Expr {
        var l = try concatExpr()
        while true {
            let loc = peek.location
            if case .symbol(let s) = peek.kind, ["=", "<>", "<", "<=", ">", ">="].contains(s) {
                pos += 1
                if let quantifier = ["ANY", "SOME", "ALL"].first(where: { isKeyword($0) }), isSymbol("(", at: 1),
                   isKeyword("SELECT", at: 2) || isKeyword("WITH", at: 2) || isKeyword("VALUES", at: 2) {
                    pos += 2
                    let q = try query()
                    try expect(")")
                    l = Self.quantified(s, l, all: quantifier == "ALL", q, loc)
                    continue
                }
                l = Expr(.binary(s, l, try concatExpr()), loc)
                continue
            }
            if case .symbol(let s) = peek.kind, s == "~" || s == "!~" {
                // x ~ 're': regexp_matches (PostgreSQL's and DuckDB's spelling); !~ its negation.
                pos += 1
                let m = Expr(.function("regexp_matches", [l, try concatExpr()], distinct: false, star: false), loc)
                l = s == "~" ? m : Expr(.unary("NOT", m), loc)
                continue
            }
            if acceptKeyword("IS") {
                let negated = acceptKeyword("NOT")
                if acceptKeyword("NULL") { l = Expr(.isNull(l, negated: negated), loc); continue }
                if acceptKeywords("DISTINCT", "FROM") { l = Expr(.isDistinctFrom(l, try concatExpr(), negated: negated), loc); continue }
                if acceptKeyword("TRUE") { l = Expr(.isDistinctFrom(l, Expr(.literal(.bool(true)), loc), negated: !negated), loc); continue }
                if acceptKeyword("FALSE") { l = Expr(.isDistinctFrom(l, Expr(.literal(.bool(false)), loc), negated: !negated), loc); continue }
                throw unexpected("NULL, DISTINCT FROM, TRUE or FALSE")
            }
            let negated = isKeyword("NOT") && (isKeyword("IN", at: 1) || isKeyword("LIKE", at: 1) || isKeyword("ILIKE", at: 1) || isKeyword("BETWEEN", at: 1))
            if negated { pos += 1 }
            if acceptKeyword("IN") {
                try expect("(")
                if isKeyword("SELECT") || isKeyword("WITH") || isKeyword("VALUES") {
                    let q = try query()
                    try expect(")")
                    l = Expr(.inSubquery(l, q, negated: negated), loc)
                } else {
                    var items: [Expr] = []
                    repeat { items.append(try expression()) } while accept(",")
                    try expect(")")
                    l = Expr(.inList(l, items, negated: negated), loc)
                }
                continue
            }
            if isKeyword("LIKE") || isKeyword("ILIKE") {
                let ci = advance().keyword == "ILIKE"
                let pattern = try concatExpr()
                l = Expr(.like(l, pattern, negated: negated, caseInsensitive: ci, escape: acceptKeyword("ESCAPE") ? try concatExpr() : nil), loc)
                continue
            }
            if acceptKeyword("BETWEEN") {
                let low = try concatExpr()
                try expectKeyword("AND")
                l = Expr(.between(l, low, try concatExpr(), negated: negated), loc)
                continue
            }
            if negated { pos -= 1 }
            return l
        }
    }

    /// `x op ANY (q)` and `x op ALL (q)`, written with what the binder knows: `= ANY` is IN,
    /// `<> ALL` NOT IN, `op ALL` is NOT (x negated-op ANY), and the others compare x with the
    /// subquery's least or greatest value, keeping SQL's answers: FALSE for no rows, NULL
    /// where no row compares TRUE but x or some row is NULL.
    /// The alias of a quantified comparison's subquery (the binder checks it has one column).
    public static let quantifiedAlias = "_quantified"

    static func quantified(_ op: String, _ x: Expr, all: Bool, _ q: Query, _ loc: SourceLocation) -> Expr {
        let negation = ["=": "<>", "<>": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"]
        if all { return Expr(.unary("NOT", quantified(negation[op]!, x, all: false, q, loc)), loc) }
        if op == "=" { return Expr(.inSubquery(x, q, negated: false), loc) }
        // A one-row aggregate of the subquery's only column.
        func over(_ f: String) -> Expr {
            var core = SelectCore()
            let v = Expr(.column([quantifiedAlias, "_v"]), loc)
            let star = f == "count(*)"
            core.items = [.expr(Expr(.function(star ? "count" : f, star ? [] : [v], distinct: false, star: star), loc), alias: nil)]
            core.from = .renamed(.subquery(q, alias: quantifiedAlias), columns: ["_v"], loc)
            return Expr(.scalarSubquery(Query(body: .select(core))), loc)
        }
        func call(_ a: Expr, _ o: String, _ b: Expr) -> Expr { Expr(.binary(o, a, b), loc) }
        func isNull(_ e: Expr) -> Expr { Expr(.isNull(e, negated: false), loc) }
        let rows = over("count(*)"), values = over("count"), zero = Expr(.literal(.number("0")), loc)
        let hit: Expr, extreme: Expr
        if op == "<>" {
            // Some value differs from x: the least or the greatest does.
            let (lo, hi) = (over("min"), over("max"))
            hit = call(call(x, "<>", lo), "OR", call(x, "<>", hi)); extreme = lo
        } else {
            extreme = over(op.hasPrefix(">") ? "min" : "max")
            hit = call(x, op, extreme)
        }
        let unknown = call(call(isNull(x), "OR", isNull(extreme)), "OR", call(rows, ">", values))
        return Expr(.caseWhen(operand: nil, whens: [(call(rows, "=", zero), Expr(.literal(.bool(false)), loc)),
                                                    (hit, Expr(.literal(.bool(true)), loc)),
                                                    (unknown, Expr(.literal(.null), loc))],
                              otherwise: Expr(.literal(.bool(false)), loc)), loc)
    }

    mutating func concatExpr() throws(SQLError) -> Expr {
        var l = try additive()
        while isSymbol("||") { let loc = advance().location; l = Expr(.binary("||", l, try additive()), loc) }
        return l
    }
    mutating func additive() throws(SQLError) -> Expr {
        var l = try multiplicative()
        while isSymbol("+") || isSymbol("-") {
            let t = advance()
            guard case .symbol(let s) = t.kind else { break }
            l = Expr(.binary(s, l, try multiplicative()), t.location)
        }
        return l
    }
    mutating func multiplicative() throws(SQLError) -> Expr {
        var l = try unary()
        while isSymbol("*") || isSymbol("/") || isSymbol("%") || isSymbol("//") {
            let t = advance()
            guard case .symbol(let s) = t.kind else { break }
            l = Expr(.binary(s, l, try unary()), t.location)
        }
        return l
    }
    mutating func unary() throws(SQLError) -> Expr {
        if isSymbol("-") || isSymbol("+") {
            let t = advance()
            guard case .symbol(let s) = t.kind else { return try postfix() }
            let operand = try unary()
            if s == "-", case .literal(.number(let n)) = operand.kind { return Expr(.literal(.number("-" + n)), t.location) }
            return s == "-" ? Expr(.unary("-", operand), t.location) : operand
        }
        return try postfix()
    }
    mutating func postfix() throws(SQLError) -> Expr {
        var e = try primary()
        while isSymbol("::") {
            let loc = advance().location
            e = Expr(.cast(e, try dataType()), loc)
        }
        return e
    }

    mutating func primary() throws(SQLError) -> Expr {
        let t = peek
        let loc = t.location
        switch t.kind {
        case .number(let n): pos += 1; return Expr(.literal(.number(n)), loc)
        case .string(let s): pos += 1; return Expr(.literal(.string(s)), loc)
        case .parameter: throw SQLError.unsupported("query parameters", loc)
        case .symbol("("):
            pos += 1
            if isKeyword("SELECT") || isKeyword("WITH") || isKeyword("VALUES") {
                let q = try query()
                try expect(")")
                return Expr(.scalarSubquery(q), loc)
            }
            let e = try expression()
            try expect(")")
            return e
        case .symbol("{"):
            pos += 1
            var fields: [(String, Expr)] = []
            if !isSymbol("}") {
                repeat {
                    let key: String
                    switch peek.kind {
                    case .string(let s), .identifier(let s), .quotedIdentifier(let s): key = s; pos += 1
                    default: throw unexpected("a key")
                    }
                    try expect(":")
                    fields.append((key, try expression()))
                } while accept(",")
            }
            try expect("}")
            return Expr(.structLiteral(fields), loc)
        case .symbol("["):
            pos += 1
            var items: [Expr] = []
            if !isSymbol("]") { repeat { items.append(try expression()) } while accept(",") }
            try expect("]")
            return Expr(.listLiteral(items), loc)
        case .quotedIdentifier:
            return try columnRef()
        case .identifier(let word):
            let k = word.uppercased()
            switch k {
            case "NULL": pos += 1; return Expr(.literal(.null), loc)
            case "TRUE": pos += 1; return Expr(.literal(.bool(true)), loc)
            case "FALSE": pos += 1; return Expr(.literal(.bool(false)), loc)
            case "CASE": pos += 1; return try caseExpr(loc)
            case "CAST", "TRY_CAST":
                pos += 1
                try expect("(")
                let e = try expression()
                try expectKeyword("AS")
                let type = try dataType()
                try expect(")")
                return Expr(k == "TRY_CAST" ? .tryCast(e, type) : .cast(e, type), loc)
            case "EXISTS":
                pos += 1
                try expect("(")
                let q = try query()
                try expect(")")
                return Expr(.exists(q, negated: false), loc)
            case "NOT" where isKeyword("EXISTS", at: 1):
                pos += 2
                try expect("(")
                let q = try query()
                try expect(")")
                return Expr(.exists(q, negated: true), loc)
            case "DATE", "TIMESTAMP":
                if case .string(let s) = peek(1).kind {
                    pos += 2
                    return Expr(.literal(.typed(k == "DATE" ? .date : .timestamp, s)), loc)
                }
            case "INTERVAL":
                pos += 1
                return try intervalLiteral(loc)
            case "EXTRACT":
                if isSymbol("(", at: 1) {
                    pos += 2
                    let field = try identifier("a date part").lowercased()
                    try expectKeyword("FROM")
                    let e = try expression()
                    try expect(")")
                    return Expr(.extract(field, e), loc)
                }
            case "SUBSTRING" where isSymbol("(", at: 1):
                pos += 2
                let s = try expression()
                var args = [s]
                if acceptKeyword("FROM") {
                    args.append(try expression())
                    if acceptKeyword("FOR") { args.append(try expression()) }
                } else if accept(",") {
                    args.append(try expression())
                    if accept(",") { args.append(try expression()) }
                } else if acceptKeyword("FOR") {
                    args.append(Expr(.literal(.number("1")), loc))
                    args.append(try expression())
                }
                try expect(")")
                return Expr(.function("substring", args, distinct: false, star: false), loc)
            case "POSITION" where isSymbol("(", at: 1):
                pos += 2
                let needle = try concatExpr()
                try expectKeyword("IN")
                let hay = try expression()
                try expect(")")
                return Expr(.function("position", [needle, hay], distinct: false, star: false), loc)
            case "TRIM" where isSymbol("(", at: 1):
                pos += 2
                var mode = "trim"
                if acceptKeyword("BOTH") { mode = "trim" } else if acceptKeyword("LEADING") { mode = "ltrim" } else if acceptKeyword("TRAILING") { mode = "rtrim" }
                var args: [Expr] = []
                if acceptKeyword("FROM") {
                    args = [try expression()]
                } else {
                    let first = try expression()
                    if acceptKeyword("FROM") { args = [try expression(), first] } else { args = [first] }
                }
                try expect(")")
                return Expr(.function(mode, args, distinct: false, star: false), loc)
            case "CURRENT_DATE", "CURRENT_TIMESTAMP":
                if !isSymbol("(", at: 1) {
                    pos += 1
                    return Expr(.function(k.lowercased(), [], distinct: false, star: false), loc)
                }
            default: break
            }
            if word.lowercased() == "columns", isSymbol("(", at: 1) {
                // COLUMNS('regex') or COLUMNS(*): stands for each matching column; the binder expands the select item.
                pos += 2
                let selector: String
                if accept("*") { selector = "*" } else if case .string(let re) = peek.kind { selector = re; pos += 1 } else { throw unexpected("a regular expression string or *") }
                try expect(")")
                return Expr(.column([Expr.columnsMarker, selector]), loc)
            }
            if isSymbol("(", at: 1) {
                pos += 2
                let name = word.lowercased()
                if accept("*") {
                    try expect(")")
                    if let f = try aggregateFilter() {
                        // count(*) FILTER (WHERE c) counts the rows where c holds.
                        let one = Expr(.caseWhen(operand: nil, whens: [(f, Expr(.literal(.number("1")), loc))], otherwise: nil), loc)
                        return Expr(.function(name, [one], distinct: false, star: false), loc)
                    }
                    if acceptKeyword("OVER") { return Expr(.window(name, [], distinct: false, star: true, try overClause()), loc) }
                    return Expr(.function(name, [], distinct: false, star: true), loc)
                }
                let distinct = acceptKeyword("DISTINCT")
                var args: [Expr] = []
                if !isSymbol(")") { repeat { args.append(try expression()) } while accept(",") }
                // string_agg(x, ',' ORDER BY y): the aggregate takes its rows in this order.
                var order: [OrderItem] = []
                if !args.isEmpty, acceptKeywords("ORDER", "BY") {
                    repeat { order.append(try orderDirection(OrderItem(expr: try expression()))) } while accept(",")
                }
                try expect(")")
                if let f = try aggregateFilter(), !args.isEmpty {
                    // agg(x) FILTER (WHERE c) is agg over x where c holds: aggregates skip the NULLs this leaves elsewhere.
                    args[0] = Expr(.caseWhen(operand: nil, whens: [(f, args[0])], otherwise: nil), args[0].location)
                }
                if acceptKeyword("OVER") {
                    guard order.isEmpty else { throw SQLError.unsupported("ORDER BY inside a window function's arguments", loc) }
                    return Expr(.window(name, args, distinct: distinct, star: false, try overClause()), loc)
                }
                let call = Expr(.function(name, args, distinct: distinct, star: false), loc)
                return order.isEmpty ? call : Expr(.orderedAggregate(call, order), loc)
            }
            if Parser.reserved.contains(k) { throw unexpected("an expression") }
            return try columnRef()
        default: break
        }
        throw unexpected("an expression")
    }

    mutating func columnRef() throws(SQLError) -> Expr {
        let loc = peek.location
        var parts = [try identifier("a column name")]
        while isSymbol("."), !isSymbol("*", at: 1) {
            pos += 1
            parts.append(try identifier("a column name"))
        }
        return Expr(.column(parts), loc)
    }

    mutating func caseExpr(_ loc: SourceLocation) throws(SQLError) -> Expr {
        var operand: Expr? = nil
        if !isKeyword("WHEN") { operand = try expression() }
        var whens: [(Expr, Expr)] = []
        while acceptKeyword("WHEN") {
            let c = try expression()
            try expectKeyword("THEN")
            whens.append((c, try expression()))
        }
        guard !whens.isEmpty else { throw unexpected("WHEN") }
        var otherwise: Expr? = nil
        if acceptKeyword("ELSE") { otherwise = try expression() }
        try expectKeyword("END")
        return Expr(.caseWhen(operand: operand, whens: whens, otherwise: otherwise), loc)
    }

    static let intervalUnits: Set<String> = [
        "YEAR", "YEARS", "MONTH", "MONTHS", "DAY", "DAYS", "HOUR", "HOURS", "MINUTE", "MINUTES", "SECOND", "SECONDS", "WEEK", "WEEKS",
    ]

    /// INTERVAL '3' MONTH, INTERVAL 90 DAY, INTERVAL '1 year 2 days', INTERVAL '90' DAY (3).
    mutating func intervalLiteral(_ loc: SourceLocation) throws(SQLError) -> Expr {
        let text: String
        switch peek.kind {
        case .string(let s): text = s; pos += 1
        case .number(let n): text = n; pos += 1
        default: throw unexpected("an interval value")
        }
        var unit: String? = nil
        if let k = peek.keyword, Parser.intervalUnits.contains(k) {
            pos += 1
            unit = k
            if accept("(") { // a precision, as in TPC-H's `interval '90' day (3)`
                guard case .number = peek.kind else { throw unexpected("a number") }
                pos += 1
                try expect(")")
            }
        }
        return Expr(.literal(.interval(text, unit: unit)), loc)
    }
}
