import Columnar
import Datasets
import Execution
import Foundation
import Pipelines
import SQL

/// One attempt of one model of a pipeline run, in a cluster session (its
/// queries are jobs like any query's):
///
/// 1. its sources become views (files read with their schema and `on_error`
///    policy, quarantined rows going to a file of this attempt), and the
///    models it reads become views of their staged output;
/// 2. its SELECT is written, in Sluice's format, to the run's staging
///    directory (what the models downstream read: exactly this run's rows);
/// 3. with an output, that file is committed through the datasets' own
///    writes: `INSERT OVERWRITE ... PARTITION` (a partition switched at once;
///    a rerun replaces it), `INSERT INTO` (append) or `CREATE OR REPLACE TABLE`.
///    The first write of a partitioned output creates the dataset.
///
/// A retried attempt redoes all three: each step replaces what an earlier
/// attempt left, so nothing is written twice.
struct ModelRunner: Sendable {
    let valid: ValidPipeline
    let task: ModelTask
    let values: [String: ParamValue]
    /// `<warehouse>/.pipelines/run-N`: on the file system every worker sees.
    let staging: String
    let datasets: CatalogTables
    /// Relative source paths are read from here: the coordinator's first `--sql-root`.
    let root: String

    struct Outcome: Sendable {
        var rows: Int64
        var quarantined: Int64
    }

    static func stagedFile(_ staging: String, _ model: String) -> String { "\(staging)/\(model).sluice" }

    func run(_ session: Session) throws(SQLError) -> Outcome {
        let model = task.model
        guard let m = valid.pipeline.model(model) else { throw SQLError.execution("pipeline \(valid.pipeline.name) has no model \(model)") }
        do { try FileManager.default.createDirectory(atPath: staging + "/quarantine", withIntermediateDirectories: true) } catch {
            throw SQLError.execution("IO Error: cannot create the run's staging directory \(staging): \(error.localizedDescription)")
        }
        var quarantines: [String] = []
        for name in valid.graph.sources[model] ?? [] {
            guard let source = valid.pipeline.sources.first(where: { $0.name == name }) else { continue }
            let q = "\(staging)/quarantine/\(model)-a\(task.attempt)-\(name).csv"
            try? FileManager.default.removeItem(atPath: q)
            let select: String
            switch source.origin {
            case .dataset(let d):
                if d.lowercased() == name.lowercased() { continue }
                select = "SELECT * FROM \(Self.identifier(d))"
            case .files(let path, let format, let schema, let onError):
                let absolute = path.hasPrefix("/") ? path : root + "/" + path
                select = "SELECT * FROM " + (try Self.reader(path: absolute, format: format, schema: schema, onError: onError, quarantine: q))
                if onError == "quarantine" { quarantines.append(q) }
            }
            try run(session, "CREATE OR REPLACE VIEW \(Self.identifier(name)) AS \(select)")
        }
        for up in valid.graph.upstream[model] ?? [] {
            try run(session, "CREATE OR REPLACE VIEW \(Self.identifier(up)) AS SELECT * FROM \(Self.literal(Self.stagedFile(staging, up)))")
        }
        let sql: String
        do { sql = try valid.sql(model, values) } catch { throw SQLError.execution(error.description) }
        let file = Self.stagedFile(staging, model)
        let copied = try count(run(session, "COPY (\(sql)) TO \(Self.literal(file)) (FORMAT sluice)"))
        var rows = copied
        if let output = m.output {
            rows = try commit(session, output, file)
        }
        let quarantined = quarantines.reduce(Int64(0)) { $0 + Self.rowsIn(quarantineFile: $1) }
        return Outcome(rows: rows, quarantined: quarantined)
    }

