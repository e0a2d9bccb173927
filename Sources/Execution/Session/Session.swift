public import Columnar
public import SQL
import Foundation

/// What one statement produced.
public enum StatementResult {
    case rows(Schema, [RecordBatch])
    case message(String)
}

/// A SQL session in one process: an in-memory catalog of tables and views, the
/// file readers behind `FROM 'path'` and read_csv/read_json, and the pipeline
/// parse -> bind -> optimize -> plan -> run. Not thread-safe: one session per client.
public final class Session: Catalog {
    private var entries: [String: (name: String, entry: CatalogEntry)] = [:]
    public let cancel = Cancellation()
    /// How many threads a query runs on (`SET threads = N`, `--threads N`); the cores by default.
    public private(set) var threads = Session.defaultThreads
    public static let maxThreads = 256
    /// Hash joins whose build side is expected to exceed this many rows
    /// partition both sides instead of sharing one table (see PhysicalPlanner);
    /// nil in one process. Tests set it to run partitioned joins.
    public var broadcastLimit: Double?
    /// The cluster's default broadcast limit, in estimated rows of the build side.
    public static let clusterBroadcastLimit: Double = 1_000_000
    /// When set, queries are planned for `partitions` partitions, cut into
    /// stages and run stage by stage through an in-process shuffle, as the
    /// cluster runs them (EXPLAIN shows the stages). Tests compare the two.
    public var stages: StageCutter?
    /// Runs a query's stages somewhere else (the cluster) instead of in this
    /// process; with `stages` set. Its rows, in the result stage's order, or
    /// none when told to discard them (EXPLAIN ANALYZE), and each stage's figures.
    public var stageExecutor: ((StagePlan, _ discard: Bool) throws(SQLError) -> StagedRun)?
    /// When set, the only directories (and what is below them) queries may read
    /// and write (the coordinator's `--sql-root`, which the error names).
    public var fileRoots: [String]?
    public static var defaultThreads: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
    /// How a staged query re-plans its shuffle reads from the sizes it meets (`SET adaptive...`).
    public var adaptive = AdaptivePolicy()
    /// Each query's memory budget (`SET memory_limit`, `--memory-limit`): 80% of RAM by default, as DuckDB.
    public var memoryLimit = MemoryPool.defaultLimit
    /// Where queries spill (`SET temp_directory`, `--temp-dir`): a folder of their own below it, removed when they end.
    public var tempDirectory = Session.defaultTempDirectory
    /// The most the last query run here reserved of its budget at once (tests check it never passes the limit).
    public private(set) var lastMemoryPeak = 0
    public static var defaultTempDirectory: String {
        var t = NSTemporaryDirectory()
        while t.count > 1, t.hasSuffix("/") { t.removeLast() }
        return t
    }

    public init() {}

    /// Sets the thread count, refusing what is not 1 through `maxThreads`.
    public func setThreads(_ n: Int) throws(SQLError) {
        guard (1...Session.maxThreads).contains(n) else {
            throw SQLError.binder("threads must be between 1 and \(Session.maxThreads), not \(n)", .unknown)
        }
        threads = n
    }

    /// Named datasets (the coordinator's catalog), consulted for a name that is
    /// no view or table of the session's own.
    public var datasets: (any DatasetLookup)?

    public var names: [String] { entries.values.map(\.name) + (datasets?.names ?? []) }

    public func lookup(_ name: String) throws(SQLError) -> CatalogEntry? {
        if let e = entries[name.lowercased()]?.entry { return e }
        return try datasets?.table(name, for: self).map { .table($0) }
    }

    /// Names an opened table for this session.
    public func registerSource(name: String, _ source: TableSource) {
        entries[name.lowercased()] = (name, .table(source))
    }

    /// Names a file set as a table (`--table sales=lake/sales/*.csv`).
    public func registerFiles(name: String, pattern: String) throws(SQLError) {
        registerSource(name: name, try openFiles([pattern], format: nil, options: [:]))
    }

    public func rows(name: String, schema: Schema, batches: [RecordBatch]) -> TableSource {
        MemoryTable(name: name, schema: schema, batches: batches)
    }

    public func openFiles(_ paths: [String], format: String?, options: [String: OptionValue]) throws(SQLError) -> TableSource {
        let files = try listFiles(paths)
        return try open(files, format: format ?? Session.formatFromExtension(files[0].path), options: options,
                        label: paths.count == 1 ? paths[0] : "\(paths.count) paths")
    }

