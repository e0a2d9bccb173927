import ArgumentParser
import Client
import Foundation
import Pipelines
import Transport
import Wire

/// `sluice pipeline ...`: pipelines of SQL models, defined in YAML files.
struct PipelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline", abstract: "Pipelines of SQL models defined in YAML files: check, run, deploy on a schedule, and inspect runs.",
        subcommands: [Validate.self, Run.self, Deploy.self, List.self, Runs.self, Show.self, Cancel.self])

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a pipeline file without running it: YAML, each model's SQL, references, cycles, parameters, outputs' schemas.",
            discussion: """
                Every problem is printed as FILE:LINE:COLUMN: message; the exit status is 1 if there is any. When a coordinator answers \
                (--coordinator, $SLUICE_COORDINATOR, else the local cluster's), the outputs are also checked against the datasets of its catalog.
                """)
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The pipeline file (YAML).") var file: String
        @Option(name: .customLong("param"), help: "A parameter's value, NAME=VALUE (repeatable); checked against its type.")
        var params: [String] = []
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let valid: ValidPipeline
            do {
                valid = try PipelineValidator.validate(try PipelineFile.load(file).pipeline, file: file)
                if !params.isEmpty { _ = try valid.values(try PipelineCommand.parse(params), file: file) }
            } catch let e as PipelineErrors {
                throw PipelineCommand.report(e.all)
            } catch let e as PipelineError {
                throw PipelineCommand.report([e])
            }
            let p = valid.pipeline
            // The outputs against the catalog, when there is a coordinator to ask.
            var catalogNote = "no coordinator answers at \(cluster.address): outputs not checked against a catalog"
            if Reachability.probe(cluster.address) == .answers {
                let request = try PipelineCommand.request(.validatePipeline, file: file, params: params)
                do {
                    catalogNote = try cluster.client().call(request, timeout: .seconds(60)).message + " at \(cluster.address)"
                } catch {
                    FileHandle.standardError.write(Data("\(error)\n".utf8))
                    throw ExitCode(1)
                }
            }
            if json {
                let out: [String: Any] = [
                    "pipeline": p.name, "valid": true, "order": valid.graph.order,
                    "models": p.models.map { m in
                        ["name": m.name, "upstream": valid.graph.upstream[m.name] ?? [], "sources": valid.graph.sources[m.name] ?? [],
                         "output": m.output?.dataset ?? NSNull(), "params": valid.uses[m.name] ?? []] as [String: Any]
                    },
                    "params": p.params.map { ["name": $0.name, "type": $0.kind.rawValue, "default": $0.defaultValue?.description ?? NSNull()] as [String: Any] },
                    "schedule": p.schedule.map { "\($0.cron) \($0.timezone)" } ?? NSNull(),
                    "catalog": catalogNote,
                ]
                print(String(decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys]), as: UTF8.self))
                return
            }
            print("\(file): pipeline \(p.name) is valid: \(p.models.count) models, \(p.sources.count) sources")
            for m in valid.graph.order {
                let reads = (valid.graph.upstream[m] ?? []) + (valid.graph.sources[m] ?? [])
                let output = valid.pipeline.model(m)?.output.map { o in
                    " → \(o.dataset)" + (o.partition.isEmpty ? "" : " (\(o.partition.map { "\($0.column)=\($0.value)" }.joined(separator: ", ")))") + " [\(o.mode.rawValue)]"
                } ?? " (staging)"
                print("  \(m)" + (reads.isEmpty ? "" : " ← \(reads.joined(separator: ", "))") + output)
            }
            if let s = p.schedule { print("  schedule: \(s.cron) \(s.timezone)" + (p.catchup ? ", catchup" : "")) }
            print("  \(catalogNote)")
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a pipeline once on the cluster: its models in dependency order, each output committed atomically.",
            discussion: "Running the same parameters again replaces the partitions they wrote and nothing else.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The pipeline file (YAML).") var file: String
        @Option(name: .customLong("param"), help: "A parameter's value, NAME=VALUE (repeatable).") var params: [String] = []
        @Flag(help: "Wait for the run to end; exit 1 if it failed.") var wait = false
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let request = try PipelineCommand.request(.runPipeline, file: file, params: params)
            let reply = try cluster.client().call(request, timeout: .seconds(30))
            guard var run = reply.runs.first else { throw ValidationError("the coordinator answered without the run") }
            if !json { FileHandle.standardError.write(Data("run \(run.id) of \(run.pipeline) started (version \(run.version))\n".utf8)) }
            if wait { run = try PipelineCommand.waitForRun(run.id, cluster: cluster) }
            if json { try printJSON(run) } else { print(PipelineCommand.render(run), terminator: "") }
            if wait && run.state != "succeeded" { throw ExitCode(1) }
        }
    }

    struct Deploy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a pipeline with the coordinator; one with a schedule then runs by itself.",
            discussion: "A scheduled run covers the interval that just ended: its date is that interval's start. Missed intervals run only with `catchup: true`.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The pipeline file (YAML).") var file: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let reply = try cluster.client().call(try PipelineCommand.request(.deployPipeline, file: file, params: []), timeout: .seconds(30))
            if json { return try printJSON(reply.pipelines) }
            for p in reply.pipelines {
                print("deployed \(p.name) version \(p.version)" + (p.schedule.isEmpty ? " (no schedule)" : "; schedule \(p.schedule), next run \(time(p.nextRunMs))"))
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deployed pipelines, their schedules, and backfills.")
        @OptionGroup var cluster: ClusterOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let reply = try cluster.client().call(PipelineRequest(action: .listPipelines))
            if json { return try printJSON(reply) }
            var t = Table("PIPELINE", "VERSION", "SCHEDULE", "NEXT RUN")
            for p in reply.pipelines { t.add(p.name, p.version, p.schedule.isEmpty ? "-" : p.schedule, p.nextRunMs == 0 ? "-" : time(p.nextRunMs)) }
            print(t.render())
            if !reply.backfills.isEmpty { print(""); print(BackfillCommand.table(reply.backfills)) }
        }
    }

    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pipeline runs, newest first.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "Only this pipeline's runs.") var name: String?
        @Option(help: "At most this many.") var limit: UInt32 = 50
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let reply = try cluster.client().call(PipelineRequest(action: .listRuns, name: name ?? "", limit: limit))
            if json { return try printJSON(reply.runs) }
            var t = Table("RUN", "PIPELINE", "PARAMS", "LANE", "STATE", "STARTED", "DURATION", "ROWS", "QUARANTINED", "VERSION")
            for r in reply.runs {
                t.add("\(r.id)", r.pipeline, PipelineCommand.params(r.params), r.lane, r.state + (r.slaMissed ? " (SLA missed)" : ""),
                      time(r.startedMs), PipelineCommand.took(r.startedMs, r.endedMs), "\(r.models.reduce(0) { $0 + $1.rows })",
                      "\(r.models.reduce(0) { $0 + $1.quarantined })", r.version)
            }
            print(t.render())
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One run: its models, their state, durations, rows, quarantined rows and errors.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The run's id.") var id: Int64
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let reply = try cluster.client().call(PipelineRequest(action: .showRun, id: id))
            guard let r = reply.runs.first else { throw ValidationError("no run \(id)") }
            if json { try printJSON(r) } else { print(PipelineCommand.render(r), terminator: "") }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a run: its running models stop, the rest do not start.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The run's id.") var id: Int64

        func run() throws {
            let reply = try cluster.client().call(PipelineRequest(action: .cancelRun, id: id))
            print("run \(id): \(reply.runs.first?.state ?? "cancelled")")
        }
    }

    /// A request carrying a pipeline file and parameters; the file is checked here first.
    static func request(_ action: Wire.PipelineAction, file: String, params: [String]) throws -> PipelineRequest {
        let text: String
        do {
            let loaded = try PipelineFile.load(file)
            let valid = try PipelineValidator.validate(loaded.pipeline, file: file)
            if !params.isEmpty || action == .runPipeline { _ = try valid.values(try parse(params), file: file) }
            text = loaded.text
        } catch let e as PipelineErrors {
            throw report(e.all)
        } catch let e as PipelineError {
            throw report([e])
        }
        return PipelineRequest(action: action, fileName: (file as NSString).lastPathComponent, fileText: text,
                               params: try parse(params).sorted { $0.key < $1.key }.map { Label(key: $0.key, value: $0.value) })
    }

    static func waitForRun(_ id: Int64, cluster: ClusterOptions) throws -> RunInfo {
        let client = try cluster.client()
        while true {
            let reply = try client.call(PipelineRequest(action: .showRun, id: id))
            if let r = reply.runs.first, r.state != "running" { return r }
            Thread.sleep(forTimeInterval: 0.5)
        }
    }

    static func render(_ r: RunInfo) -> String {
        var out = "run \(r.id) of \(r.pipeline) (\(params(r.params))): \(r.state)" + (r.slaMissed ? ", SLA missed" : "")
            + ", \(r.lane), version \(r.version), took \(took(r.startedMs, r.endedMs))\n"
        if !r.error.isEmpty { out += "error: \(r.error)\n" }
        var t = Table("MODEL", "STATE", "ATTEMPTS", "DURATION", "ROWS", "QUARANTINED", "OUTPUT", "ERROR")
        for m in r.models {
            t.add(m.name, m.state, "\(m.attempts)", m.startedMs == 0 ? "-" : took(m.startedMs, m.endedMs), "\(m.rows)", "\(m.quarantined)",
                  m.output.isEmpty ? "(staging)" : m.output, m.error.split(separator: "\n").first.map(String.init) ?? "")
        }
        return out + t.render() + "\n"
    }

    static func params(_ p: [Label]) -> String { p.isEmpty ? "-" : p.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }

    static func took(_ start: Int64, _ end: Int64) -> String {
        let ms = (end == 0 ? Date().unixMilliseconds : end) - start
        return ms < 10_000 ? String(format: "%.1fs", Double(ms) / 1000) : duration(ms)
    }

    /// `NAME=VALUE` pairs.
    static func parse(_ params: [String]) throws(PipelineError) -> [String: String] {
        var out: [String: String] = [:]
        for p in params {
            guard let eq = p.firstIndex(of: "="), eq != p.startIndex else {
                throw PipelineError(file: "--param", nil, "'\(p)' is not NAME=VALUE")
            }
            out[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }
        return out
    }

    /// Prints each problem on a line of stderr; the command then exits 1.
    static func report(_ errors: [PipelineError]) -> ExitCode {
        for e in errors { FileHandle.standardError.write(Data("\(e)\n".utf8)) }
        return ExitCode(1)
    }
}

