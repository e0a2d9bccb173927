import Foundation
import Logging
import Scheduler
import Wire

/// The shell around the autoscaling policy (`--autoscale FILE`). Once a
/// second the loop hands it the scheduler's observation; the policy's
/// decision is journaled with its reason and, unless `dry_run`, carried out
/// by the provider on a queue of its own (providers are slow: processes,
/// ssh, a cloud API). Workers asked for count as `starting` until they
/// register (or 2 minutes pass), so a slow start is not asked for twice.
final class AutoscaleService: @unchecked Sendable {
    let config: AutoscaleConfig
    private var autoscaler: Autoscaler
    private let provider: WorkerProvider
    private let journal: AutoscaleJournal
    private let logger: Logger
    private let context: ProviderContext
    private let queue = DispatchQueue(label: "sluice-autoscale")
    private let lock = NSLock()
    // Guarded by `lock`: what the provider was asked for and has not registered.
    private var startingNamed: [String: Int64] = [:]
    private var startingAnonymous: [Int64] = []
    /// Workers the provider started (their ids), as far as it named them.
    private var managedIDs: Set<String> = []
    private var lastObservedMs: Int64 = 0
    private(set) var lastDecision = ""
    private var lastCounted = 0

    /// A worker asked for and not registered within this long is no longer expected.
    static let startTimeoutMs: Int64 = 120_000

    /// Told of every decision (the metrics count them by direction).
    var onDecision: @Sendable (String) -> Void = { _ in }

    init(config: AutoscaleConfig, dataDir: String, coordinator: String, clusterID: String, secretFile: String?, logger: Logger) throws {
        self.config = config
        self.logger = logger
        journal = try AutoscaleJournal(dir: dataDir)
        autoscaler = Autoscaler(policy: config.policy, lastChangeMs: try journal.lastChangeMs())
        switch config.provider {
        case .local(let slots):
            let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            provider = LocalProvider(dataDir: dataDir, binary: binary, slots: slots, secretFile: secretFile)
        case .command(let run, let timeoutMs):
            provider = CommandProvider(run: run, timeoutMs: timeoutMs)
        case .ssh(let settings):
            provider = try SSHProvider(settings: settings)
        }
        // Workers a predecessor started and that still run will re-register: they count until then, so none is started twice.
        managedIDs = Set(provider.running())
        let now = Date().unixMilliseconds
        for id in managedIDs { startingNamed[id] = now }
        context = ProviderContext(cluster: clusterID, coordinator: coordinator, slots: config.policy.slotsPerWorker, workers: [])
        logger.info("autoscaler on", metadata: ["provider": "\(providerName)", "min": "\(config.policy.minWorkers)", "max": "\(config.policy.maxWorkers)",
                                                "dry.run": "\(config.dryRun)", "known.workers": "\(managedIDs.count)"])
    }

    var providerName: String {
        switch config.provider {
        case .local: "local"
        case .ssh: "ssh"
        case .command: "command"
        }
    }

    /// Whether workers asked for have not registered yet: the loop then caps lease-ahead (`scaleUpPending`).
    var awaitingWorkers: Bool { lock.withLock { !startingNamed.isEmpty || !startingAnonymous.isEmpty } }

    /// Called on the loop every turn; observes once a second.
    func tick(_ scheduler: Scheduler, now: Int64) {
        guard now - lastObservedMs >= 1000 else { return }
        lastObservedMs = now
        let registered = Set(scheduler.workers.values.filter { $0.state == .alive || $0.state == .suspect || $0.state == .draining }.map(\.key.id))
        let (starting, managed): (Int, Set<String>) = lock.withLock {
            startingNamed = startingNamed.filter { !registered.contains($0.key) && now - $0.value < Self.startTimeoutMs }
            // A worker that registered and was not named by the provider takes one anonymous start.
            startingAnonymous = startingAnonymous.filter { now - $0 < Self.startTimeoutMs }
            return (startingNamed.count + startingAnonymous.count, managedIDs)
        }
        let anonymous = config.provider.namesWorkers ? nil : registered.subtracting(managed)
        let observation = scheduler.autoscaleObservation(now: now, starting: starting,
                                                         managed: { id in managed.contains(id) || (anonymous?.contains(id) ?? false) })
        lastCounted = observation.workers.filter { !$0.draining }.count
        guard let decision = autoscaler.observe(observation) else { return }
        act(decision, observation, now: now)
    }

