import Foundation

/// What the autoscaler asks of whoever owns the machines: start workers that
/// register with this coordinator, and stop (drain) some. Calls may be slow
/// (a cloud API, ssh): the shell makes them off the loop, one at a time.
protocol WorkerProvider: Sendable {
    /// Starts `count` workers: the ids they will register under (when the
    /// provider names them), and what went wrong on the way if only some started.
    func add(_ count: Int, _ context: ProviderContext) throws -> ProviderStarted
    /// Stops these workers with SIGTERM, so each finishes its running tasks first.
    func remove(_ ids: [String], _ context: ProviderContext) throws
    /// Workers a predecessor of this coordinator started that still run: they
    /// will re-register, so a restart counts them instead of starting more.
    func running() -> [String]
}

extension WorkerProvider {
    /// A provider that does not name its workers cannot tell (the command provider).
    func running() -> [String] { [] }
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

struct ProviderStarted: Equatable {
    var ids: [String]
    /// Hosts that failed and were skipped while the others took their share.
    var problems: [String] = []
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

    func add(_ count: Int, _ context: ProviderContext) throws -> ProviderStarted {
        var c = context
        c.count = count
        let out = try call(["add", "\(count)"], c)
        return ProviderStarted(ids: out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    func remove(_ ids: [String], _ context: ProviderContext) throws {
        var c = context
        c.remove = ids
        _ = try call(["remove"] + ids, c)
    }

    private func call(_ args: [String], _ context: ProviderContext) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let what = "\(run) \(args.joined(separator: " "))"
        guard FileManager.default.isExecutableFile(atPath: run) else { throw ProviderError("cannot run the autoscale command \(run): not an executable file") }
        let r: BoundedProcess.Result
        do { r = try BoundedProcess.run(run, args, stdin: (try? encoder.encode(context)) ?? Data(), timeoutMs: timeoutMs) } catch let e as BoundedProcess.Failure {
            switch e {
            case .cannotStart(let why): throw ProviderError("cannot run the autoscale command \(run): \(why)")
            case .timedOut: throw ProviderError("\(what) did not finish within \(timeoutMs / 1000) s; killed")
            }
        }
        guard r.status == 0 else { throw ProviderError("\(what) failed with exit code \(r.status)" + (r.lastErrorLine.isEmpty ? "" : ": \(r.lastErrorLine)")) }
        return r.stdout
    }
}