    private func commit(_ session: Session, _ output: Output, _ file: String) throws(SQLError) -> Int64 {
        let ds = Self.identifier(output.dataset)
        let source = "SELECT * FROM \(Self.literal(file))"
        switch output.mode {
        case .replace:
            return try count(run(session, "CREATE OR REPLACE TABLE \(ds) AS \(source)"))
        case .append:
            if try datasets.shape(of: output.dataset) == nil {
                return try count(run(session, "CREATE TABLE \(ds) AS \(source)"))
            }
            return try count(run(session, "INSERT INTO \(ds) \(source)"))
        case .overwritePartition:
            let partition = valid.partition(task.model, values)
            if try datasets.shape(of: output.dataset) == nil {
                // The model's columns, then each partition column typed by its parameter (or text).
                guard case .query(let q) = try Parser.parse(source).first else { throw SQLError.execution("cannot read \(file)") }
                let (schema, _) = try session.stagePlan(q)
                let partitionFields = output.partition.map { p in
                    Field(p.column, Template.placeholderName(p.value).flatMap { values[$0] }.map(Self.type) ?? .varchar)
                }
                _ = try datasets.createPartitioned(output.dataset, columns: schema.fields + partitionFields, partitionColumns: output.partition.map(\.column),
                                                   format: output.format == "json" ? "json" : output.format, by: "pipeline \(task.pipeline)")
            }
            let spec = partition.map { "\(Self.identifier($0.column)) = \(Self.literal($0.value))" }.joined(separator: ", ")
            return try count(run(session, "INSERT OVERWRITE \(ds) PARTITION (\(spec)) \(source)"))
        }
    }

    @discardableResult
    private func run(_ session: Session, _ sql: String) throws(SQLError) -> String {
        let statements: [Statement]
        do { statements = try Parser.parse(sql) } catch { throw SQLError.execution("model \(task.model): \(error.render(in: sql))") }
        var message = ""
        for s in statements {
            switch try session.run(s) {
            case .message(let m): message = m
            case .rows: message = ""
            }
        }
        return message
    }

    /// The row count a write's message ends with ("COPY 120", "INSERT 12").
    private func count(_ message: String) -> Int64 { Int64(message.split(separator: " ").last ?? "") ?? 0 }

    static func type(_ v: ParamValue) -> DataType {
        switch v {
        case .date: return .date
        case .int: return .bigint
        case .string: return .varchar
        case .timestamp: return .timestamp
        }
    }

    /// The table function reading a files source with its schema and error policy.
    static func reader(path: String, format: String, schema: String?, onError: String?, quarantine: String) throws(SQLError) -> String {
        var options: [String] = []
        if let schema {
            let columns = try columnsOption(schema)
            options.append("columns={\(columns)}")
        }
        if let onError {
            options.append("on_error=\(literal(onError))")
            if onError == "quarantine" { options.append("quarantine=\(literal(quarantine))") }
        }
        switch format {
        case "csv": return "read_csv(\(([literal(path), "header=true"] + options).joined(separator: ", ")))"
        case "json": return "read_json(\(([literal(path)] + options).joined(separator: ", ")))"
        default: return literal(path)
        }
    }

    /// `id BIGINT, amount DECIMAL(12,2)` as read_csv's `'id': 'BIGINT', 'amount': 'DECIMAL(12,2)'`.
    static func columnsOption(_ schema: String) throws(SQLError) -> String {
        var parts: [String] = [], depth = 0, current = ""
        for c in schema {
            if c == "(" { depth += 1 } else if c == ")" { depth -= 1 }
            if c == ",", depth == 0 { parts.append(current); current = "" } else { current.append(c) }
        }
        parts.append(current)
        return try parts.map { (p: String) throws(SQLError) -> String in
            let words = p.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
            guard words.count == 2 else { throw SQLError.execution("a source schema is 'name TYPE, ...'; '\(p)' is not") }
            return "\(literal(String(words[0]))): \(literal(words[1].trimmingCharacters(in: .whitespaces)))"
        }.joined(separator: ", ")
    }

    static func literal(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
    static func identifier(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// Rows in a quarantine file: its lines, less the header (a row with a newline in quotes counts once per line).
    static func rowsIn(quarantineFile path: String) -> Int64 {
        guard let data = FileManager.default.contents(atPath: path) else { return 0 }
        return max(0, Int64(data.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }) - 1)
    }
}
