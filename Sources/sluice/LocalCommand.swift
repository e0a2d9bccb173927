import ArgumentParser
import Client
import Coordinator
import Foundation
import Platform
import Synchronization
import Transport
import Wire

struct LocalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local",
        abstract: "Run a local cluster: a coordinator and N supervised worker processes on loopback.",
        discussion: """
            Without a subcommand it runs until Ctrl-C. With one (after --), it runs that sluice
            subcommand against the cluster, stops the cluster, and exits with the subcommand's status:
              sluice local --workers 2 -- submit --tasks 4 --wait --command -- echo hello
            The coordinator and workers die with this process, however it ends.
            """)

    @Option(parsing: .unconditional, help: "Worker processes, 1...64.") var workers = Number(2)
    @Option(parsing: .unconditional, help: "Slots per worker, 1...10000 (default: cores / workers, at least 1).") var slots: Number?
    @Option(parsing: .unconditional, help: "Coordinator port on 127.0.0.1, 1...65535.") var port = Number(LocalDefaults.port)
    @Option(help: "Directory for the cluster's secret, journal, logs and worker data.") var dataDir = LocalDefaults.dataDir
    @Option(name: .customLong("sql-root"), help: "A directory queries may read and write (repeatable; default: the current directory).")
    var sqlRoots: [String] = []
    @Option(parsing: .unconditional, help: ArgumentHelp("Serve the status page, /metrics and health checks on 127.0.0.1:PORT (0: a free port, printed).",
                                                        valueName: "PORT")) var http: Number?
    @Option(help: ArgumentHelp("Alert rules (YAML) for the coordinator.", valueName: "FILE")) var alerts: String?
    @Option(help: ArgumentHelp("Hand the workers to the coordinator's autoscaler (YAML, see docs/runtime.md) instead of a fixed --workers.",
                               valueName: "FILE")) var autoscale: String?
    @Flag(help: "With --autoscale: journal and show every decision, start and stop nothing.") var autoscaleDryRun = false
    @Argument(parsing: .postTerminator, help: "A sluice subcommand to run against the cluster.") var subcommand: [String] = []

    func validate() throws {
        _ = try workers.value("--workers", in: 1...64)
        _ = try slots?.value("--slots", in: 1...10_000)
        _ = try port.value("--port", in: 1...65535)
        _ = try http?.value("--http", in: 0...65535)
    }

    func run() throws {
        let workerCount = try workers.value("--workers", in: 1...64)
        let portNumber = try port.value("--port", in: 1...65535)
        let perWorker = try slots?.value("--slots", in: 1...10_000) ?? max(1, ProcessInfo.processInfo.activeProcessorCount / workerCount)
        // Everything checked before anything starts.
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let lock = try DataDirLock(dataDir: dataDir, role: "local cluster")
        defer { lock.release() }
        if let problem = PortCheck.problem(port: portNumber) { throw ValidationError(problem) }
        let secretFile = dataDir + "/secret"
        _ = try ClusterSecret.loadOrCreate(file: secretFile)
        let address = "tcp://127.0.0.1:\(portNumber)"
        let logDir = dataDir + "/logs"
        try FileManager.default.createDirectory(atPath: logDir, withIntermediateDirectories: true)
        let common = ["--secret-file", secretFile]
        var httpPort = try http?.value("--http", in: 0...65535)
        if httpPort == 0 { httpPort = try PortCheck.freePort() }
        if let p = httpPort, let problem = PortCheck.problem(port: p) { throw ValidationError("--http: " + problem) }
        let monitoring = (httpPort.map { ["--http", "127.0.0.1:\($0)"] } ?? [])
            + (alerts.map { ["--alerts", URL(fileURLWithPath: $0).standardizedFileURL.path] } ?? [])
        // With --autoscale the coordinator's provider owns the workers: no fixed ones, so the two never fight.
        var autoscaled: AutoscaleConfig?
        if let autoscale {
            let loaded: AutoscaleConfig
            do { loaded = try AutoscaleConfig.load(autoscale) } catch { throw ValidationError("\(error)") }
            guard case .local = loaded.provider else { throw ValidationError("sluice local --autoscale takes the local provider (provider: local)") }
            autoscaled = loaded
        } else if autoscaleDryRun {
            throw ValidationError("--autoscale-dry-run goes with --autoscale FILE")
        }
        let scaling = (autoscale.map { ["--autoscale", URL(fileURLWithPath: $0).standardizedFileURL.path] } ?? []) + (autoscaleDryRun ? ["--autoscale-dry-run"] : [])
        let fixedWorkers = autoscaled == nil ? workerCount : 0

        var specs: [Supervisor.Spec] = [
            .init(name: "coordinator", arguments: ["coordinator", "--listen", address, "--data-dir", dataDir + "/coordinator"] + common
                    + (sqlRoots.isEmpty ? [FileManager.default.currentDirectoryPath] : sqlRoots).flatMap { ["--sql-root", $0] } + monitoring + scaling,
                  deathSignal: SIGTERM),
        ]
        for i in stride(from: 1, through: fixedWorkers, by: 1) {
            // A worker whose supervisor is gone is killed outright: its guards take its tasks with it.
            specs.append(.init(name: "worker-\(i)", arguments: [
                "worker", "--coordinator", address, "--listen", "tcp://127.0.0.1:0", "--advertise", "127.0.0.1",
                "--data-dir", dataDir + "/worker-\(i)", "--slots", "\(perWorker)", "--id", "local-\(i)", "--allow-commands",
            ] + common, deathSignal: SIGKILL))
        }
        let stop = Atomic<Bool>(false)
        let signals = onTermination { _ in stop.store(true, ordering: .relaxed) }
        let supervisor = Supervisor(executable: selfExecutable(), logDir: logDir, specs: specs)
        defer {
            // The autoscaler's workers are not the supervisor's children: they go with the cluster too,
            // first, while the coordinator is there to see them leave.
            if autoscaled != nil { AutoscaledWorkers.stop(dataDir: dataDir + "/coordinator") }
            supervisor.stopAll()
        }
        try supervisor.start()
        if let a = autoscaled {
            FileHandle.standardError.write(Data("sluice local: coordinator at \(address), autoscaling \(a.policy.minWorkers)...\(a.policy.maxWorkers) workers; logs in \(logDir)\n".utf8))
        } else {
            FileHandle.standardError.write(Data("sluice local: coordinator at \(address), \(workerCount) workers × \(perWorker) slots; logs in \(logDir)\n".utf8))
        }
        let readyWorkers = autoscaled.map { $0.policy.minWorkers } ?? workerCount
        if let httpPort { FileHandle.standardError.write(Data("sluice local: status page at http://127.0.0.1:\(httpPort)/\n".utf8)) }

        let client = try ClusterClient(coordinator: address, clusterID: LocalDefaults.clusterID, secret: try ClusterSecret(file: secretFile))
        let deadline = Date(timeIntervalSinceNow: 30)
        var ready = false
        var lastPoll = Date.distantPast
        while !ready {
            if stop.load(ordering: .relaxed) { return }
            try supervisor.superviseOnce()
            if Date().timeIntervalSince(lastPoll) > 0.2 {
                lastPoll = Date()
                if let s = try? client.channel.call(GetClusterStatus(), timeout: .milliseconds(500)),
                   s.workers.filter({ $0.state == "alive" }).count >= readyWorkers {
                    ready = true
                }
            }
            guard Date() < deadline else { throw ClientError("the local cluster did not come up within 30 s; see the logs in \(logDir)") }
            if !ready { Thread.sleep(forTimeInterval: 0.05) }
        }

        var status: Int32 = 0
        var child: ChildProcess?
        if subcommand.isEmpty {
            FileHandle.standardError.write(Data("sluice local: ready; Ctrl-C stops the cluster\n".utf8))
        } else {
            child = try ChildProcess.spawn(
                path: selfExecutable(), arguments: subcommand,
                environment: environment(with: ["SLUICE_COORDINATOR": address, "SLUICE_SECRET_FILE": secretFile, "SLUICE_SECRET": nil]),
                stdout: 1, stderr: 2, deathSignal: SIGTERM)
        }
        while !stop.load(ordering: .relaxed) {
            if let child, let end = child.poll() {
                status = end.code
                break
            }
            try supervisor.superviseOnce()
            Thread.sleep(forTimeInterval: 0.05)
        }
        if let child, status == 0, stop.load(ordering: .relaxed) {
            // Interrupted: the subcommand got the terminal's signal too; give it a moment to say so.
            let until = Date(timeIntervalSinceNow: 2)
            while Date() < until, child.poll() == nil { Thread.sleep(forTimeInterval: 0.02) }
            status = 130
        }
        withExtendedLifetime(signals) {}
        if status != 0 { throw ExitCode(status) }
    }
}