    /// The files paths and globs name (directories: every file below), each
    /// with its `key=value` directories, refusing any outside the file roots.
    public func listFiles(_ paths: [String]) throws(SQLError) -> [DataFile] {
        let files = try FileSet.expand(paths)
        for f in files { try checkAllowed(f.path) }
        return files
    }

    /// Files already listed (a dataset's), read as one table in `kind`'s format.
    public func open(_ files: [DataFile], format kind: String, options: [String: OptionValue], label: String) throws(SQLError) -> TableSource {
        guard !files.isEmpty else { throw SQLError.execution("IO Error: \(label) has no files") }
        for f in files { try checkAllowed(f.path) }
        switch kind {
        case "csv": return try CSVFormat.open(files, options: try CSVOptions.parse(options), label: label)
        case "json": return try JSONFormat.open(files, options: options, label: label)
        case "sluice":
            guard options.isEmpty else { throw SQLError.binder("read_sluice takes no options", .unknown) }
            return try SluiceFormat.open(files, label: label)
        case "parquet": throw SQLError.unsupported("Parquet comes in a later release", .unknown)
        default: throw SQLError.binder("cannot tell the format of \"\(files[0].path)\"; use read_csv(...) or read_json(...)", .unknown)
        }
    }

    public static func formatFromExtension(_ path: String) -> String {
        var p = path.lowercased()
        if p.hasSuffix(".gz") { p.removeLast(3) }
        if p.hasSuffix(".csv") || p.hasSuffix(".tsv") || p.hasSuffix(".tbl") || p.hasSuffix(".txt") { return "csv" }
        if p.hasSuffix(".json") || p.hasSuffix(".jsonl") || p.hasSuffix(".ndjson") { return "json" }
        if p.hasSuffix(".sluice") { return "sluice" }
        if p.hasSuffix(".parquet") { return "parquet" }
        return "unknown"
    }

    /// Runs every statement of a script, returning each one's result.
    public func execute(_ sql: String) throws(SQLError) -> [StatementResult] {
        var out: [StatementResult] = []
        for s in try Parser.parse(sql) { out.append(try run(s)) }
        return out
    }

