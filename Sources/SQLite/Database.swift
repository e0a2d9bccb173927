internal import CSQLite

/// The one error type of the SQLite module: SQLite's code and message, and
/// the statement that failed.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let sql: String?

    public var description: String {
        sql.map { "SQLite error \(code): \(message) (in: \($0.prefix(120)))" } ?? "SQLite error \(code): \(message)"
    }
}

/// A SQLite connection. Not thread-safe: one owner (the coordinator's journal
/// thread) uses it.
public final class Database {
    let handle: OpaquePointer
    private var cache: [String: Statement] = [:]

    /// Opens (creating if needed) the database at `path`; `readOnly` opens an
    /// existing one for reading only (a second connection that reads while
    /// another writes, as WAL mode allows).
    public init(path: String, readOnly: Bool = false) throws {
        var db: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rv = sqlite3_open_v2(path, &db, flags, nil)
        guard rv == SQLITE_OK, let db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw SQLiteError(code: rv, message: "\(msg): \(path)", sql: nil)
        }
        handle = db
        sqlite3_busy_timeout(db, 5000)
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rv = sqlite3_exec(handle, sql, nil, nil, &err)
        if rv != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(err)
            throw SQLiteError(code: rv, message: msg, sql: sql)
        }
    }

    /// A prepared statement, cached by its text so hot paths prepare once.
    public func statement(_ sql: String) throws -> Statement {
        if let s = cache[sql] {
            s.reset()
            return s
        }
        let s = try Statement(db: self, sql: sql)
        cache[sql] = s
        return s
    }

    /// Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back when it throws.
    public func transaction<R>(_ body: () throws -> R) throws -> R {
        try execute("BEGIN IMMEDIATE")
        do {
            let r = try body()
            try execute("COMMIT")
            return r
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// The schema version the application keeps in the file header (`PRAGMA user_version`).
    public func userVersion() throws -> Int64 {
        var v: Int64 = 0
        try statement("PRAGMA user_version").query { v = $0.int(0) }
        return v
    }

    public func setUserVersion(_ v: Int64) throws {
        try execute("PRAGMA user_version = \(v)")
    }

    /// True when a table (or view) of this name exists.
    public func hasTable(_ name: String) throws -> Bool {
        var found = false
        try statement("SELECT 1 FROM sqlite_master WHERE name = ? AND type IN ('table', 'view')").query(.text(name)) { _ in found = true }
        return found
    }

    func error(_ rv: Int32, _ sql: String?) -> SQLiteError {
        SQLiteError(code: rv, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }
}

/// A value to bind to a statement parameter.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A prepared statement. Bind with `run`/`query`; rows come back as readers.
public final class Statement {
    let stmt: OpaquePointer
    let sql: String
    unowned let db: Database

    init(db: Database, sql: String) throws {
        var s: OpaquePointer?
        let rv = sqlite3_prepare_v2(db.handle, sql, -1, &s, nil)
        guard rv == SQLITE_OK, let s else { throw db.error(rv, sql) }
        stmt = s
        self.sql = sql
        self.db = db
    }

    deinit { sqlite3_finalize(stmt) }

    func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    private func bind(_ values: [SQLValue]) throws {
        for (i, v) in values.enumerated() {
            let idx = Int32(i + 1)
            let rv: Int32
            switch v {
            case .null: rv = sqlite3_bind_null(stmt, idx)
            case .integer(let x): rv = sqlite3_bind_int64(stmt, idx, x)
            case .real(let x): rv = sqlite3_bind_double(stmt, idx, x)
            case .text(let x): rv = sqlite3_bind_text(stmt, idx, x, -1, sluice_sqlite_transient())
            case .blob(let x):
                rv = x.withUnsafeBytes { sqlite3_bind_blob(stmt, idx, $0.baseAddress, Int32($0.count), sluice_sqlite_transient()) }
            }
            if rv != SQLITE_OK { throw db.error(rv, sql) }
        }
    }

    /// Executes with these parameters, ignoring any rows.
    public func run(_ values: SQLValue...) throws {
        try run(values)
    }

    public func run(_ values: [SQLValue]) throws {
        reset()
        try bind(values)
        var rv = sqlite3_step(stmt)
        while rv == SQLITE_ROW { rv = sqlite3_step(stmt) }
        if rv != SQLITE_DONE { throw db.error(rv, sql) }
    }

    /// Executes with these parameters and calls `row` for each result row.
    public func query(_ values: SQLValue..., row: (Row) throws -> Void) throws {
        try query(values, row: row)
    }

    /// Executes with these parameters and calls `row` for each result row;
    /// `row` returns false to stop early.
    public func query(_ values: [SQLValue], row: (Row) throws -> Void) throws {
        try scan(values) { r in
            try row(r)
            return true
        }
    }

    /// Executes with these parameters and calls `row` for each result row
    /// until it returns false.
    public func scan(_ values: [SQLValue], row: (Row) throws -> Bool) throws {
        reset()
        try bind(values)
        while true {
            let rv = sqlite3_step(stmt)
            if rv == SQLITE_DONE { break }
            guard rv == SQLITE_ROW else { throw db.error(rv, sql) }
            if try !row(Row(stmt: stmt)) { break }
        }
        sqlite3_reset(stmt)
    }
}

/// The current row of a query; valid only inside the row callback.
public struct Row {
    let stmt: OpaquePointer

    public func int(_ i: Int32) -> Int64 { sqlite3_column_int64(stmt, i) }
    public func double(_ i: Int32) -> Double { sqlite3_column_double(stmt, i) }
    public func isNull(_ i: Int32) -> Bool { sqlite3_column_type(stmt, i) == SQLITE_NULL }

    public func text(_ i: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, i) else { return "" }
        return String(cString: p)
    }

    public func blob(_ i: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(stmt, i))
        guard n > 0, let p = sqlite3_column_blob(stmt, i) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: p, count: n))
    }
}

@available(*, unavailable) extension Database: Sendable {}
@available(*, unavailable) extension Statement: Sendable {}
