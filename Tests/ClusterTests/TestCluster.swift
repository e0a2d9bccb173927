import Client
import Foundation
import Synchronization
import Testing
import Transport
import Wire

/// A real cluster for a test: the built `sluice` binary started as separate
/// processes on loopback, on ports chosen up front (so a restarted
/// coordinator takes its address back), each with its own data dir and log.
final class TestCluster: @unchecked Sendable {
    static let binary: String = {
        if let b = ProcessInfo.processInfo.environment["SLUICE_BIN"] { return b }
        for config in ["debug", "release"] {
            let path = repoRoot + "/.build/\(config)/sluice"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        fatalError("build sluice first (swift build): no binary under \(repoRoot)/.build")
    }()

    let dir: String
    let port: Int
    let secretFile: String
    var address: String { "tcp://127.0.0.1:\(port)" }
    private(set) var coordinator: Process?
    private(set) var workers: [String: Process] = [:]
    private var extra: [Process] = []
    let heartbeat = "200ms"
    let deadAfter: String

    init(name: String = #function, deadAfter: String = "1500ms") throws {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-test-\(safe)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir + "/logs", withIntermediateDirectories: true)
        port = freePort()
        secretFile = dir + "/secret"
        self.deadAfter = deadAfter
        _ = try ClusterSecret.loadOrCreate(file: secretFile)
    }

    /// Starts (or restarts, on the same address and data dir) the coordinator.
    func startCoordinator(_ extraArgs: [String] = [], waitForListener: Bool = true, env: [String: String] = [:]) throws {
        coordinator = try launch("coordinator", ["coordinator", "--listen", address, "--data-dir", dir + "/coordinator",
                                                 "--secret-file", secretFile, "--heartbeat", heartbeat, "--dead-after", deadAfter] + extraArgs,
                                 env: env)
        resetClient()
        // Clients fail at once when nothing listens yet: wait until something does.
        if waitForListener { try eventually("the coordinator listening") { Reachability.probe(address) == .answers } }
    }

    /// A coordinator and these workers, all alive.
    func start(workers names: [String], slots: Int = 2) throws {
        try startCoordinator()
        for n in names { try startWorker(n, slots: slots) }
        try waitForWorkers(names.count)
    }

    @discardableResult
    func startWorker(_ name: String, slots: Int = 2, secretFile: String? = nil, coordinator: String? = nil, allowCommands: Bool = true,
                     extraArgs: [String] = [], env: [String: String] = [:]) throws -> Process {
        let p = try launch(name, ["worker", "--coordinator", coordinator ?? address, "--listen", "tcp://127.0.0.1:0", "--advertise", "127.0.0.1",
                                  "--data-dir", dir + "/" + name, "--slots", "\(slots)", "--id", name] + (allowCommands ? ["--allow-commands"] : [])
                                  + ["--heartbeat", heartbeat, "--secret-file", secretFile ?? self.secretFile] + extraArgs, env: env)
        workers[name] = p
        return p
    }

    func launch(_ name: String, _ args: [String], env: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        p.environment = e
        let log = dir + "/logs/\(name).log"
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        h.seekToEndOfFile()
        p.standardOutput = h
        p.standardError = h
        try p.run()
        extra.append(p)
        return p
    }

    /// Starts a CLI command against this cluster in the background; its output goes to the log "cli".
    func launchCLI(_ args: [String]) throws -> Process {
        try launch("cli", args, env: ["SLUICE_COORDINATOR": address, "SLUICE_SECRET_FILE": secretFile])
    }

    func log(_ name: String) -> String {
        (try? String(contentsOfFile: dir + "/logs/\(name).log", encoding: .utf8)) ?? ""
    }

    /// A client of this cluster. The one with the cluster's secret is made once and
    /// shared: every client holds an nng socket, and tests poll many times a second.
    func client(secretFile: String? = nil) throws -> ClusterClient {
        if let secretFile { return try ClusterClient(coordinator: address, clusterID: "sluice", secret: ClusterSecret(file: secretFile)) }
        return try sharedClient.withLock { shared in
            if let shared { return shared }
            let made = try ClusterClient(coordinator: address, clusterID: "sluice", secret: ClusterSecret(file: self.secretFile))
            shared = made
            return made
        }
    }
    private let sharedClient = Mutex<ClusterClient?>(nil)

    /// The next `client()` is a new one. For tests that break the shared one's connection on
    /// purpose: in a test process where an earlier test left nng 1.5.2's close stalled
    /// (docs/protocol.md), a socket whose pipe the peer closed may never redial.
    func resetClient() {
        sharedClient.withLock { $0 = nil }
    }

    /// Runs the CLI against this cluster; returns exit status, stdout, stderr.
    func cli(_ args: [String], secretFile: String? = nil) throws -> (status: Int32, out: String, err: String) {
        try runSluice(args, env: ["SLUICE_COORDINATOR": address, "SLUICE_SECRET_FILE": secretFile ?? self.secretFile, "SLUICE_SECRET": nil])
    }

    /// Polls until `condition` holds; on timeout, prints the logs and fails.
    func eventually(_ what: String, timeout: TimeInterval = 20, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () throws -> Bool) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if (try? condition()) == true { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        dumpLogs()
        try #require(Bool(false), "timed out waiting for: \(what)", sourceLocation: sourceLocation)
    }

    func aliveWorkers() throws -> [WorkerStatus] {
        try client().status().workers.filter { $0.state == "alive" }
    }

    func waitForWorkers(_ n: Int) throws {
        try eventually("\(n) alive workers") { try aliveWorkers().count >= n }
    }

    func waitForJob(_ id: String, timeout: TimeInterval = 60) throws -> JobSummary {
        var last = JobSummary()
        try eventually("job \(id) to finish", timeout: timeout) {
            last = try client().job(id).summary
            return last.state != "running"
        }
        return last
    }

    /// Every task of a job that has run, page after page.
    func allTasks(_ id: String) throws -> [TaskDetail] {
        var out: [TaskDetail] = []
        try client().allTasks(id) { _, t in out.append(t) }
        return out
    }

    func kill9(_ p: Process) {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    func dumpLogs() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/logs")) ?? []
        for n in names.sorted() {
            let text = log(String(n.dropLast(4)))
            print("----- \(n) (last 60 lines) -----")
            print(text.split(separator: "\n").suffix(60).joined(separator: "\n"))
        }
    }

    /// Stops every process; keeps the directory only when SLUICE_KEEP_TEST_DIRS is set.
    func shutdown() {
        for p in extra where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in extra { p.waitUntilExit() }
        if ProcessInfo.processInfo.environment["SLUICE_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(atPath: dir)
        }
    }
}

/// Runs the sluice binary with the environment changed by `env` (nil removes a variable); returns exit status, stdout, stderr.
func runSluice(_ args: [String], env: [String: String?] = [:]) throws -> (status: Int32, out: String, err: String) {
    try runProcess(TestCluster.binary, args, env: env)
}

/// Runs a program to its end with the environment changed by `env`; its exit status, stdout and stderr.
func runProcess(_ path: String, _ args: [String], env: [String: String?] = [:]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    var e = ProcessInfo.processInfo.environment
    for (k, v) in env { e[k] = v }
    p.environment = e
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let r = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: r, as: UTF8.self))
}