    public func run(_ statement: Statement) throws(SQLError) -> StatementResult {
        cancel.reset()
        switch statement {
        case .query(let q):
            let (schema, batches) = try query(q)
            return .rows(schema, batches)
        case .explain(let inner, let analyze):
            guard case .query(let q) = inner else { throw SQLError.unsupported("EXPLAIN of anything but a query", .unknown) }
            let plan = try physical(q)
            var lines: [String]
            if stages != nil {
                let cut = try cut(plan)
                guard analyze else { return explained(PlanText.render(cut), analyze: false) }
                let start = monotonicNanos()
                let run = try runStages(cut, discard: true)
                let elapsed = Double(monotonicNanos() - start) / 1e6
                lines = PlanText.render(cut, figures: run.figures)
                let workers = Set(run.figures.flatMap(\.workers)).sorted()
                lines.insert(String(format: "Total: %.3fms, %d stages on ", elapsed, cut.stages.count) + workers.joined(separator: ", "), at: 0)
            } else if analyze {
                let start = monotonicNanos()
                let run = try withBudget { (pool, spill) throws(SQLError) in
                    let run = QueryRun(plan, partitions: threads, cancel: cancel, memory: pool, spill: spill)
                    _ = try run.run()
                    return run
                }
                let elapsed = Double(monotonicNanos() - start) / 1e6
                lines = PlanText.render(plan, stats: run.context.stats, trees: (QueryRun.rootTree, run.subqueryTree, run.cteTree))
                lines.insert(String(format: "Total: %.3fms on %d threads", elapsed, threads), at: 0)
            } else {
                lines = PlanText.render(plan)
            }
            return explained(lines, analyze: analyze)
        case .set(let name, let value, let loc):
            return try set(name, value, loc)
        case .createTable(let name, _, let q?, let orReplace, let ifNotExists) where datasetWriter != nil:
            // On the cluster: a dataset of the catalog, written by the workers.
            let writer = datasetWriter!
            let exists = try writer.shape(of: name) != nil
            if exists, ifNotExists { return .message("CREATE TABLE") }
            if exists, !orReplace { throw SQLError.binder("dataset \"\(name)\" already exists (CREATE OR REPLACE TABLE replaces it)", .unknown) }
            let n = try writeDataset(name, try physical(q), mode: exists ? .replace : .create, into: writer)
            return .message("CREATE TABLE \(n)")
        case .createTable(let name, let columns, let q, let orReplace, let ifNotExists):
            if entries[name.lowercased()]?.entry != nil {
                if ifNotExists { return .message("CREATE TABLE") }
                if !orReplace { throw SQLError.binder("table \"\(name)\" already exists", .unknown) }
            }
            if let q {
                let (schema, batches) = try query(q)
                entries[name.lowercased()] = (name, .table(MemoryTable(name: name, schema: schema, batches: batches)))
            } else {
                var seen = Set<String>()
                for c in columns where !seen.insert(c.name.lowercased()).inserted {
                    throw SQLError.binder("column \"\(c.name)\" appears twice in CREATE TABLE \(name)", .unknown)
                }
                entries[name.lowercased()] = (name, .table(MemoryTable(name: name, schema: Schema(columns))))
            }
            return .message("CREATE TABLE")
        case .createView(let name, let q, let orReplace):
            if entries[name.lowercased()]?.entry != nil, !orReplace { throw SQLError.binder("\"\(name)\" already exists", .unknown) }
            _ = try Binder(catalog: self).bind(q)   // check it binds now, not at first use
            entries[name.lowercased()] = (name, .view(q))
            return .message("CREATE VIEW")
        case .insert(let name, let columns, let source, let loc):
            if entries[name.lowercased()] == nil, let writer = datasetWriter, let existing = try writer.shape(of: name)?.columns {
                guard columns == nil else { throw SQLError.unsupported("INSERT INTO a dataset with a column list; give every column in order", loc) }
                let plan = try Self.insertPlan(into: name, existing, writing: try physical(source))   // planned once: planning may sample files
                return .message("INSERT \(try writeDataset(name, plan, mode: .append, into: writer))")
            }
            guard case .table(let t as MemoryTable)? = entries[name.lowercased()]?.entry else {
                let hint = nearestName(to: name, among: names).map { "; did you mean \"\($0)\"?" } ?? ""
                throw SQLError.binder(entries[name.lowercased()]?.entry == nil ? "table \"\(name)\" does not exist\(hint)" : "\"\(name)\" is not a table one can insert into", loc)
            }
            return .message("INSERT \(try insert(into: t, columns: columns, source, loc))")
        case .update(let name, let assignments, let filter, let loc):
            return .message("UPDATE \(try update(try memoryTable(name, loc, "update"), assignments, filter, loc))")
        case .delete(let name, let filter, let loc):
            return .message("DELETE \(try delete(from: try memoryTable(name, loc, "delete from"), filter, loc))")
        case .insertOverwrite(let name, let partition, let source, let loc):
            return .message("INSERT \(try overwritePartition(name, partition, source, loc))")
        case .drop(let kind, let name, let ifExists, let loc):
            if kind == "TABLE", entries[name.lowercased()] == nil, let writer = datasetWriter, try writer.drop(name) {
                return .message("DROP TABLE")
            }
            guard let e = entries[name.lowercased()]?.entry else {
                if ifExists { return .message("DROP \(kind)") }
                throw SQLError.binder("\(kind.lowercased()) \"\(name)\" does not exist", loc)
            }
            switch (kind, e) {
            case ("TABLE", .table), ("VIEW", .view): entries.removeValue(forKey: name.lowercased())
            default: throw SQLError.binder("\"\(name)\" is not a \(kind.lowercased())", loc)
            }
            return .message("DROP \(kind)")
        case .describe(let ref):
            let plan = try Binder(catalog: self).bind(Query(body: .select(SelectCore(items: [.star(qualifier: nil, StarModifiers(), .unknown)], from: ref))))
            var names = ColumnBuilder(type: .varchar), types = ColumnBuilder(type: .varchar), nullable = ColumnBuilder(type: .varchar)
            for c in plan.columns { names.append(string: c.name); types.append(string: c.type.description); nullable.append(string: "YES") }
            // DuckDB's six columns; Sluice has no keys, defaults or extras yet.
            let schema = Schema(["column_name", "column_type", "null", "key", "default", "extra"].map { Field($0, .varchar) })
            let n = plan.columns.count
            let empty = (0..<3).map { _ in Column.constant(.null, type: .varchar, count: n) }
            return .rows(schema, [RecordBatch(schema: schema, columns: [names.finish(), types.finish(), nullable.finish()] + empty, rowCount: n)])
        case .copy(let q, let path, let options):
            try checkAllowed(path)
            var format = Session.formatFromExtension(path)
            var partitionBy: [String] = []
            var header = true
            var delimiter: Character = ","
            for (k, v) in options {
                switch (k, v.kind) {
                case ("FORMAT", .literal(.string(let f))): format = f.lowercased()
                case ("PARTITION_BY", .listLiteral(let cols)):
                    for c in cols { if case .column(let parts) = c.kind { partitionBy.append(parts.last!) } }
                case ("PARTITION_BY", .column(let parts)): partitionBy.append(parts.last!)
                case ("HEADER", .literal(.bool(let b))): header = b
                case ("DELIMITER", .literal(.string(let d))), ("DELIM", .literal(.string(let d))):
                    guard d.count == 1 else { throw SQLError.binder("DELIMITER must be one character", .unknown) }
                    delimiter = d.first!
                default: throw SQLError.binder("unknown COPY option \(k)", .unknown)
                }
            }
            if format == "json" { format = "jsonl" }
            if format == "unknown" { format = "csv" }
            guard ["csv", "jsonl", "sluice"].contains(format) else { throw SQLError.binder("COPY supports FORMAT csv, jsonl and sluice, not \(format)", .unknown) }
            if stages != nil {
                return .message("COPY \(try copyStaged(q, to: path, WriteSpec(directory: "", format: format, partitionBy: partitionBy, header: header, delimiter: String(delimiter), fileName: "")))")
            }
            let (schema, batches) = try query(q)
            let n = try ResultWriter.write(batches, schema: schema, to: path, format: format, partitionBy: partitionBy, header: header, delimiter: delimiter)
                .reduce(0) { $0 + $1.rows }
            return .message("COPY \(n)")
        }
    }