    private func act(_ decision: AutoscaleDecision, _ o: AutoscaleObservation, now: Int64) {
        var record = AutoscaleJournal.Record(atMs: now, direction: "", count: 0, workers: [], desired: autoscaler.desired, actual: lastCounted,
                                             reason: "", acted: !config.dryRun, error: "")
        switch decision {
        case .scaleUp(let n, let reason):
            (record.direction, record.count, record.reason) = ("up", n, reason)
        case .scaleDown(let w, let reason):
            (record.direction, record.count, record.workers, record.reason) = ("down", 1, [w], reason)
        }
        onDecision(record.direction)
        lastDecision = "\(record.direction) \(record.count)" + (record.workers.isEmpty ? "" : " (\(record.workers.joined(separator: ",")))") + ": \(record.reason)"
        logger.info("autoscale decision", metadata: ["direction": "\(record.direction)", "count": "\(record.count)", "workers": "\(record.workers.joined(separator: ","))",
                                                     "desired": "\(record.desired)", "actual": "\(record.actual)", "reason": "\(record.reason)",
                                                     "dry.run": "\(config.dryRun)"])
        if config.dryRun {
            try? journal.append(record)
            return
        }
        if case .scaleUp(let n, _) = decision { lock.withLock { startingAnonymous += Array(repeating: now, count: n) } }
        var c = context
        c.workers = o.workers.map(\.id)
        let ctx = c, decided = record
        queue.async { [self] in
            var record = decided
            do {
                switch decision {
                case .scaleUp(let n, _):
                    let started = try provider.add(n, ctx)
                    let ids = started.ids
                    if !started.problems.isEmpty {
                        record.error = started.problems.joined(separator: "; ")
                        logger.warning("the autoscale provider skipped hosts", metadata: ["provider": "\(providerName)", "problems": "\(record.error)"])
                    }
                    lock.withLock {
                        // Named starts replace the anonymous ones they account for.
                        for id in ids { startingNamed[id] = now; managedIDs.insert(id) }
                        startingAnonymous.removeFirst(min(ids.count, startingAnonymous.count))
                    }
                    record.workers = ids
                case .scaleDown(let w, _):
                    try provider.remove([w], ctx)
                }
            } catch {
                record.acted = false
                record.error = "\(error)"
                if case .scaleUp(let n, _) = decision { lock.withLock { startingAnonymous.removeFirst(min(n, startingAnonymous.count)) } }
                logger.error("the autoscale provider failed", metadata: ["provider": "\(providerName)", "error": "\(error)"])
            }
            do { try journal.append(record) } catch { logger.error("cannot journal an autoscale decision", metadata: ["error": "\(error)"]) }
        }
    }

    func status() -> AutoscalerStatus {
        let starting = lock.withLock { startingNamed.count + startingAnonymous.count }
        return AutoscalerStatus(enabled: true, provider: providerName, min: UInt32(config.policy.minWorkers), max: UInt32(config.policy.maxWorkers),
                                desired: UInt32(autoscaler.desired), workers: UInt32(lastCounted), starting: UInt32(starting), dryRun: config.dryRun,
                                lastDecision: lastDecision)
    }

    func history(limit: Int) throws -> [AutoscaleDecisionInfo] {
        try journal.history(limit: limit).map {
            AutoscaleDecisionInfo(atMs: $0.atMs, direction: $0.direction, count: UInt32($0.count), workers: $0.workers, desired: UInt32($0.desired),
                                  actual: UInt32($0.actual), reason: $0.reason, acted: $0.acted, error: $0.error)
        }
    }
}

extension AutoscaleConfig.Provider {
    /// Whether the provider says which ids its workers register under.
    var namesWorkers: Bool {
        switch self {
        case .local, .ssh: true
        case .command: false
        }
    }
}