/// A TCP port that was free a moment ago.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.path + "/Package.swift") { return url.path }
    }
    fatalError("cannot find the repository root from \(#filePath)")
}()

/// Lines of a `record` file (or of the command tasks that imitate it): job, task, attempt, worker.
struct RecordLine: Equatable {
    var job: String, task: String, attempt: UInt64, worker: String
}

func readRecords(_ path: String) -> [RecordLine] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { line in
        let f = line.split(separator: "\t").map(String.init)
        guard f.count == 4, let a = UInt64(f[2]) else { return nil }
        return RecordLine(job: f[0], task: f[1], attempt: a, worker: f[3])
    }
}

/// The example lake and backfills of its pipeline, as the autoscaling tests drive them.
extension TestCluster {
    /// Generates examples/lake's raw feed under DIR/lake and copies its pipeline to DIR/pipeline.yaml.
    func exampleLake(days: Int, perDay: Int) throws {
        let gen = try runProcess(repoRoot + "/examples/lake/generate", [dir + "/lake", "--days", "\(days)", "--per-day", "\(perDay)"], env: ["SLUICE": Self.binary])
        try #require(gen.status == 0, "\(gen.err)")
        try FileManager.default.copyItem(atPath: repoRoot + "/examples/lake/pipeline.yaml", toPath: dir + "/pipeline.yaml")
    }

    /// Starts a backfill of DIR/pipeline.yaml with `sluice backfill start`; its id.
    func startBackfill(from: String, to: String, maxActiveRuns: Int) throws -> Int64 {
        let started = try cli(["backfill", "start", dir + "/pipeline.yaml", "--from", from, "--to", to, "--max-active-runs", "\(maxActiveRuns)", "--json"])
        try #require(started.status == 0, "\(started.err)")
        return try JSONDecoder().decode(BackfillInfo.self, from: Data(started.out.utf8)).id
    }

    func backfill(_ id: Int64) throws -> BackfillInfo {
        try #require(try client().call(PipelineRequest(action: .showBackfill, id: id)).backfills.first)
    }
}
