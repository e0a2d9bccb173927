import Columnar
import Foundation
import Execution
import SQL

/// What `sluice catalog register` checks and records: the files a path or
/// glob names (below the file roots), their format, the schema they read with
/// (inferred, or given and tried on their first rows), and the partition
/// columns they are declared to have.
public enum DatasetRegistration {
    public static let formats = ["csv", "json", "sluice"]
    /// Rows read to check a schema before a dataset is accepted.
    static let checkedRows = 10_000

    public static func inspect(name: String, path: String, format: String, partitionedBy: [String], schema: String,
                               session: Session, nowMs: Int64) throws(SQLError) -> Dataset {
        guard isName(name) else {
            throw SQLError.binder("a dataset name is letters, digits and underscores, starting with a letter or underscore; \"\(name)\" is not", .unknown)
        }
        guard !path.isEmpty else { throw SQLError.binder("a dataset needs --path", .unknown) }
        let files = try session.listFiles([path])
        let kind = format.isEmpty ? Session.formatFromExtension(files[0].path) : (format == "jsonl" ? "json" : format)
        guard formats.contains(kind) else {
            throw SQLError.binder("cannot tell the format of \(path); give --format csv, jsonl or sluice", .unknown)
        }
        let given = try parseSchema(schema)
        var options: [String: OptionValue] = [:]
        if !given.isEmpty, kind != "sluice" { options["columns"] = .map(given.map { ($0.name, $0.type.description) }) }
        let source = try session.open(files, format: kind, options: options, label: path)
        if kind == "sluice", !given.isEmpty {
            for (g, f) in zip(given, source.schema.fields) where g.name.lowercased() != f.name.lowercased() || g.type != f.type {
                throw SQLError.binder("the schema given says \(g.name) \(g.type), the files have \(f.name) \(f.type)", .unknown)
            }
            if given.count != source.schema.count {
                throw SQLError.binder("the schema given has \(given.count) columns, the files \(source.schema.count)", .unknown)
            }
        }
        for c in partitionedBy {
            guard let bad = files.first(where: { f in !f.partitions.contains { $0.key.lowercased() == c.lowercased() } }) else { continue }
            throw SQLError.binder("--partitioned-by \(c): \(bad.path) is not under a \(c)=VALUE/ directory", .unknown)
        }
        // Read the first rows with the schema: a wrong type or column count shows here, not in a later query.
        let probe = Session()
        probe.fileRoots = session.fileRoots
        probe.registerSource(name: "dataset_check", source)
        _ = try probe.execute("SELECT * FROM dataset_check LIMIT \(checkedRows)")   // every column, so every value is converted

        return Dataset(
            name: name, location: path, format: kind, partitionColumns: partitionedBy,
            columns: source.schema.fields.map { Dataset.Column(name: $0.name, type: $0.type.description) },
            files: files.map { f in Dataset.File(path: f.path, size: Int64(f.size), partition: f.partitions.map { [$0.key, $0.value] }) },
            rowCount: nil, createdMs: nowMs, updatedMs: nowMs, lastQuery: "")
    }

    static func isName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic), s.count <= 128 else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    /// `'id INTEGER, amount DECIMAL(12,2), note VARCHAR'` -> columns, read by
    /// the SQL parser as the column list of a CREATE TABLE.
    static func parseSchema(_ text: String) throws(SQLError) -> [(name: String, type: DataType)] {
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return [] }
        let statements: [Statement]
        do { statements = try Parser.parse("CREATE TABLE schema (\(text))") } catch {
            throw SQLError.binder("--schema needs a name and a type for each column, like 'id INTEGER, amount DECIMAL(12,2)': \(error.message)", .unknown)
        }
        guard statements.count == 1, case .createTable(_, let columns, nil, _, _) = statements[0] else {
            throw SQLError.binder("--schema needs a name and a type for each column, like 'id INTEGER, amount DECIMAL(12,2)'", .unknown)
        }
        var seen = Set<String>()
        for c in columns where !seen.insert(c.name.lowercased()).inserted {
            throw SQLError.binder("--schema: column \"\(c.name)\" is named twice", .unknown)
        }
        return columns.map { ($0.name, $0.type) }
    }
}
