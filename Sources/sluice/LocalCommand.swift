import ArgumentParser
import Client
import Foundation
import Synchronization
import Wire

struct LocalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local",
        abstract: "Run a local cluster: a coordinator and N supervised worker processes on loopback.",
        discussion: """
            Without a subcommand it runs until Ctrl-C. With one (after --), it runs that sluice
            subcommand against the cluster, stops the cluster, and exits with the subcommand's status:
              sluice local --workers 2 -- submit --tasks 4 --wait --command -- echo hello
            """)

    @Option(help: "Worker processes.") var workers = 2
    @Option(help: "Slots per worker (default: cores / workers, at least 1).") var slots: Int?
    @Option(help: "Coordinator port on 127.0.0.1.") var port = LocalDefaults.port
    @Option(help: "Directory for the cluster's secret, journal, logs and worker data.") var dataDir = LocalDefaults.dataDir
    @Argument(parsing: .postTerminator, help: "A sluice subcommand to run against the cluster.") var subcommand: [String] = []

    func validate() throws {
        if workers < 1 { throw ValidationError("--workers must be at least 1") }
    }

    func run() throws {
        let secretFile = dataDir + "/secret"
        _ = try ClusterSecret.loadOrCreate(file: secretFile)
        let address = "tcp://127.0.0.1:\(port)"
        let logDir = dataDir + "/logs"
        try FileManager.default.createDirectory(atPath: logDir, withIntermediateDirectories: true)
        let perWorker = slots ?? max(1, ProcessInfo.processInfo.activeProcessorCount / workers)
        let common = ["--secret-file", secretFile]

        var specs: [(name: String, args: [String])] = [
            ("coordinator", ["coordinator", "--listen", address, "--data-dir", dataDir + "/coordinator"] + common),
        ]
        for i in 1...workers {
            specs.append(("worker-\(i)", ["worker", "--coordinator", address, "--listen", "tcp://127.0.0.1:0", "--advertise", "127.0.0.1",
                                          "--data-dir", dataDir + "/worker-\(i)", "--slots", "\(perWorker)", "--id", "local-\(i)",
                                          "--allow-commands"] + common))
        }
        let supervisor = Supervisor(executable: selfExecutable(), logDir: logDir, specs: specs)
        let signals = onTermination { _ in supervisor.requestStop() }
        supervisor.start()
        FileHandle.standardError.write(Data("sluice local: coordinator at \(address), \(workers) workers × \(perWorker) slots; logs in \(logDir)\n".utf8))

        let client = try ClusterClient(coordinator: address, clusterID: LocalDefaults.clusterID, secret: try ClusterSecret(file: secretFile))
        let ready = waitForWorkers(client, count: workers, supervisor: supervisor)
        if !ready, supervisor.stopRequested {
            // Stopped (SIGTERM, Ctrl-C) before it saw every worker up: a clean stop, not a failure.
            supervisor.stopAll()
            withExtendedLifetime(signals) {}
            return
        }
        guard ready else {
            supervisor.stopAll()
            throw ClientError("the local cluster did not come up within 30 s; see the logs in \(logDir)")
        }

        var status: Int32 = 0
        if subcommand.isEmpty {
            FileHandle.standardError.write(Data("sluice local: ready; Ctrl-C stops the cluster\n".utf8))
            supervisor.waitForStopRequest()
        } else {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: selfExecutable())
            p.arguments = subcommand
            var environment = ProcessInfo.processInfo.environment
            environment["SLUICE_COORDINATOR"] = address
            environment["SLUICE_SECRET_FILE"] = secretFile
            environment["SLUICE_SECRET"] = nil
            p.environment = environment
            try p.run()
            p.waitUntilExit()
            status = p.terminationStatus
        }
        supervisor.stopAll()
        withExtendedLifetime(signals) {}
        if status != 0 { throw ExitCode(status) }
    }

    private func waitForWorkers(_ client: ClusterClient, count: Int, supervisor: Supervisor) -> Bool {
        let deadline = Date(timeIntervalSinceNow: 30)
        while Date() < deadline, !supervisor.stopRequested {
            if let s = try? client.channel.call(GetClusterStatus(), timeout: .seconds(1)),
               s.workers.filter({ $0.state == "alive" }).count >= count {
                return true
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }
}

func selfExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// Starts child processes, restarts any that die, and stops them in order
/// (workers drain first, then the coordinator).
final class Supervisor: Sendable {
    private let executable: String
    private let logDir: String
    private let specs: [(name: String, args: [String])]
    private let state = Mutex<(processes: [Int: Process], stopping: Bool, stopRequested: Bool)>(([:], false, false))
    private let stopSignal = DispatchSemaphore(value: 0)

    init(executable: String, logDir: String, specs: [(name: String, args: [String])]) {
        self.executable = executable
        self.logDir = logDir
        self.specs = specs
    }

    var stopRequested: Bool { state.withLock { $0.stopRequested } }

    func start() {
        for i in specs.indices { launch(i) }
    }

    private func launch(_ i: Int) {
        let spec = specs[i]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = spec.args
        let logPath = "\(logDir)/\(spec.name).log"
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        if let h = FileHandle(forWritingAtPath: logPath) {
            h.seekToEndOfFile()
            p.standardOutput = h
            p.standardError = h
        }
        p.terminationHandler = { [self] proc in
            let restart = state.withLock { s -> Bool in
                s.processes[i] = nil
                return !s.stopping
            }
            guard restart else { return }
            let line = "sluice local: \(spec.name) exited (status \(proc.terminationStatus)); restarting it\n"
            FileHandle.standardError.write(Data(line.utf8))
            Thread.sleep(forTimeInterval: 0.2)
            launch(i)
        }
        do {
            try p.run()
            state.withLock { $0.processes[i] = p }
        } catch {
            FileHandle.standardError.write(Data("sluice local: cannot start \(spec.name): \(error)\n".utf8))
        }
    }

    func requestStop() {
        let first = state.withLock { s -> Bool in
            defer { s.stopRequested = true }
            return !s.stopRequested
        }
        if first { stopSignal.signal() }
    }

    func waitForStopRequest() { stopSignal.wait() }

    /// Workers first (SIGTERM drains them), then the coordinator.
    func stopAll() {
        let processes = state.withLock { s -> [Int: Process] in
            s.stopping = true
            return s.processes
        }
        let workers = processes.filter { $0.key != 0 }.map(\.value)
        for p in workers { p.terminate() }
        waitAll(workers, timeout: 40)
        if let c = processes[0] {
            c.terminate()
            waitAll([c], timeout: 10)
        }
    }

    private func waitAll(_ ps: [Process], timeout: TimeInterval) {
        let deadline = Date(timeIntervalSinceNow: timeout)
        for p in ps {
            while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
    }
}