    /// Called with a write's staging directory before anything is written
    /// there (true) and once it is gone (false): the coordinator records it so
    /// that a restart removes what a killed predecessor left.
    public var stagingJournal: ((_ directory: String, _ open: Bool) -> Void)?
    /// Where CREATE TABLE AS and INSERT INTO write named datasets (the
    /// coordinator's catalog); without it, tables are the session's own.
    public var datasetWriter: (any DatasetWriter)?
    /// What the catalog records as the writer of a dataset (the query's id).
    public var label = ""
    /// Called when a staged write is complete and about to be published (a fault-test hook).
    public var beforePublish: ((_ staging: String) -> Void)?
    /// Called when a dataset write's files are in place and the catalog is about to take them (a fault-test hook).
    public var beforeCatalog: ((_ directory: String) -> Void)?

    /// Refuses a path outside `fileRoots` (symbolic links resolved, so none leads out).
    public func checkAllowed(_ path: String) throws(SQLError) {
        guard let roots = fileRoots else { return }
        let resolved = Self.resolved(path)
        for r in roots {
            let root = Self.resolved(r)
            if resolved == root || resolved.hasPrefix(root.hasSuffix("/") ? root : root + "/") { return }
        }
        throw SQLError.execution("\"\(path)\" is outside the directories queries here may read and write (--sql-root: \(roots.joined(separator: ", ")))")
    }

    /// The absolute path with symbolic links resolved as far as it exists (a file to be written may not yet).
    static func resolved(_ path: String) -> String {
        var url = URL(fileURLWithPath: path).standardizedFileURL
        var tail: [String] = []
        while !FileManager.default.fileExists(atPath: url.path), url.path != "/" {
            tail.insert(url.lastPathComponent, at: 0)
            url.deleteLastPathComponent()
        }
        var p = url.resolvingSymlinksInPath().path
        for t in tail { p = (p as NSString).appendingPathComponent(t) }
        return p
    }

    /// The physical plan of a query for this session's thread count; runs nothing.
    /// A query planned for `stages` and cut into them (the cluster's form); runs nothing.
    public func stagePlan(_ q: Query) throws(SQLError) -> (Schema, StagePlan) {
        let plan = try physical(q)
        return (plan.root.schema, try cut(plan))
    }

    /// The columns a query gives: bound and planned, nothing run.
    public func schema(of q: Query) throws(SQLError) -> Schema { try physical(q).root.schema }

