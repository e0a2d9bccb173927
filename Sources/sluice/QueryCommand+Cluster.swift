import ArgumentParser
import Client
import Columnar
import Foundation
import Execution
import Wire

extension QueryCommand {
    /// Sends the script to the coordinator and prints each statement's rows as
    /// the chunks arrive (CSV and JSON Lines as they come; a table once its
    /// widths are known). Ctrl-C cancels the query on the cluster.
    func runOnCluster(_ text: String) -> Never {
        let client: ClusterClient
        let id: String
        do {
            client = try cluster.client()
            let tableArgs = try tables.map { t -> TableArg in
                guard let eq = t.firstIndex(of: "="), eq != t.startIndex else { throw ValidationError("--table wants NAME=GLOB, not \(t)") }
                // Paths are the coordinator's and the workers': make a relative one absolute here, where it was meant.
                var pattern = String(t[t.index(after: eq)...])
                if !pattern.hasPrefix("/") { pattern = FileManager.default.currentDirectoryPath + "/" + pattern }
                return TableArg(name: String(t[..<eq]), pattern: pattern)
            }
            let request = SubmitQuery(submissionID: UUID().uuidString, sql: text, tables: tableArgs,
                                      partitions: UInt32(try partitions?.value("--partitions", in: 1...100_000) ?? 0),
                                      timeoutMs: UInt32(clamping: try timeout?.value("--timeout", in: 1...DurationArgument.sevenDays) ?? 0))
            id = try client.call(request, timeout: .seconds(30)).queryID
        } catch let e as ValidationError {
            fail("\(e)")
        } catch {
            // No cluster to be had: the one-process engine needs none.
            fail("\(error) (or run it in this process with --local)")
        }
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler {
            _ = try? client.call(CancelJob(jobID: id), timeout: .seconds(5))
            FileHandle.standardError.write(Data("\nQuery cancelled\n".utf8))
            Foundation.exit(130)
        }
        interrupt.resume()
        let progress = ProgressLine(enabled: !noProgress && isatty(STDERR_FILENO) == 1)
        var printer = StatementPrinter(format: format)
        var sequence: UInt64 = 0
        while true {
            let chunk: ResultChunk
            do {
                chunk = try client.call(FetchResult(queryID: id, sequence: sequence, waitMs: 1000), timeout: .seconds(15))
            } catch {
                progress.clear()
                fail("\(error)")
            }
            progress.show(chunk.progress)
            if chunk.pending { continue }
            sequence += 1
            do {
                if !chunk.schema.isEmpty {
                    var o = 0
                    printer.start(try BatchCodec.decode(chunk.schema, offset: &o).schema)
                }
                if !chunk.batches.isEmpty {
                    progress.clear()
                    printer.add(try BatchCodec.decodeAll(chunk.batches))
                }
            } catch {
                progress.clear()
                fail("the coordinator sent a result that does not decode: \(error)")
            }
            if chunk.statementDone {
                progress.clear()
                printer.finish()
                if QueryCommand.countsRows(chunk.message) {
                    FileHandle.standardError.write(Data((chunk.message + "\n").utf8))
                }
            }
            if chunk.done {
                progress.clear()
                printer.finish()
                if !chunk.error.isEmpty { fail(chunk.error) }
                withExtendedLifetime(interrupt) {}
                Foundation.exit(0)
            }
        }
    }
}

/// Prints one statement's rows at a time: streamed for CSV and JSON Lines,
/// collected for a table (its column widths) and a JSON array.
struct StatementPrinter {
    let format: QueryCommand.OutputFormat
    private var schema: Schema?
    private var held: [RecordBatch] = []
    private var headerDone = false

    init(format: QueryCommand.OutputFormat) { self.format = format }

    mutating func start(_ s: Schema) {
        finish()
        schema = s
        headerDone = false
    }

    mutating func add(_ batches: [RecordBatch]) {
        guard let schema else { return }
        switch format {
        case .csv:
            let writer = CSVWriter()
            var bytes: [UInt8] = []
            if !headerDone { writer.header(schema, into: &bytes); headerDone = true }
            for b in batches { writer.append(RecordBatch(schema: schema, columns: b.columns, rowCount: b.rowCount), into: &bytes) }
            FileHandle.standardOutput.write(Data(bytes))
        case .jsonl:
            let renamed = batches.map { RecordBatch(schema: schema, columns: $0.columns, rowCount: $0.rowCount) }
            FileHandle.standardOutput.write(Data(ResultPrinter.render(schema, renamed, .jsonl).utf8))
        case .table, .json:
            held += batches.map { RecordBatch(schema: schema, columns: $0.columns, rowCount: $0.rowCount) }
        }
    }

    mutating func finish() {
        guard let schema else { return }
        switch format {
        case .csv:
            if !headerDone {
                let writer = CSVWriter()
                var bytes: [UInt8] = []
                writer.header(schema, into: &bytes)
                FileHandle.standardOutput.write(Data(bytes))
            }
        case .jsonl:
            break
        case .table, .json:
            FileHandle.standardOutput.write(Data(ResultPrinter.render(schema, held, format).utf8))
        }
        self.schema = nil
        held = []
    }
}

/// `stages 3/7 done  1.2M rows  48.1 MB  12.4 s` on stderr while a query runs more than a moment.
final class ProgressLine {
    let enabled: Bool
    private var shown = false
    init(enabled: Bool) { self.enabled = enabled }

    func show(_ p: QueryProgress) {
        guard enabled, p.elapsedMs >= 1000, p.stages > 0 else { return }
        let line = "\r  stages \(p.stagesDone)/\(p.stages) done  \(Self.count(p.rows)) rows  "
            + String(format: "%.1f MB written  %.1f s ", Double(p.bytes) / 1e6, Double(p.elapsedMs) / 1000)
        FileHandle.standardError.write(Data(line.utf8))
        shown = true
    }

    /// 1234 -> "1234", 1234567 -> "1.2M".
    static func count(_ n: UInt64) -> String {
        n >= 1_000_000_000 ? String(format: "%.1fG", Double(n) / 1e9) : n >= 1_000_000 ? String(format: "%.1fM", Double(n) / 1e6) : "\(n)"
    }

    func clear() {
        guard shown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        shown = false
    }
}
