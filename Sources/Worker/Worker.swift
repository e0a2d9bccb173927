import Execution
import Foundation
import Logging
import Platform
import Synchronization
import Transport
import Wire

/// A worker process: registers with the coordinator, heartbeats, leases
/// tasks and runs them in `slots` executor threads, reports results until
/// they are acknowledged, and serves its task logs.
///
/// Threads, each with one job: `slots` executors; a poller that holds one
/// long poll for work open while there is room; a reporter that sends starts
/// and results as soon as there are any (without asking for work, so it never
/// supersedes the poll); a heartbeat; a watchdog for timeouts and cancels.
/// They share the `Board`, and `wait()` joins them all on the way out.
public final class Worker: Sendable {
    public let config: WorkerConfig
    public let workerID: String
    public let incarnation: UInt64
    private let logger: Logger
    private let board = Board()
    private let channel: SecureChannel
    private let service: LogService
    private let data: DataService
    private let shuffle: ShuffleStore
    private let sql: SqlRunner
    private let runner: CommandRunner
    private let lock: DataDirLock
    private let threads = ThreadGroup()
    private let registerLock = Mutex<Void>(())
    /// How long task logs are kept, as the coordinator said at registration (0: until told).
    private let logRetentionMs = Atomic<UInt64>(0)
    /// The coordinator's epoch at the last registration: a new one means it restarted.
    private let coordinatorEpoch = Atomic<UInt64>(0)

    /// Reports go in pieces of at most this much, well under the coordinator's 16 MiB receive limit.
    static let reportBudget = 4 << 20

    public init(config: WorkerConfig, logger: Logger) throws {
        self.config = config
        // Before anything else touches the data dir: one worker per data dir.
        lock = try DataDirLock(dataDir: config.dataDir, role: "worker")
        workerID = try config.workerID ?? Self.persistentID(dataDir: config.dataDir)
        incarnation = UInt64(Date().unixMicroseconds)
        var logger = logger
        logger[metadataKey: "worker.id"] = "\(workerID)"
        self.logger = logger
        let groups = try TaskGroups(dataDir: config.dataDir)
        let leftovers = groups.killLeftovers()
        if leftovers > 0 { logger.warning("killed task processes a previous run of this worker left behind", metadata: ["processes": "\(leftovers)"]) }
        let sealer = Sealer(clusterID: config.clusterID, sender: "worker:\(workerID)", secret: config.secret)
        channel = try SecureChannel(address: config.coordinator, sealer: sealer)
        var runAs: (uid: UInt32, gid: UInt32)?
        if let user = config.runAs {
            guard let pw = getpwnam(user) else { throw WorkerError("no such user '\(user)' for --run-as") }
            runAs = (pw.pointee.pw_uid, pw.pointee.pw_gid)
        }
        runner = CommandRunner(logDir: config.dataDir + "/logs", allowCommands: config.allowCommands, runAs: runAs,
                               outputCap: config.outputCap, groups: groups)
        service = try LogService(listen: config.serviceListen, sealer: sealer, board: board, runner: runner)
        shuffle = ShuffleStore(dataDir: config.dataDir, memoryBudget: config.heldShuffleMemory)
        data = try DataService(listen: config.dataListen ?? Self.nextPort(after: config.serviceListen), sealer: sealer, store: shuffle)
        let spillRoot = config.tempDir ?? config.dataDir + "/spill"
        try? FileManager.default.createDirectory(atPath: spillRoot, withIntermediateDirectories: true)
        // What tasks of a killed predecessor spilled goes.
        SpillSpace.sweep(spillRoot)
        sql = SqlRunner(store: shuffle, blocks: BlockClient(sealer: sealer, timeout: BlockFetcher.timeout), threadsPerTask: config.threadsPerTask,
                        taskMemory: config.taskMemory, spillRoot: spillRoot)
    }

