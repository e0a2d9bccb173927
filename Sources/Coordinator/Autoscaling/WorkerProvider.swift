import Foundation

/// What the autoscaler asks of whoever owns the machines: start workers that
/// register with this coordinator, and stop (drain) some. Calls may be slow
/// (a cloud API, ssh): the shell makes them off the loop, one at a time.
protocol WorkerProvider: Sendable {
    /// Starts `count` workers; the ids they will register under, when the provider names them (else empty).
    func add(_ count: Int, _ context: ProviderContext) throws -> [String]
    /// Stops these workers with SIGTERM, so each finishes its running tasks first.
    func remove(_ ids: [String], _ context: ProviderContext) throws
}

/// What a provider is told with every call (as JSON on a command provider's stdin).
struct ProviderContext: Codable, Sendable, Equatable {
    var cluster: String
    var coordinator: String
    /// Slots each new worker should offer.
    var slots: Int
    /// Workers the provider started that are registered now.
    var workers: [String]
    /// How many to add (add only).
    var count: Int?
    /// Which to stop (remove only).
    var remove: [String]?
}

struct ProviderError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// `provider: { command: { run: CMD } }`: any cloud's API behind an
/// executable. Called as `CMD add N` and `CMD remove ID...`, with the
/// context as JSON on stdin; `add` may print the new workers' ids, one per
/// line. A non-zero exit or a call that outlives the timeout is an error
/// naming the command and its last line of stderr.
struct CommandProvider: WorkerProvider {
    let run: String
    let timeoutMs: Int64

    func add(_ count: Int, _ context: ProviderContext) throws -> [String] {
        var c = context
        c.count = count
        let out = try call(["add", "\(count)"], c)
        return out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func remove(_ ids: [String], _ context: ProviderContext) throws {
        var c = context
        c.remove = ids
        _ = try call(["remove"] + ids, c)
    }

    private func call(_ args: [String], _ context: ProviderContext) throws -> String {
        // Stdin, stdout and stderr are files, so nothing blocks on a pipe that a
        // command's own children keep open. Foundation starts it as the leader
        // of a process group of its own, so a timeout kills everything it started.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-autoscale-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        FileManager.default.createFile(atPath: dir + "/stdin", contents: (try? encoder.encode(context)) ?? Data())
        FileManager.default.createFile(atPath: dir + "/stdout", contents: nil)
        FileManager.default.createFile(atPath: dir + "/stderr", contents: nil)
        guard let input = FileHandle(forReadingAtPath: dir + "/stdin"), let out = FileHandle(forWritingAtPath: dir + "/stdout"),
              let err = FileHandle(forWritingAtPath: dir + "/stderr") else { throw ProviderError("cannot make the scratch files of an autoscale command in \(dir)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: run)
        p.arguments = args
        p.standardInput = input
        p.standardOutput = out
        p.standardError = err
        guard FileManager.default.isExecutableFile(atPath: run) else { throw ProviderError("cannot run the autoscale command \(run): not an executable file") }
        do { try p.run() } catch { throw ProviderError("cannot run the autoscale command \(run): \(error.localizedDescription)") }
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning {
            kill(-p.processIdentifier, SIGKILL)
            kill(p.processIdentifier, SIGKILL)
            while p.isRunning { usleep(10_000) }
            throw ProviderError("\(run) \(args.joined(separator: " ")) did not finish within \(timeoutMs / 1000) s; killed")
        }
        let stdout = (try? String(contentsOfFile: dir + "/stdout", encoding: .utf8)) ?? ""
        guard p.terminationStatus == 0 else {
            let stderr = (try? String(contentsOfFile: dir + "/stderr", encoding: .utf8)) ?? ""
            let last = stderr.split(separator: "\n").last.map(String.init) ?? ""
            throw ProviderError("\(run) \(args.joined(separator: " ")) failed with exit code \(p.terminationStatus)" + (last.isEmpty ? "" : ": \(last)"))
        }
        return stdout
    }
}
