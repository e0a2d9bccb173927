import ArgumentParser
import Columnar
import Datasets
import Dispatch
import Execution
import Foundation
import SQL

/// `sluice query "SQL"`: runs SQL on the cluster (the coordinator plans it and
/// the workers run its stages), or with `--local` in this process.
struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Run SQL over CSV, JSON Lines and Sluice files, on the cluster or (--local) in this process.",
        discussion: """
            Examples:
              sluice query "SELECT count(*) FROM '/data/lake/sales/*.csv'"      (on the cluster)
              sluice query --local "SELECT count(*) FROM 'lake/sales/*.csv'"
              sluice query --local -f report.sql --table sales=lake/sales/*.csv --format csv
            """)

    @Flag(help: "Run in this process instead of on the cluster.")
    var local = false

    @OptionGroup var cluster: ClusterOptions

    @Option(parsing: .unconditional, help: "On the cluster: buckets of each shuffle, 1...100000 (default: two per worker slot).")
    var partitions: Number?

    @Option(parsing: .unconditional, help: "On the cluster: cancel the query after this long (e.g. 10m).")
    var timeout: DurationArgument?

    @Flag(help: "No progress line on stderr (there is none when stderr is not a terminal).")
    var noProgress = false

    @Option(name: [.short, .customLong("file")], help: "Read the SQL from a file (-: from stdin, as with no SQL and a pipe).")
    var file: String?

    @Option(name: .customLong("format"), help: "Output: table, csv, json or jsonl.")
    var formatOption: OutputFormat = .table
    @Flag(help: "Another spelling of --format json, as on every other command.") var json = false
    var format: OutputFormat { json ? .json : formatOption }

    @Option(name: .customLong("table"), help: "Name a file set as a table: NAME=GLOB (repeatable).")
    var tables: [String] = []

    @Option(parsing: .unconditional, help: "Threads to run on, 1...\(Session.maxThreads) (default: the cores; SET threads = N changes it).")
    var threads: Number?

    @Option(help: ArgumentHelp("With --local: read datasets by name from the catalog a coordinator keeps in DIR (its --data-dir).", valueName: "DIR"))
    var catalog: String?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Cut each query into stages of N partitions and run them one task at a time through an in-process shuffle, as the cluster will (1...\(Self.maxStagePartitions)); EXPLAIN shows the stages.",
        valueName: "N"))
    var stages: Number?
    static let maxStagePartitions = 4096

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "With --local: each query's memory budget (e.g. 1GB, 512MiB; default 80% of RAM); operators spill to --temp-dir beyond it.", valueName: "SIZE"))
    var memoryLimit: ByteSize?

    @Option(help: ArgumentHelp("With --local: where queries spill (a folder of their own, removed when they end; default: the system's temp dir).",
                               valueName: "DIR"))
    var tempDir: String?

    @Argument(help: "The SQL to run (statements separated by ';').")
    var sql: String?

    enum OutputFormat: String, ExpressibleByArgument { case table, csv, json, jsonl }

    func validate() throws {
        guard sql == nil || file == nil else { throw ValidationError("give the SQL as an argument or with -f FILE (one of them)") }
        guard sql != nil || file != nil || isatty(0) == 0 else {
            throw ValidationError("give the SQL as an argument, with -f FILE, or on stdin (a pipe, or -f -)")
        }
        guard !json || formatOption == .table || formatOption == .json else { throw ValidationError("--json is --format json: give one of them") }
        if !local {
            guard threads == nil, stages == nil else { throw ValidationError("--threads and --stages go with --local (workers set their own threads)") }
            guard catalog == nil else { throw ValidationError("--catalog goes with --local (on the cluster, the coordinator's own catalog is used)") }
            guard memoryLimit == nil, tempDir == nil else { throw ValidationError("--memory-limit and --temp-dir go with --local (workers have their own)") }
            _ = try partitions?.value("--partitions", in: 1...100_000)
            _ = try timeout?.value("--timeout", in: 1...DurationArgument.sevenDays)
        }
    }

    func run() throws {
        let text: String
        if let sql {
            text = sql
        } else if file == nil || file == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let file, let t = try? String(contentsOfFile: file, encoding: .utf8) else { fail("cannot read \(file ?? "")") }
            text = t
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { fail("no SQL given (the input was empty)") }
        if !local { runOnCluster(text) }
        let session = Session()
        if let threads { try session.setThreads(threads.value("--threads", in: 1...Session.maxThreads)) }
        if let memoryLimit { session.memoryLimit = try memoryLimit.value("--memory-limit", in: (1 << 20)...Int.max) }
        if let tempDir { session.tempDirectory = tempDir }
        // What a killed run before this one left in the temp dir goes.
        SpillSpace.sweep(session.tempDirectory)
        if let stages {
            let n = try stages.value("--stages", in: 1...Self.maxStagePartitions)
            session.stages = StageCutter(partitions: n, scanTasks: n)
        }
        if let catalog {
            do { session.datasets = CatalogTables(try DatasetCatalog(dir: catalog, readOnly: true)) } catch { fail("\(error)") }
        }
        for t in tables {
            guard let eq = t.firstIndex(of: "="), eq != t.startIndex else { fail("--table wants NAME=GLOB, not \(t)") }
            do { try session.registerFiles(name: String(t[..<eq]), pattern: String(t[t.index(after: eq)...])) }
            catch { fail(error.render(in: text)) }
        }
        // Ctrl-C cancels the running query; the scan stops at its next batch.
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler { session.cancel.cancel() }
        interrupt.resume()
        withExtendedLifetime(interrupt) {
            do {
                let statements = try Parser.parse(text)
                for s in statements {
                    switch try session.run(s) {
                    case .rows(let schema, let batches): print(ResultPrinter.render(schema, batches, format), terminator: "")
                    case .message(let m): if Self.countsRows(m) { FileHandle.standardError.write(Data((m + "\n").utf8)) }
                    }
                }
            } catch {
                if session.cancel.isCancelled {
                    FileHandle.standardError.write(Data("Query cancelled\n".utf8))
                    Foundation.exit(130)
                }
                fail((error as? SQLError)?.render(in: text) ?? "\(error)")
            }
        }
    }

    /// Statement messages worth showing: those that say how many rows were written (on stderr, so results stay clean).
    static func countsRows(_ m: String) -> Bool {
        m.hasPrefix("COPY") || m.hasPrefix("INSERT") || m.hasPrefix("UPDATE") || m.hasPrefix("DELETE") || (m.hasPrefix("CREATE TABLE ") && m.split(separator: " ").last.map { Int($0) != nil } == true)
    }

    func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data(("Error: " + message + "\n").utf8))
        Foundation.exit(1)
    }
}