/// The workers a local autoscale provider started go with the cluster: SIGTERM, then SIGKILL after 10 s.
enum AutoscaledWorkers {
    static func stop(dataDir: String) {
        let pids = Array(LocalProvider.running(dataDir: dataDir).values)
        for pid in pids { kill(pid, SIGTERM) }
        let deadline = Date(timeIntervalSinceNow: 10)
        while Date() < deadline, pids.contains(where: { kill($0, 0) == 0 }) { Thread.sleep(forTimeInterval: 0.05) }
        for pid in pids where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }
}

func selfExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// Whether a local TCP port can be listened on.
enum PortCheck {
    static func problem(port: Int) -> String? {
        switch bind(port) {
        case .success: return nil
        case .failure(let e):
            let code = e.code.rawValue
            let why = code == EADDRINUSE ? "is in use (another sluice local, or another program; pick another with --port)" : String(cString: strerror(code))
            return "port \(port) on 127.0.0.1 \(why)"
        }
    }

    /// A port on 127.0.0.1 nothing listens on right now (the system's pick).
    static func freePort() throws -> Int {
        switch bind(0) {
        case .success(let port): return port
        case .failure(let e): throw ValidationError("cannot find a free port: \(String(cString: strerror(e.code.rawValue)))")
        }
    }

