import Foundation
import Platform

/// `provider: local`: worker processes on the coordinator's host, each
/// `sluice worker --id auto-N` with its data dir and log under
/// `DATA_DIR/autoscale/auto-N/`. They are not the coordinator's children
/// for life: a killed coordinator leaves them running, they re-register
/// with its successor, and their pid files let it stop them later, so a
/// restart starts no duplicates and loses no worker.
public final class LocalProvider: WorkerProvider, @unchecked Sendable {
    let root: String
    let binary: String
    let slots: Int?
    let secretFile: String?
    private let lock = NSLock()
    private var children: [String: Process] = [:]

    init(dataDir: String, binary: String, slots: Int?, secretFile: String?) {
        root = dataDir + "/autoscale"
        self.binary = binary
        self.slots = slots
        self.secretFile = secretFile
    }

    /// Ids of the workers this provider started that still run (by their pid files).
    func running() -> [String] { Self.running(dataDir: (root as NSString).deletingLastPathComponent).keys.sorted() }

    /// The workers a local provider with this data dir started that still run, with their pids.
    public static func running(dataDir: String) -> [String: Int32] {
        let root = dataDir + "/autoscale"
        var out: [String: Int32] = [:]
        for id in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where id.hasPrefix("auto-") {
            if let pid = pid(of: id, root: root) { out[id] = pid }
        }
        return out
    }

    func add(_ count: Int, _ context: ProviderContext) throws -> ProviderStarted {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let used = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap { Int($0.dropFirst("auto-".count)) }
        var next = (used.max() ?? 0) + 1
        var started: [String] = []
        for _ in 0..<count {
            let id = "auto-\(next)"
            next += 1
            let dir = root + "/" + id
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: dir + "/worker.log", contents: nil)
            guard let log = FileHandle(forWritingAtPath: dir + "/worker.log") else { throw ProviderError("cannot write \(dir)/worker.log") }
            log.seekToEndOfFile()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["worker", "--coordinator", context.coordinator, "--cluster", context.cluster, "--id", id, "--data-dir", dir + "/data",
                           "--slots", "\(slots ?? context.slots)", "--listen", "tcp://127.0.0.1:0", "--advertise", "127.0.0.1",
                           // Not the coordinator's children: if it is gone for good (kill -9 of `sluice local`), they leave by themselves.
                           "--orphan-timeout", "2m"]
                + (secretFile.map { ["--secret-file", $0] } ?? [])
            p.standardOutput = log
            p.standardError = log
            p.standardInput = FileHandle.nullDevice
            do { try p.run() } catch { throw ProviderError("cannot start a local worker (\(binary)): \(error.localizedDescription)") }
            try "\(p.processIdentifier)\n".write(toFile: dir + "/pid", atomically: true, encoding: .utf8)
            lock.withLock { children[id] = p }
            started.append(id)
        }
        return ProviderStarted(ids: started)
    }

    func remove(_ ids: [String], _ context: ProviderContext) throws {
        for id in ids {
            guard let pid = pid(of: id) else { throw ProviderError("local worker \(id) is not running here") }
            // SIGTERM: the worker drains (no new tasks, finishes its running ones) and leaves.
            kill(pid, SIGTERM)
        }
    }

    /// The pid of a worker this provider started, if that process still runs and is that worker.
    func pid(of id: String) -> Int32? { Self.pid(of: id, root: root) }

    static func pid(of id: String, root: String) -> Int32? {
        guard let text = try? String(contentsOfFile: root + "/\(id)/pid", encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              ProcFS.isRunning(pid) else { return nil }
        // A recycled pid is not ours: its command line must name this worker.
        let args = ProcFS.commandLine(pid)
        guard let i = args.firstIndex(of: "--id"), i + 1 < args.count, args[i + 1] == id else { return nil }
        return pid
    }
}
