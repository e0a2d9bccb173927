import ArgumentParser
import Client
import Coordinator
import Foundation
import Logging
import Scheduler
import Transport
import Wire
import Worker

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coordinator", abstract: "Run the coordinator of a cluster.")

    @Option(help: "nng address to listen on (host:port means tcp://host:port).") var listen = "tcp://0.0.0.0:\(LocalDefaults.port)"
    @Option(help: "Host name workers and clients use to reach this coordinator (informational).") var advertise: String?
    @Option(help: "Directory for the journal (one coordinator per directory).") var dataDir: String
    @Option(help: "File holding the cluster secret (else $SLUICE_SECRET or $SLUICE_SECRET_FILE).") var secretFile: String?
    @Option(help: "Cluster id.") var cluster = env("SLUICE_CLUSTER") ?? LocalDefaults.clusterID
    @Option(parsing: .unconditional, help: "Expected heartbeat interval of workers (10ms...1h).") var heartbeat = DurationArgument("1s")
    @Option(parsing: .unconditional, help: "Missed heartbeats before a worker is suspect (1...1000).") var suspectAfter = Number(2)
    @Option(parsing: .unconditional, help: "Silence after which a worker is dead (100ms...1d).") var deadAfter = DurationArgument("5s")
    @Option(parsing: .unconditional, help: "Tasks a worker may hold beyond its slots (0...10000).") var leaseAhead = Number(1024)
    @Option(parsing: .unconditional, help: "Freshness window for requests, the clock skew allowed (1s...1d).") var freshnessWindow = DurationArgument("30s")
    @Option(parsing: .unconditional, help: "How long a finished job stays in memory; later it is read from the journal (0s...30d).")
    var keepFinished = DurationArgument("60s")
    @Option(parsing: .unconditional, help: "How long finished jobs stay in the journal, and their task logs on the workers (1s...3650d).")
    var retain = DurationArgument("30d")
    @Option(parsing: .unconditional, help: "How long `status` shows a worker after it died or left (0s...30d).")
    var showDeadFor = DurationArgument("5m")
    @Flag(help: "fsync the journal on every commit (survive power loss, not only crashes).") var fullSync = false
    @Flag(help: "Honour fault-injection requests (tests only).") var enableFaultHooks = false
    @Option(name: .customLong("sql-root"), help: "A directory queries on the cluster may read and write, with what is below it (repeatable; default: the data dir alone).")
    var sqlRoots: [String] = []
    @Option(help: "Where CREATE TABLE AS writes new datasets, on a file system every worker sees at the same path (default: warehouse/ in the data dir).")
    var warehouse: String?
    @Option(parsing: .unconditional, help: "How long files a dataset write replaced stay for the queries that listed them before (0s...1d).")
    var replacedFilesGrace = DurationArgument("60s")
    @Option(help: ArgumentHelp("Serve /healthz, /readyz, /metrics and /api/status over HTTP here (a bare port binds 127.0.0.1; off when not given).",
                               valueName: "ADDR")) var http: String?
    @Option(help: ArgumentHelp("File holding a token every HTTP path but /healthz requires (Authorization: Bearer TOKEN).", valueName: "FILE"))
    var httpTokenFile: String?
    @Option(help: ArgumentHelp("Alert rules (YAML): when to notify a webhook or the log (see docs/operations.md).", valueName: "FILE"))
    var alerts: String?
    @Option(help: ArgumentHelp("Add and release workers by queue depth (YAML: min, max, windows, a provider; see docs/runtime.md).", valueName: "FILE"))
    var autoscale: String?
    @Flag(help: "With --autoscale: journal and show every decision, start and stop nothing (as `dry_run: true` in the file).")
    var autoscaleDryRun = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String?

    func validate() throws {
        if httpTokenFile != nil && http == nil { throw ValidationError("--http-token-file needs --http") }
        _ = try heartbeat.value("--heartbeat", in: 10...3_600_000)
        _ = try suspectAfter.value("--suspect-after", in: 1...1000)
        _ = try deadAfter.value("--dead-after", in: 100...86_400_000)
        _ = try leaseAhead.value("--lease-ahead", in: 0...10_000)
        _ = try freshnessWindow.value("--freshness-window", in: 1000...86_400_000)
        _ = try keepFinished.value("--keep-finished", in: 0...30 * 86_400_000)
        _ = try retain.value("--retain", in: 1000...3650 * 86_400_000)
        _ = try replacedFilesGrace.value("--replaced-files-grace", in: 0...86_400_000)
        _ = try showDeadFor.value("--show-dead-for", in: 0...30 * 86_400_000)
    }

    func run() throws {
        bootstrapLogging(level: logLevel)
        var rules: [AlertRule] = []
        if let alerts {
            do { rules = try AlertRules.load(alerts) } catch { throw ValidationError("\(error)") }
        }
        let secret = try ClusterSecret.resolve(file: secretFile, defaultFile: dataDir + "/secret")
        var config = CoordinatorConfig(listen: NNGAddress.normalize(listen), dataDir: dataDir, clusterID: cluster, secret: secret)
        config.scheduler.heartbeatInterval = try heartbeat.value("--heartbeat", in: 10...3_600_000)
        config.scheduler.suspectAfterMissed = try suspectAfter.value("--suspect-after", in: 1...1000)
        config.scheduler.deadAfter = try deadAfter.value("--dead-after", in: 100...86_400_000)
        config.scheduler.leaseAhead = try leaseAhead.value("--lease-ahead", in: 0...10_000)
        config.scheduler.keepFinished = try keepFinished.value("--keep-finished", in: 0...30 * 86_400_000)
        config.freshnessWindowMs = try freshnessWindow.value("--freshness-window", in: 1000...86_400_000)
        config.retainMs = try retain.value("--retain", in: 1000...3650 * 86_400_000)
        config.scheduler.forgetWorkersAfter = try showDeadFor.value("--show-dead-for", in: 0...30 * 86_400_000)
        config.fullSync = fullSync
        config.faultHooks = enableFaultHooks
        config.sqlRoots = sqlRoots.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        if let warehouse { config.warehouse = URL(fileURLWithPath: warehouse).standardizedFileURL.path }
        config.replacedFilesGraceMs = try replacedFilesGrace.value("--replaced-files-grace", in: 0...86_400_000)
        config.httpListen = http
        config.httpToken = try httpTokenFile.map(readToken)
        config.alertRules = rules
        if let autoscale {
            do { config.autoscale = try AutoscaleConfig.load(autoscale) } catch { throw ValidationError("\(error)") }
            if autoscaleDryRun { config.autoscale?.dryRun = true }
        } else if autoscaleDryRun {
            throw ValidationError("--autoscale-dry-run goes with --autoscale FILE")
        }
        config.secretFile = secretFile ?? env("SLUICE_SECRET_FILE") ?? (env("SLUICE_SECRET") == nil ? dataDir + "/secret" : nil)

        let coordinator = try Coordinator(config: config, logger: Logger(label: "sluice.coordinator"))
        let signals = onTermination { _ in coordinator.stop() }
        // The signal sources must outlive the loop (an optimized build would release them early).
        try withExtendedLifetime(signals) { try coordinator.run() }
    }
}

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run a worker that joins a coordinator.")

    @Option(help: "Coordinator address (host:port means tcp://host:port).") var coordinator = env("SLUICE_COORDINATOR") ?? LocalDefaults.coordinator
    @Option(help: "Host name or address others reach this worker at.") var advertise: String?
    @Option(help: "Where the worker's own service socket listens (port 0: any free port).") var listen = "tcp://0.0.0.0:0"
    @Option(help: "Where the worker serves shuffle blocks (default: the service port + 1; any free port when that is 0).")
    var dataListen = env("SLUICE_WORKER_DATA_LISTEN")
    @Option(parsing: .unconditional, help: ArgumentHelp("Shuffle output kept in memory before it goes to files in the data dir, out of the memory limit (default: a quarter of it, at most 1GiB; at most half).", valueName: "SIZE"))
    var shuffleMemory: ByteSize?
    @Option(parsing: .unconditional, help: "Threads a SQL task runs on, 1...256.") var threadsPerTask = Number(1)
    @Option(parsing: .unconditional, help: ArgumentHelp("The worker's memory: shuffle output it keeps, and SQL tasks, split between the slots (default 80% of RAM); beyond its share a task spills.",
                                                        valueName: "SIZE"))
    var memoryLimit: ByteSize?
    @Option(help: ArgumentHelp("Where SQL tasks spill (default: DATA_DIR/spill).", valueName: "DIR")) var tempDir: String?
    @Option(parsing: .unconditional, help: "Task slots, 1...10000 (default: number of cores).") var slots = Number(ProcessInfo.processInfo.activeProcessorCount)
    @Option(help: "Directory for logs and the worker id (one worker per directory).") var dataDir: String
    @Option(help: "File holding the cluster secret (else $SLUICE_SECRET or $SLUICE_SECRET_FILE).") var secretFile: String?
    @Option(help: "Cluster id.") var cluster = env("SLUICE_CLUSTER") ?? LocalDefaults.clusterID
    @Option(name: .customLong("label"), help: "A label KEY=VALUE (repeatable).") var labels: [String] = []
    @Flag(help: "Run command tasks (off by default).") var allowCommands = false
    @Option(help: "Run commands as this user (needs root).") var runAs: String?
    @Option(parsing: .unconditional, help: "Heartbeat interval (10ms...1h).") var heartbeat = DurationArgument("1s")
    @Option(parsing: .unconditional, help: "Most tasks held beyond the free slots (0...10000); how many follows the tasks' durations (100 ms of work).") var leaseAhead = Number(1024)
    @Option(parsing: .unconditional, help: "How long SIGTERM waits for running tasks (0s...7d).") var drainTimeout = DurationArgument("30s")
    @Option(parsing: .unconditional, help: "Drain and exit when the coordinator has not answered for this long (1s...7d; default: never). Autoscaled local workers use 2m.")
    var orphanTimeout: DurationArgument?
    @Option(help: "Worker id (default: kept in the data dir).") var id: String?
    @Option(help: "Log level.") var logLevel: String?

    func validate() throws {
        _ = try slots.value("--slots", in: 1...10_000)
        _ = try heartbeat.value("--heartbeat", in: 10...3_600_000)
        _ = try leaseAhead.value("--lease-ahead", in: 0...10_000)
        _ = try drainTimeout.value("--drain-timeout", in: 0...DurationArgument.sevenDays)
        _ = try orphanTimeout?.value("--orphan-timeout", in: 1000...DurationArgument.sevenDays)
        _ = try shuffleMemory?.value("--shuffle-memory", in: 0...(1 << 50))
        _ = try threadsPerTask.value("--threads-per-task", in: 1...256)
        _ = try memoryLimit?.value("--memory-limit", in: (1 << 20)...Int.max)
    }

    func run() throws {
        bootstrapLogging(level: logLevel)
        let secret = try ClusterSecret.resolve(file: secretFile, defaultFile: LocalDefaults.secretFile)
        let listenAddress = NNGAddress.normalize(listen)
        let advertised = advertise ?? host(of: listenAddress).flatMap { $0 == "0.0.0.0" || $0 == "*" ? nil : $0 } ?? ProcessInfo.processInfo.hostName
        var config = WorkerConfig(coordinator: NNGAddress.normalize(coordinator), dataDir: dataDir, clusterID: cluster, secret: secret,
                                  advertiseHost: advertised)
        config.serviceListen = listenAddress
        config.slots = try slots.value("--slots", in: 1...10_000)
        config.allowCommands = allowCommands
        config.runAs = runAs
        config.heartbeatInterval = .milliseconds(try heartbeat.value("--heartbeat", in: 10...3_600_000))
        config.leaseAhead = try leaseAhead.value("--lease-ahead", in: 0...10_000)
        config.drainTimeout = .milliseconds(try drainTimeout.value("--drain-timeout", in: 0...DurationArgument.sevenDays))
        if let orphanTimeout { config.orphanTimeout = .milliseconds(try orphanTimeout.value("--orphan-timeout", in: 1000...DurationArgument.sevenDays)) }
        config.workerID = id
        config.dataListen = dataListen.map(NNGAddress.normalize)
        config.shuffleMemory = try shuffleMemory?.value("--shuffle-memory", in: 0...(1 << 50))
        config.threadsPerTask = try threadsPerTask.value("--threads-per-task", in: 1...256)
        if let memoryLimit { config.memoryLimit = try memoryLimit.value("--memory-limit", in: (1 << 20)...Int.max) }
        config.tempDir = tempDir
        config.labels = try labels.map { l in
            guard let eq = l.firstIndex(of: "=") else { throw ValidationError("--label takes KEY=VALUE, got '\(l)'") }
            return Label(key: String(l[..<eq]), value: String(l[l.index(after: eq)...]))
        }
        let worker = try Worker(config: config, logger: Logger(label: "sluice.worker"))
        let signals = onTermination { sig in
            // First signal drains; a second one stops at once.
            worker.drain()
            if sig == SIGINT { signal(SIGINT, SIG_DFL) }
        }
        worker.start()
        withExtendedLifetime(signals) { worker.wait() }
    }
}

/// The first line of a token file, which must not be empty.
func readToken(_ path: String) throws -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read the token file \(path)") }
    let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    guard !token.isEmpty else { throw ValidationError("the token file \(path) is empty") }
    return token
}
