import Columnar

/// A constant option of a table function: `header=true`, `delim='|'`, `types={'a': 'INT'}`.
public enum OptionValue: Sendable, Equatable {
    case string(String)
    case bool(Bool)
    case int(Int)
    case map([(String, String)])
    case list([String])

    public static func == (a: OptionValue, b: OptionValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.list(let x), .list(let y)): return x == y
        case (.map(let x), .map(let y)): return x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        default: return false
        }
    }
}

public enum CatalogEntry: Sendable {
    case table(TableSource)
    case view(Query)
}

/// What the binder asks about names and files. The Execution tier implements it
/// (session tables and views, file readers); the SQL tier never touches a file.
public protocol Catalog: AnyObject {
    func lookup(_ name: String) throws(SQLError) -> CatalogEntry?
    var names: [String] { get }
    /// A file set: `format` is "csv", "json", "sluice", or nil to go by the extension.
    func openFiles(_ paths: [String], format: String?, options: [String: OptionValue]) throws(SQLError) -> TableSource
    /// Rows made while binding (a table function's), as a source.
    func rows(name: String, schema: Schema, batches: [RecordBatch]) -> TableSource
}