/// Query results as text for the terminal or for other programs.
enum ResultPrinter {
    static func render(_ schema: Schema, _ batches: [RecordBatch], _ format: QueryCommand.OutputFormat) -> String {
        var out = ""
        switch format {
        case .csv:
            let writer = CSVWriter()
            var bytes: [UInt8] = []
            writer.header(schema, into: &bytes)
            for b in batches { writer.append(b, into: &bytes) }
            out = String(decoding: bytes, as: UTF8.self)
        case .jsonl, .json:
            var rows: [String] = []
            for b in batches { for r in 0..<b.rowCount { rows.append(TextEncoding.jsonObject(RecordBatch(schema: schema, columns: b.columns, rowCount: b.rowCount), r)) } }
            out = format == .jsonl ? rows.map { $0 + "\n" }.joined() : "[" + rows.joined(separator: ",\n ") + "]\n"
        case .table:
            var cells: [[String]] = [schema.fields.map(\.name), schema.fields.map { $0.type.description }]
            for b in batches {
                for r in 0..<b.rowCount {
                    cells.append(b.columns.indices.map { Columnar.render(b.columns[$0].value(at: r), as: schema.fields[$0].type) ?? "NULL" })
                }
            }
            let widths = schema.fields.indices.map { c in cells.map { $0[c].count }.max() ?? 0 }
            let numeric = schema.fields.map { $0.type.isNumeric }
            func line(_ row: [String]) -> String {
                "│ " + row.enumerated().map { c, s in
                    let pad = String(repeating: " ", count: widths[c] - s.count)
                    return numeric[c] ? pad + s : s + pad
                }.joined(separator: " │ ") + " │\n"
            }
            let rule = { (l: String, m: String, r: String) in l + widths.map { String(repeating: "─", count: $0 + 2) }.joined(separator: m) + r + "\n" }
            out += rule("┌", "┬", "┐") + line(cells[0]) + line(cells[1]) + rule("├", "┼", "┤")
            for row in cells.dropFirst(2) { out += line(row) }
            out += rule("└", "┴", "┘")
            let n = cells.count - 2
            out += "\(n) row\(n == 1 ? "" : "s")\n"
        }
        return out
    }
}