    func physical(_ q: Query) throws(SQLError) -> PhysicalQuery {
        let logical = try Binder(catalog: self).bind(q)
        let optimized = try Optimizer().optimize(logical)
        return try PhysicalPlanner(partitions: stages?.partitions ?? threads, broadcastLimit: broadcastLimit ?? memoryBoundBroadcastRows,
                                   distributed: stages != nil).plan(optimized)
    }

    static let settings = "threads, memory_limit, temp_directory, broadcast_threshold, adaptive, adaptive_partition_bytes, adaptive_skew_bytes, adaptive_skew_factor, adaptive_broadcast_bytes"

    /// `SET name = value` (nil value: `RESET name`).
    private func set(_ name: String, _ value: Expr?, _ loc: SourceLocation) throws(SQLError) -> StatementResult {
        let defaults = AdaptivePolicy()
        func bytes() throws(SQLError) -> UInt64 {
            guard let value else { throw SQLError.execution("internal error: no value") }
            let text: String
            switch value.kind {
            case .literal(.number(let t)), .literal(.string(let t)): text = t
            default: text = ""
            }
            guard let n = Self.byteCount(text) else {
                throw SQLError.binder("\(name) takes a size in bytes, like SET \(name) = '64MB' or = 67108864", value.location)
            }
            return n
        }
        switch name.lowercased() {
        case "threads":
            guard let value else { threads = Session.defaultThreads; return .message("RESET") }
            guard case .literal(.number(let text)) = value.kind, let n = Int(text) else {
                throw SQLError.binder("threads takes a whole number, like SET threads = 4", value.location)
            }
            try setThreads(n)
        case "broadcast_threshold":
            guard let value else { broadcastLimit = stages == nil ? nil : Session.clusterBroadcastLimit; return .message("RESET") }
            guard case .literal(.number(let text)) = value.kind, let n = Int(text), n >= 0 else {
                throw SQLError.binder("broadcast_threshold takes a number of rows, like SET broadcast_threshold = 100000", value.location)
            }
            broadcastLimit = Double(n)
        case "memory_limit", "max_memory":
            guard value != nil else { memoryLimit = MemoryPool.defaultLimit; return .message("RESET") }
            let n = try bytes()
            guard n >= 1 << 20, n <= UInt64(Int.max) else {
                throw SQLError.binder("memory_limit must be at least 1 MiB, like SET memory_limit = '1GB'", value!.location)
            }
            memoryLimit = Int(n)
        case "temp_directory":
            guard let value else { tempDirectory = Session.defaultTempDirectory; return .message("RESET") }
            guard case .literal(.string(let path)) = value.kind, !path.isEmpty else {
                throw SQLError.binder("temp_directory takes a path, like SET temp_directory = '/mnt/scratch'", value.location)
            }
            tempDirectory = path
        case "adaptive":
            guard let value else { adaptive.enabled = defaults.enabled; return .message("RESET") }
            switch value.kind {
            case .literal(.bool(let b)): adaptive.enabled = b
            case .literal(.string(let t)) where ["true", "false", "on", "off"].contains(t.lowercased()): adaptive.enabled = ["true", "on"].contains(t.lowercased())
            case .column(let names) where names.count == 1 && ["on", "off"].contains(names[0].lowercased()): adaptive.enabled = names[0].lowercased() == "on"
            default: throw SQLError.binder("adaptive takes true or false, like SET adaptive = false", value.location)
            }
        case "adaptive_partition_bytes":
            adaptive.targetBytes = value == nil ? defaults.targetBytes : max(1, try bytes())
        case "adaptive_skew_bytes":
            adaptive.skewBytes = value == nil ? defaults.skewBytes : try bytes()
        case "adaptive_broadcast_bytes":
            adaptive.broadcastBytes = value == nil ? defaults.broadcastBytes : try bytes()
        case "adaptive_skew_factor":
            guard let value else { adaptive.skewFactor = defaults.skewFactor; return .message("RESET") }
            guard case .literal(.number(let text)) = value.kind, let f = Double(text), f.isFinite, f >= 1, f <= 1_000_000 else {
                throw SQLError.binder("adaptive_skew_factor takes a number from 1 up, like SET adaptive_skew_factor = 5", value.location)
            }
            adaptive.skewFactor = f
        default:
            throw SQLError.binder("unknown setting \"\(name)\"; the settings are: \(Self.settings)", loc)
        }
        return .message(value == nil ? "RESET" : "SET")
    }