    /// Binds a TCP socket on 127.0.0.1:`port` and closes it: the port bound, or the errno.
    private static func bind(_ port: Int) -> Result<Int, POSIXError> {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failure(POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE)) }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { return .failure(POSIXError(POSIXErrorCode(rawValue: errno) ?? .EINVAL)) }
        return .success(Int(UInt16(bigEndian: addr.sin_port)))
    }
}

/// Starts the daemons of a local cluster, restarts any that die, gives up
/// on one that keeps dying at start-up (with its last log lines), and stops
/// them in order: workers first (SIGTERM drains them), then the coordinator.
///
/// Lives on the main thread: children get their death signal when the
/// thread that started them ends, so they are started from the one that lasts.
final class Supervisor {
    struct Spec {
        var name: String
        var arguments: [String]
        var deathSignal: Int32
    }

    private struct Running {
        var process: ChildProcess
        var startedAt: Date
    }

    private let executable: String
    private let logDir: String
    private let specs: [Spec]
    private var running: [Int: Running] = [:]
    private var quickExits: [Int: Int] = [:]

    /// A child that exits this soon after starting, this many times in a row, is not restarted again.
    static let startupWindow: TimeInterval = 10
    static let startupAttempts = 3

    init(executable: String, logDir: String, specs: [Spec]) {
        self.executable = executable
        self.logDir = logDir
        self.specs = specs
    }

    func start() throws {
        for i in specs.indices { try launch(i) }
    }

    private func logPath(_ i: Int) -> String { "\(logDir)/\(specs[i].name).log" }

    private func launch(_ i: Int) throws {
        let fd = open(logPath(i), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ClientError("cannot open \(logPath(i)): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let p = try ChildProcess.spawn(path: executable, arguments: specs[i].arguments, environment: environment(with: [:]),
                                       stdout: fd, stderr: fd, deathSignal: specs[i].deathSignal, newGroup: true)
        running[i] = Running(process: p, startedAt: Date())
    }

    /// Reaps children that ended and restarts them; throws when one keeps failing at start-up.
    func superviseOnce() throws {
        for (i, r) in running {
            guard let end = r.process.poll() else { continue }
            running[i] = nil
            let quick = Date().timeIntervalSince(r.startedAt) < Self.startupWindow
            quickExits[i] = quick ? (quickExits[i] ?? 0) + 1 : 0
            if quickExits[i]! >= Self.startupAttempts {
                let tail = lastLines(logPath(i), 8).map { "  " + $0 }.joined(separator: "\n")
                throw ClientError("\(specs[i].name) exited at start-up \(Self.startupAttempts) times in a row (\(end)); its last log lines:\n\(tail)")
            }
            FileHandle.standardError.write(Data("sluice local: \(specs[i].name) exited (\(end)); restarting it\n".utf8))
            try launch(i)
        }
    }

    /// Workers first (SIGTERM drains them), then the coordinator.
    func stopAll() {
        let workers = running.filter { $0.key != 0 }.map(\.value.process)
        for p in workers { p.signal(SIGTERM) }
        waitAll(workers, timeout: 40)
        if let c = running[0]?.process {
            c.signal(SIGTERM)
            waitAll([c], timeout: 10)
        }
        running.removeAll()
    }

    private func waitAll(_ ps: [ChildProcess], timeout: TimeInterval) {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var left = ps
        while !left.isEmpty {
            left.removeAll { $0.poll() != nil }
            if left.isEmpty { return }
            if Date() >= deadline {
                for p in left {
                    p.signal(SIGKILL)
                    _ = waitForExit(p.pid)
                }
                return
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    private func lastLines(_ path: String, _ n: Int) -> [String] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(n).map(String.init)
    }
}
