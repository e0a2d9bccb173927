import ArgumentParser
import Client
import Coordinator
import Foundation
import Logging
import Scheduler
import Wire
import Worker

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coordinator", abstract: "Run the coordinator of a cluster.")

    @Option(help: "nng address to listen on.") var listen = "tcp://0.0.0.0:\(LocalDefaults.port)"
    @Option(help: "Host name workers and clients use to reach this coordinator (informational).") var advertise: String?
    @Option(help: "Directory for the journal.") var dataDir: String
    @Option(help: "File holding the cluster secret (else $SLUICE_SECRET or $SLUICE_SECRET_FILE).") var secretFile: String?
    @Option(help: "Cluster id.") var cluster = env("SLUICE_CLUSTER") ?? LocalDefaults.clusterID
    @Option(help: "Expected heartbeat interval of workers.") var heartbeat = DurationArgument(argument: "1s")!
    @Option(help: "Missed heartbeats before a worker is suspect.") var suspectAfter = 2
    @Option(help: "Silence after which a worker is dead.") var deadAfter = DurationArgument(argument: "5s")!
    @Option(help: "Tasks a worker may hold beyond its slots.") var leaseAhead = 64
    @Option(help: "Freshness window for requests (clock skew allowed).") var freshnessWindow = DurationArgument(argument: "30s")!
    @Flag(help: "fsync the journal on every commit (survive power loss, not only crashes).") var fullSync = false
    @Flag(help: "Honour fault-injection requests (tests only).") var enableFaultHooks = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String?

    func run() throws {
        bootstrapLogging(level: logLevel)
        let secret = try ClusterSecret.resolve(file: secretFile, defaultFile: dataDir + "/secret")
        var config = CoordinatorConfig(listen: listen, dataDir: dataDir, clusterID: cluster, secret: secret)
        config.scheduler.heartbeatInterval = heartbeat.duration.milliseconds
        config.scheduler.suspectAfterMissed = suspectAfter
        config.scheduler.deadAfter = deadAfter.duration.milliseconds
        config.scheduler.leaseAhead = leaseAhead
        config.freshnessWindowMs = freshnessWindow.duration.milliseconds
        config.fullSync = fullSync
        config.faultHooks = enableFaultHooks
        let coordinator = try Coordinator(config: config, logger: Logger(label: "sluice.coordinator"))
        let signals = onTermination { _ in coordinator.stop() }
        // The signal sources must outlive the loop (an optimized build would release them early).
        try withExtendedLifetime(signals) { try coordinator.run() }
    }
}

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run a worker that joins a coordinator.")

    @Option(help: "Coordinator address.") var coordinator = env("SLUICE_COORDINATOR") ?? LocalDefaults.coordinator
    @Option(help: "Host name or address others reach this worker at.") var advertise: String?
    @Option(help: "Where the worker's own service socket listens (port 0: any free port).") var listen = "tcp://0.0.0.0:0"
    @Option(help: "Task slots (default: number of cores).") var slots = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Directory for logs and the worker id.") var dataDir: String
    @Option(help: "File holding the cluster secret (else $SLUICE_SECRET or $SLUICE_SECRET_FILE).") var secretFile: String?
    @Option(help: "Cluster id.") var cluster = env("SLUICE_CLUSTER") ?? LocalDefaults.clusterID
    @Option(name: .customLong("label"), help: "A label KEY=VALUE (repeatable).") var labels: [String] = []
    @Flag(help: "Run command tasks (off by default).") var allowCommands = false
    @Option(help: "Run commands as this user (needs root).") var runAs: String?
    @Option(help: "Heartbeat interval.") var heartbeat = DurationArgument(argument: "1s")!
    @Option(help: "Tasks held beyond the free slots.") var leaseAhead = 64
    @Option(help: "How long SIGTERM waits for running tasks.") var drainTimeout = DurationArgument(argument: "30s")!
    @Option(help: "Worker id (default: kept in the data dir).") var id: String?
    @Option(help: "Log level.") var logLevel: String?

    func validate() throws {
        guard slots >= 1 else { throw ValidationError("--slots must be at least 1") }
    }

    func run() throws {
        bootstrapLogging(level: logLevel)
        let secret = try ClusterSecret.resolve(file: secretFile, defaultFile: LocalDefaults.secretFile)
        let advertised = advertise ?? host(of: listen).flatMap { $0 == "0.0.0.0" || $0 == "*" ? nil : $0 } ?? ProcessInfo.processInfo.hostName
        var config = WorkerConfig(coordinator: coordinator, dataDir: dataDir, clusterID: cluster, secret: secret, advertiseHost: advertised)
        config.serviceListen = listen
        config.slots = slots
        config.allowCommands = allowCommands
        config.runAs = runAs
        config.heartbeatInterval = heartbeat.duration
        config.leaseAhead = leaseAhead
        config.drainTimeout = drainTimeout.duration
        config.workerID = id
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