    /// `67108864`, `'64MB'`, `'64 MiB'`, `'1GB'` as bytes (KB, MB, GB, TB are powers of 1000; KiB... of 1024, as DuckDB); nil otherwise.
    public static func byteCount(_ text: String) -> UInt64? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let digits = t.prefix { $0.isNumber || $0 == "." }
        let unit = t.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        let scale: Double
        switch unit {
        case "", "b", "bytes": scale = 1
        case "kb": scale = 1e3
        case "mb": scale = 1e6
        case "gb": scale = 1e9
        case "tb": scale = 1e12
        case "kib": scale = 1024
        case "mib": scale = 1_048_576
        case "gib": scale = 1_073_741_824
        case "tib": scale = 1_099_511_627_776
        default: return nil
        }
        guard let n = Double(digits), n >= 0 else { return nil }
        let v = n * scale
        guard v.isFinite, v < 9e18 else { return nil }
        return UInt64(v)
    }

    /// In one process, a join's build side is shared by every thread unless it
    /// would not fit the memory limit (about 400 bytes a row, table included):
    /// such a side is partitioned with the other, so each partition's part
    /// can spill (`GraceHashJoinOperator`).
    var memoryBoundBroadcastRows: Double { Double(memoryLimit / 400) }

    /// `plan` cut into stages, with this session's adaptive settings.
    func cut(_ plan: PhysicalQuery) throws(SQLError) -> StagePlan {
        guard let stages else { throw SQLError.execution("internal error: a stage plan in a session without stages") }
        var cut = try stages.cut(plan)
        cut.adaptive = adaptive
        return cut
    }

    func runStages(_ plan: StagePlan, discard: Bool) throws(SQLError) -> StagedRun {
        if let run = stageExecutor { return try run(plan, discard) }
        return try StagedQuery.run(plan, threads: threads, cancel: cancel, discard: discard, memoryLimit: memoryLimit, tempDirectory: tempDirectory)
    }

    /// EXPLAIN's answer: one line a row.
    private func explained(_ lines: [String], analyze: Bool) -> StatementResult {
        let field = Field(analyze ? "analyzed_plan" : "physical_plan", .varchar)
        var b = ColumnBuilder(type: .varchar)
        for l in lines { b.append(string: l) }
        return .rows(Schema([field]), [RecordBatch(schema: Schema([field]), columns: [b.finish()])])
    }

    /// Runs a query to completion; result columns carry the query's names, rows in result order.
    public func query(_ q: Query) throws(SQLError) -> (Schema, [RecordBatch]) {
        let plan = try physical(q)
        if stages != nil {
            let cut = try cut(plan)
            let schema = plan.root.schema
            return (schema, try runStages(cut, discard: false).rows.map {
                RecordBatch(schema: schema, columns: $0.columns, rowCount: $0.rowCount)
            })
        }
        return (plan.root.schema, try withBudget { (pool, spill) throws(SQLError) in
            try QueryRun(plan, partitions: threads, cancel: cancel, memory: pool, spill: spill).run()
        })
    }

    /// Runs `body` with a fresh memory pool of `memoryLimit` and a spill space under
    /// `tempDirectory`, removed afterwards (on error too); records the pool's peak.
    private func withBudget<T>(_ body: (MemoryPool, SpillSpace) throws(SQLError) -> T) throws(SQLError) -> T {
        let spill = SpillSpace(root: tempDirectory)
        let pool = MemoryPool(limit: memoryLimit)
        defer { spill.close(); lastMemoryPeak = pool.peak }
        return try body(pool, spill)
    }

    /// A memory table of this session by name (UPDATE and DELETE change only those).
    private func memoryTable(_ name: String, _ loc: SourceLocation, _ verb: String) throws(SQLError) -> MemoryTable {
        guard case .table(let t as MemoryTable)? = entries[name.lowercased()]?.entry else {
            let hint = nearestName(to: name, among: names).map { "; did you mean \"\($0)\"?" } ?? ""
            throw SQLError.binder(entries[name.lowercased()]?.entry == nil ? "table \"\(name)\" does not exist\(hint)"
                                  : "\"\(name)\" is not a table one can \(verb) (only tables made in this session are)", loc)
        }
        return t
    }

    /// The rows where `filter` is TRUE (all rows without one) get the
    /// assigned values; the table is replaced at once, so a failing
    /// expression or cast leaves it as it was. Returns the rows changed.
    private func update(_ t: MemoryTable, _ assignments: [(column: String, value: Expr)], _ filter: Expr?, _ loc: SourceLocation) throws(SQLError) -> Int {
        var values: [Int: Expr] = [:]
        for (c, e) in assignments {
            guard let i = t.schema.index(of: c) else {
                let hint = nearestName(to: c, among: t.schema.fields.map(\.name)).map { "; did you mean \"\($0)\"?" } ?? ""
                throw SQLError.binder("table \"\(t.name)\" has no column \"\(c)\"\(hint)", e.location)
            }
            guard values[i] == nil else { throw SQLError.binder("column \"\(c)\" is assigned twice", e.location) }
            values[i] = e
        }
        let hit = filter ?? Expr(.literal(.bool(true)), loc)
        var items: [SelectItem] = t.schema.fields.enumerated().map { i, f in
            let old = Expr(.column([f.name]), loc)
            guard let v = values[i] else { return .expr(old, alias: f.name) }
            return .expr(Expr(.caseWhen(operand: nil, whens: [(hit, Expr(.cast(v, f.type), v.location))], otherwise: old), loc), alias: f.name)
        }
        items.append(.expr(hit, alias: "_updated"))
        let (_, batches) = try query(Query(body: .select(SelectCore(items: items, from: .named(t.name, alias: nil, loc)))))
        var changed = 0
        var rows: [RecordBatch] = []
        for b in batches {
            let flags = b.columns[t.schema.count]
            for i in 0..<b.rowCount where !flags.isNull(i) { if case .bool(true) = flags.value(at: i) { changed += 1 } }
            rows.append(RecordBatch(schema: t.schema, columns: Array(b.columns.prefix(t.schema.count)), rowCount: b.rowCount))
        }
        t.replace(rows)
        return changed
    }

    /// Removes the rows where `filter` is TRUE (every row without one). Returns how many.
    private func delete(from t: MemoryTable, _ filter: Expr?, _ loc: SourceLocation) throws(SQLError) -> Int {
        let before = t.batches.reduce(0) { $0 + $1.rowCount }
        guard let filter else { t.replace([]); return before }
        let keep = Expr(.isDistinctFrom(filter, Expr(.literal(.bool(true)), loc), negated: false), loc)
        let (_, batches) = try query(Query(body: .select(SelectCore(items: [.star(qualifier: nil, StarModifiers(), loc)],
                                                                     from: .named(t.name, alias: nil, loc), filter: keep))))
        let rows = batches.map { RecordBatch(schema: t.schema, columns: $0.columns, rowCount: $0.rowCount) }
        t.replace(rows)
        return before - rows.reduce(0) { $0 + $1.rowCount }
    }

    private func insert(into t: MemoryTable, columns: [String]?, _ source: Query, _ loc: SourceLocation) throws(SQLError) -> Int {
        let (schema, batches) = try query(source)
        let targets: [Int]
        if let columns {
            var idx: [Int] = []
            for c in columns {
                guard let i = t.schema.index(of: c) else {
                    let hint = nearestName(to: c, among: t.schema.fields.map(\.name)).map { "; did you mean \"\($0)\"?" } ?? ""
                    throw SQLError.binder("table \"\(t.name)\" has no column \"\(c)\"\(hint)", loc)
                }
                idx.append(i)
            }
            targets = idx
        } else { targets = Array(t.schema.fields.indices) }
        guard schema.count == targets.count else {
            throw SQLError.binder("table \"\(t.name)\" has \(targets.count) columns but \(schema.count) values were supplied", loc)
        }
        var inserted = 0
        var converted: [RecordBatch] = []
        for b in batches {
            var cols = t.schema.fields.map { Column.constant(.null, type: $0.type, count: b.rowCount) }
            for (k, target) in targets.enumerated() {
                cols[target] = try Cast.column(b.columns[k], to: t.schema.fields[target].type)
            }
            converted.append(RecordBatch(schema: t.schema, columns: cols, rowCount: b.rowCount))
            inserted += b.rowCount
        }
        t.append(converted)   // all or nothing: a failed cast above left the table as it was
        return inserted
    }
}