    /// `tcp://HOST:PORT+1` for a service address with a port; port 0 otherwise.
    static func nextPort(after listen: String) -> String {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), port > 0, port < 65535 else {
            return listen.lastIndex(of: ":").map { String(listen[..<$0]) + ":0" } ?? "tcp://0.0.0.0:0"
        }
        return String(listen[..<colon]) + ":\(port + 1)"
    }

    /// What this worker can run, as it tells the coordinator.
    public var capabilities: [String] {
        (config.allowCommands ? [Capability.commands] : []) + [Capability.sql]
    }

    /// The address this worker's service socket is reachable at.
    public var serviceAddress: String {
        "tcp://\(config.advertiseHost):\(service.port)"
    }

    /// The address this worker's data socket (shuffle blocks) is reachable at.
    public var dataAddress: String {
        "tcp://\(config.advertiseHost):\(data.port)"
    }

    /// Starts every thread and returns; `wait()` blocks until the worker has left.
    public func start() {
        logger.info("worker starting", metadata: [
            "coordinator": "\(config.coordinator)", "slots": "\(config.slots)", "service": "\(serviceAddress)", "data": "\(dataAddress)",
            "incarnation": "\(incarnation)", "capabilities": "\(capabilities.joined(separator: ","))", "version": "\(SluiceVersion.string)",
        ])
        for i in 0..<config.slots { threads.spawn("executor-\(i)") { self.executorLoop() } }
        threads.spawn("watchdog") { self.watchdogLoop() }
        threads.spawn("heartbeat") { self.heartbeatLoop() }
        threads.spawn("poller") { self.pollLoop() }
        threads.spawn("reporter") { self.reportLoop() }
        threads.spawn("log-retention") { self.retentionLoop() }
    }

    /// Blocks until the worker has stopped, then joins every thread it
    /// started and closes its service socket.
    public func wait() {
        board.locked { board.wait(.state, until: { board.stopping }, timeout: .infinity) }
        let stuck = threads.join(timeout: 20)
        if !stuck.isEmpty { logger.warning("threads still running at shutdown", metadata: ["threads": "\(stuck)"]) }
        service.close()
        data.close()
        lock.release()
    }

    /// SIGTERM: take no new tasks, hand back the ones not started, let running
    /// ones finish (up to the drain timeout), report everything, leave.
    public func drain() {
        let already = board.update([.room, .reports, .state]) { () -> Bool in
            let was = board.draining
            board.draining = true
            board.released += board.queue.map(\.ref)
            board.queue.removeAll()
            return was
        }
        guard !already else { return }
        logger.info("draining", metadata: ["running": "\(board.locked { board.running.count })"])
        threads.spawn("drain") { self.finishDrain() }
    }

    private func finishDrain() {
        let deadline = Date(timeIntervalSinceNow: Double(config.drainTimeout.milliseconds) / 1000)
        let drained = board.locked {
            board.wait(.state, until: { board.running.isEmpty }, timeout: deadline.timeIntervalSinceNow)
        }
        if !drained {
            logger.warning("drain timeout: stopping the tasks still running")
            board.locked { for k in board.running.keys { board.running[k]!.cancelRequested = true } }
            board.locked { board.wait(.state, until: { board.running.isEmpty }, timeout: 10) }
        }
        // Everything reported and acknowledged, then leave.
        let flushed = board.locked {
            board.wait(.state, until: { board.results.isEmpty && board.sendingResults.isEmpty && board.released.isEmpty && board.starts.isEmpty }, timeout: 10)
        }
        if !flushed { logger.warning("leaving with unacknowledged results; the coordinator will retry those tasks") }
        do {
            _ = try channel.call(Leave(workerID: workerID, incarnation: incarnation), timeout: .seconds(5))
            logger.info("left the cluster")
        } catch {
            logger.warning("could not say goodbye to the coordinator", metadata: ["error": "\(error)"])
        }
        stop()
    }

    /// Stops every thread (no drain): running tasks are stopped, and `wait()` returns.
    public func stop() {
        board.update(.all) { board.stopping = true }
    }

    // MARK: registration

    /// Registers (again), carrying what this incarnation still holds, so a
    /// restarted coordinator learns of running attempts and unacknowledged results.
    private func register() {
        registerLock.withLock { _ in
            if board.locked({ board.registered }) { return }
            var delay = 0.1
            while !board.locked({ board.stopping }) {
                var (running, queued, unacked) = board.locked {
                    (board.running.values.map { TaskStart(attempt: $0.ref, startedAtUs: $0.startedUs) },
                     board.queue.map(\.ref),
                     board.sendingResults + board.results)
                }
                // Results beyond the message budget follow in reports; until then they count as still held.
                let fitting = Self.fitting(unacked, budget: Self.reportBudget)
                running += unacked[fitting...].map { TaskStart(attempt: $0.attempt, startedAtUs: $0.startedAtUs) }
                unacked = Array(unacked[..<fitting])
                let message = RegisterWorker(
                    workerID: workerID, incarnation: incarnation, host: config.advertiseHost, serviceAddress: serviceAddress,
                    slots: UInt32(config.slots), labels: config.labels, softwareVersion: SluiceVersion.string,
                    minVersion: ProtocolVersion.minimum, maxVersion: ProtocolVersion.current, allowCommands: config.allowCommands,
                    running: running, unacked: unacked, queued: queued, capabilities: capabilities, dataAddress: dataAddress)
                do {
                    let reply = try channel.call(message, timeout: .seconds(10))
                    logRetentionMs.store(reply.logRetentionMs, ordering: .relaxed)
                    let before = coordinatorEpoch.exchange(reply.coordinatorEpoch, ordering: .relaxed)
                    if before != 0, before != reply.coordinatorEpoch {
                        // A restarted coordinator failed the queries it ran: nobody will ask for their blocks.
                        shuffle.dropAll()
                    }
                    board.update([.room, .reports, .state]) {
                        board.registered = true
                        // The coordinator has these now; the rest go back to the reporter.
                        let sent = Set(unacked.map(\.attempt.attemptID))
                        board.results = (board.sendingResults + board.results).filter { !sent.contains($0.attempt.attemptID) }
                        board.sendingResults.removeAll()
                        board.starts.removeAll()
                        applyCancels(reply.cancel)
                    }
                    logger.info("registered", metadata: ["coordinator": "\(reply.coordinatorID)", "epoch": "\(reply.coordinatorEpoch)",
                                                          "reported.results": "\(unacked.count)", "running": "\(running.count)"])
                    return
                } catch {
                    logFailure("registration failed", error)
                    Thread.sleep(forTimeInterval: delay)
                    delay = min(delay * 2, 2)
                }
            }
        }
    }

    /// After any call fails: an unknown-worker answer means register again.
    private func handle(_ error: any Swift.Error, _ what: String) {
        if let e = error as? WireError, e.code == .remote(.unknownWorker) {
            logger.info("coordinator does not know this worker; registering again")
            board.locked { board.registered = false }
            register()
            return
        }
        logFailure(what, error)
        Thread.sleep(forTimeInterval: 0.2)
    }

    private let lastLogged = Mutex<(String, Date)>(("", .distantPast))

    /// Logs a failure, but the same message at most every 5 s (a down coordinator is not news every 100 ms).
    private func logFailure(_ what: String, _ error: any Swift.Error) {
        let text = "\(what): \(error)"
        let show = lastLogged.withLock { last -> Bool in
            if last.0 == text && Date().timeIntervalSince(last.1) < 5 { return false }
            last = (text, Date())
            return true
        }
        guard show else { return }
        if let e = error as? WireError, e.code == .unauthenticated {
            logger.error("\(what): \(e.message); no task from this peer will run")
        } else {
            logger.warning("\(what)", metadata: ["error": "\(error)"])
        }
    }

    // MARK: threads

    /// Removes task logs older than the coordinator's retention, on a thread of its own:
    /// a data dir of many jobs takes a while to walk, and heartbeats must not wait for it.
    private func retentionLoop() {
        let retention = LogRetention(logDir: config.dataDir + "/logs")
        while !board.locked({ board.stopping }) {
            let retainMs = logRetentionMs.load(ordering: .relaxed)
            if retainMs > 0 {
                let active = board.locked { Set(board.running.values.map(\.ref.jobID) + board.queue.map(\.ref.jobID)) }
                let removed = retention.prune(retention: Double(retainMs) / 1000, activeJobs: active)
                if removed > 0 { logger.info("removed task logs past the coordinator's retention", metadata: ["jobs": "\(removed)"]) }
            }
            sleepUnlessStopping(retainMs > 0 ? min(60, max(1, Double(retainMs) / 4000)) : 5)
        }
    }

    private func heartbeatLoop() {
        var probe = ResourceProbe()
        register()
        var answered = ContinuousClock.now
        while !board.locked({ board.stopping }) {
            let (running, draining) = board.locked { (board.running.count, board.draining) }
            if let limit = config.orphanTimeout, !draining, ContinuousClock.now - answered > limit {
                logger.error("the coordinator has not answered for \(limit); leaving (--orphan-timeout)", metadata: ["coordinator": "\(config.coordinator)"])
                drain()
            }
            var stats = probe.read()
            stats.shuffleBytes = UInt64(shuffle.usage.bytes)
            let beat = Heartbeat(workerID: workerID, incarnation: incarnation, stats: stats, running: UInt32(running), draining: draining)
            do {
                let reply = try channel.call(beat, timeout: .seconds(5))
                answered = .now
                board.update(.room) { applyCancels(reply.cancel) }
                shuffle.drop(jobs: reply.dropOutputs)
            } catch {
                handle(error, "heartbeat failed")
            }
            sleepUnlessStopping(Double(config.heartbeatInterval.milliseconds) / 1000)
        }
    }

    /// Sleeps in short steps, looking for a stop between them.
    private func sleepUnlessStopping(_ seconds: TimeInterval) {
        let end = Date(timeIntervalSinceNow: seconds)
        while Date() < end {
            if board.locked({ board.stopping }) { return }
            Thread.sleep(forTimeInterval: min(0.05, max(0, end.timeIntervalSinceNow)))
        }
    }

    /// Keeps one request for work open while there is room for more tasks.
    /// It asks again once the worker is down to half its capacity (or idle),
    /// so leases come in batches rather than one per finished task.
    /// How much queued work the lease-ahead aims to cover beyond the running tasks.
    static let leaseAheadTarget: TimeInterval = 0.1

    /// The tasks this worker asks to hold (lock held): its slots, and enough
    /// queued ones to cover `leaseAheadTarget` of work at the pace its tasks
    /// have been running, at most `--lease-ahead`. Short tasks come hundreds
    /// to a request, so each costs the coordinator and the worker little;
    /// long ones one slot's worth at a time, so a big job of long tasks
    /// spreads over the workers instead of queueing behind the first.
    var capacity: Int {
        let perSlot = Self.leaseAheadTarget / max(board.taskSeconds, 1e-6)
        let ahead = min(Double(config.leaseAhead), (Double(config.slots) * perSlot).rounded(.up))
        return config.slots + Int(ahead)
    }

    /// The poller asks for more work when the worker holds this few tasks (lock held).
    var pollLowWater: Int { max(config.slots, capacity / 2) }

    private func pollLoop() {
        while true {
            let want: Int? = board.locked {
                board.wait(.room, until: {
                    board.stopping || (!board.draining && board.registered && (board.held <= pollLowWater || board.queue.isEmpty) && board.held < capacity)
                }, timeout: 1)
                if board.stopping { return nil }
                guard !board.draining, board.registered, board.held < capacity else { return 0 }
                return capacity - board.held
            }
            guard let want else { return }
            if want == 0 { continue }
            let sync = Sync(workerID: workerID, incarnation: incarnation, want: UInt32(want), waitMs: 1000)
            do {
                let reply = try channel.call(sync, timeout: .seconds(10))
                board.update([.work, .reports]) { accept(reply) }
            } catch {
                handle(error, "lease poll failed")
            }
        }
    }

    /// Sends starts, results and released leases. A report waits a little to
    /// carry more: results until `reportLinger` after the first (at once when
    /// a batch fills or the worker has nothing else running), starts up to
    /// `startLinger` (they only tell leased from running), released leases
    /// not at all. Each report costs both sides a round trip and the
    /// coordinator a journal commit; for short tasks these waits are what
    /// lets one report carry dozens of them.
    private func reportLoop() {
        while true {
            let batch: (starts: [TaskStart], results: [TaskResult], released: [AttemptRef], draining: Bool)? = board.locked {
                while !board.stopping {
                    let (now, due) = (Date(), reportDue())
                    if board.registered, let due, due <= now { break }
                    // Unregistered, nothing is sent: wait for the registration's wake-up, not for a due time that passed.
                    let timeout = board.registered ? due.map { max(0, $0.timeIntervalSince(now)) } ?? 1 : 1
                    board.wait(.reports, until: { board.stopping || (board.registered && (reportDue().map { $0 <= Date() } ?? false)) },
                               timeout: min(timeout, 1))
                }
                if board.stopping { return nil }
                // A start whose result goes in the same report says nothing new.
                let ended = Set(board.results.map(\.attempt.attemptID))
                board.starts.removeAll { ended.contains($0.attempt.attemptID) }
                // One report carries at most the budget; the rest go in the next.
                let results = Self.fitting(board.results, budget: Self.reportBudget)
                let b = (board.starts, Array(board.results[..<results]), board.released, board.draining)
                board.sendingStarts = board.starts
                board.sendingResults = b.1
                board.starts.removeAll()
                board.results.removeFirst(results)
                board.released.removeAll()
                board.firstStartAt = nil
                board.firstResultAt = board.results.isEmpty ? nil : Date()
                return b
            }
            guard let batch else { return }
            if batch.starts.isEmpty && batch.results.isEmpty && batch.released.isEmpty { continue }
            let sync = Sync(workerID: workerID, incarnation: incarnation, want: 0, waitMs: 0, started: batch.starts,
                            results: batch.results, released: batch.released, draining: batch.draining)
            do {
                let reply = try channel.call(sync, timeout: .seconds(10))
                board.update([.work, .state, .room]) {
                    board.sendingStarts.removeAll()
                    board.sendingResults.removeAll()
                    accept(reply)
                }
            } catch {
                // Not acknowledged: keep everything for the next try (or the next registration).
                board.locked {
                    board.starts = board.sendingStarts + board.starts
                    board.results = board.sendingResults + board.results
                    board.released = batch.released + board.released
                    board.sendingStarts.removeAll()
                    board.sendingResults.removeAll()
                    if !board.starts.isEmpty { board.firstStartAt = board.firstStartAt ?? Date() }
                    if !board.results.isEmpty { board.firstResultAt = board.firstResultAt ?? Date() }
                }
                handle(error, "report failed")
            }
        }
    }

    /// How long results wait for company in a report.
    static let reportLinger: TimeInterval = 0.002
    /// How long a start waits for its result, or for other news, before it is reported on its own.
    static let startLinger: TimeInterval = 0.1
    /// Results that make a report worth sending at once.
    var reportBatch: Int { max(16, capacity / 2) }

    /// When the next report is due (lock held): nil when there is nothing to report.
    private func reportDue() -> Date? {
        if !board.released.isEmpty || (!board.results.isEmpty && (board.results.count >= reportBatch || board.idle || board.draining)) {
            return .distantPast
        }
        var due: Date?
        if let r = board.firstResultAt { due = r.addingTimeInterval(Self.reportLinger) }
        if let s = board.firstStartAt {
            let d = s.addingTimeInterval(Self.startLinger)
            due = due.map { min($0, d) } ?? d
        }
        return due
    }

    /// Takes leases and cancels from a sync reply (lock held).
    private func accept(_ reply: SyncReply) {
        for lease in reply.leases {
            for t in lease.tasks {
                let ref = AttemptRef(attemptID: t.attemptID, jobID: lease.jobID, stage: t.stage, task: t.task)
                if board.draining {
                    board.released.append(ref)
                } else {
                    board.queue.append(Board.Queued(ref: ref, spec: lease.spec, number: Int(t.attempt), inputs: lease.inputs))
                }
            }
        }
        applyCancels(reply.cancel)
    }

    /// Cancels from the coordinator (lock held): drop queued attempts, stop running ones.
    private func applyCancels(_ refs: [AttemptRef]) {
        guard !refs.isEmpty else { return }
        let ids = Set(refs.map(\.attemptID))
        board.queue.removeAll { ids.contains($0.ref.attemptID) }
        for id in ids where board.running[id] != nil { board.running[id]!.cancelRequested = true }
    }

    private func executorLoop() {
        while true {
            let next: Board.Queued? = board.locked {
                board.wait(.work, until: { board.stopping || !board.queue.isEmpty }, timeout: .infinity)
                if board.stopping { return nil }
                let q = board.queue.removeFirst()
                let now = Date()
                board.running[q.ref.attemptID] = Board.Running(
                    ref: q.ref, startedUs: now.unixMicroseconds,
                    deadline: q.spec.timeoutMs > 0 ? now.addingTimeInterval(Double(q.spec.timeoutMs) / 1000) : nil)
                board.starts.append(TaskStart(attempt: q.ref, startedAtUs: now.unixMicroseconds))
                if board.firstStartAt == nil {
                    board.firstStartAt = now
                    board.signal(.reports)
                }
                return q
            }
            guard let next else { return }
            let ctx = TaskContext(ref: next.ref, number: next.number, spec: next.spec, workerID: "\(workerID)#\(incarnation)", board: board)
            let began = DispatchTime.now().uptimeNanoseconds
            let outcome: RunOutcome
            switch next.spec.kind {
            case .command: outcome = runner.run(ctx)
            case .builtin: outcome = BuiltinRunner.run(ctx)
            case .sql: outcome = sql.run(ctx, inputs: next.inputs)
            case .unspecified: outcome = RunOutcome(outcome: .failed, exitCode: 2, reason: "unknown task kind")
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            board.locked {
                board.taskSeconds = 0.8 * board.taskSeconds + 0.2 * seconds
                let started = board.running.removeValue(forKey: next.ref.attemptID)?.startedUs ?? 0
                board.results.append(TaskResult(
                    attempt: next.ref, outcome: outcome.outcome, exitCode: outcome.exitCode, reason: outcome.reason,
                    output: outcome.output, startedAtUs: started, finishedAtUs: Date().unixMicroseconds,
                    inputLost: outcome.inputLost ?? InputLost(), bucketBytes: outcome.bucketBytes,
                    rowsOut: outcome.rows, threads: outcome.threads, spilledBytes: outcome.spilledBytes))
                // Wake only who has news: the reporter when a report starts or fills or
                // the worker falls idle, the poller at its low-water mark, the drain when nothing runs.
                var wake: Board.Wake = []
                if board.firstResultAt == nil { board.firstResultAt = Date() }
                if board.results.count == 1 || board.results.count >= reportBatch || board.idle { wake.insert(.reports) }
                if board.held <= pollLowWater || board.queue.isEmpty { wake.insert(.room) }
                if board.running.isEmpty { wake.insert(.state) }
                board.signal(wake)
            }
        }
    }

    /// Enforces timeouts and cancels on running commands: SIGTERM to the
    /// process group, SIGKILL 2 s later.
    private func watchdogLoop() {
        while true {
            Thread.sleep(forTimeInterval: 0.05)
            let signals: [(Int32, Int32)]? = board.locked {
                if board.stopping && board.running.isEmpty { return nil }
                let now = Date()
                var out: [(Int32, Int32)] = []
                for (id, r) in board.running {
                    var r = r
                    if let d = r.deadline, now >= d, !r.timedOut, !r.cancelRequested { r.timedOut = true }
                    let stop = r.timedOut || r.cancelRequested || board.stopping
                    if stop && r.group > 0 {
                        if r.killSentAt == nil {
                            r.killSentAt = now
                            out.append((r.group, SIGTERM))
                        } else if now.timeIntervalSince(r.killSentAt!) > 2 {
                            out.append((r.group, SIGKILL))
                        }
                    }
                    board.running[id] = r
                }
                return out
            }
            guard let signals else { return }
            for (group, sig) in signals { kill(-group, sig) }
        }
    }

    /// How many of the first results fit in `budget` bytes of message (at least one, so progress is made).
    static func fitting(_ results: [TaskResult], budget: Int) -> Int {
        var used = 0
        for (i, r) in results.enumerated() {
            used += r.output.count + r.reason.utf8.count + r.attempt.jobID.utf8.count + 64
            if used > budget { return max(i, 1) }
        }
        return results.count
    }

    private static func persistentID(dataDir: String) throws -> String {
        let path = dataDir + "/worker-id"
        if let existing = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !existing.isEmpty {
            return existing
        }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        let id = "\(host)-\(String(UInt16.random(in: 0...UInt16.max), radix: 16))"
        try (id + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return id
    }
}

/// The one error type of the Worker module.
public struct WorkerError: Swift.Error, CustomStringConvertible {
    public let description: String
    init(_ message: String) { description = message }
}