/// `sluice backfill ...`: one pipeline run per partition value, many at once, as a durable object of its own.
struct BackfillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill", abstract: "Run a pipeline over a range of dates: start, watch and cancel backfills.",
        subcommands: [Start.self, Status.self, Cancel.self])

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a backfill: one run per date from --from to --to, in the cluster's low-priority lane.",
            discussion: "It survives a coordinator restart and goes on where it was. --reprocess none skips dates already written by a run of the pipeline; failed reruns only the failures; all reruns everything.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The pipeline file (YAML).") var file: String
        @Option(help: "The first date, YYYY-MM-DD.") var from: String
        @Option(help: "The last date (included).") var to: String
        @Option(help: "Between dates: 1d, 7d, 2w, 1mo.") var step = "1d"
        @Option(name: .customLong("max-active-runs"), help: "Runs at once.") var maxActiveRuns: UInt32 = 4
        @Option(help: "none, failed or all.") var reprocess = "none"
        @Flag(help: "Newest date first.") var backwards = false
        @Option(name: .customLong("param"), help: "Another parameter's value, NAME=VALUE (repeatable).") var params: [String] = []
        @Flag(help: "Wait for the end, with a progress bar; exit 1 if any run failed.") var wait = false
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard Reprocess(rawValue: reprocess) != nil else { throw ValidationError("--reprocess is none, failed or all, not \(reprocess)") }
            guard maxActiveRuns >= 1 else { throw ValidationError("--max-active-runs is at least 1") }
            do { _ = try BackfillRange.dates(from: from, to: to, step: step, backwards: backwards) } catch { throw ValidationError(error.message) }
            var request = try PipelineCommand.request(.startBackfill, file: file, params: params)
            request.from = from
            request.to = to
            request.step = step
            request.maxActiveRuns = maxActiveRuns
            request.reprocess = reprocess
            request.backwards = backwards
            let reply = try cluster.client().call(request, timeout: .seconds(30))
            guard var b = reply.backfills.first else { throw ValidationError("the coordinator answered without the backfill") }
            if !json {
                FileHandle.standardError.write(Data("backfill \(b.id) of \(b.pipeline) started: \(b.partitions) partitions, \(b.skipped) already written\n".utf8))
            }
            if wait { b = try BackfillCommand.wait(b.id, cluster: cluster, json: json) }
            if json { try printJSON(b) } else { print(BackfillCommand.table([b])) }
            if wait && b.state != "succeeded" { throw ExitCode(1) }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A backfill's progress: runs done, running, failed and pending, rows, time left.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The backfill's id.") var id: Int64
        @Flag(help: "Wait for the end, with a progress bar.") var wait = false
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            var b = try BackfillCommand.show(id, cluster: cluster)
            if wait { b = try BackfillCommand.wait(id, cluster: cluster, json: json) }
            if json { return try printJSON(b) }
            print(BackfillCommand.table([b]))
            if !b.failedValues.isEmpty { print("failed: \(b.failedValues.joined(separator: ", "))") }
            if !b.reason.isEmpty { print("reason: \(b.reason)") }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a backfill: its running runs stop and no more start. What was committed stays.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The backfill's id.") var id: Int64

        func run() throws {
            let reply = try cluster.client().call(PipelineRequest(action: .cancelBackfill, id: id))
            print("backfill \(id): \(reply.backfills.first?.state ?? "cancelled")")
        }
    }

    static func show(_ id: Int64, cluster: ClusterOptions) throws -> BackfillInfo {
        guard let b = try cluster.client().call(PipelineRequest(action: .showBackfill, id: id)).backfills.first else { throw ValidationError("no backfill \(id)") }
        return b
    }

    /// Polls until the backfill ends, drawing a progress bar on a terminal.
    static func wait(_ id: Int64, cluster: ClusterOptions, json: Bool) throws -> BackfillInfo {
        let client = try cluster.client()
        let bar = !json && isatty(STDERR_FILENO) == 1
        while true {
            guard let b = try client.call(PipelineRequest(action: .showBackfill, id: id)).backfills.first else { throw ValidationError("no backfill \(id)") }
            if bar {
                let total = max(1, Int(b.partitions))
                let finished = Int(b.done + b.failed + b.skipped)
                let width = 30, filled = width * finished / total
                let line = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
                    + "\(finished)/\(total) done, \(b.running) running, \(b.failed) failed" + (b.etaMs > 0 ? ", about \(duration(b.etaMs)) left" : "")
                FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
            }
            if b.state != "running" {
                if bar { FileHandle.standardError.write(Data("\n".utf8)) }
                return b
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
    }

    static func table(_ list: [BackfillInfo]) -> String {
        var t = Table("BACKFILL", "PIPELINE", "STATE", "PARTITIONS", "DONE", "RUNNING", "FAILED", "PENDING", "SKIPPED", "ROWS", "ETA")
        for b in list {
            t.add("\(b.id)", b.pipeline, b.state, "\(b.partitions)", "\(b.done)", "\(b.running)", "\(b.failed)", "\(b.pending)", "\(b.skipped)", "\(b.rows)",
                  b.etaMs < 0 ? "-" : duration(b.etaMs))
        }
        return t.render()
    }
}
