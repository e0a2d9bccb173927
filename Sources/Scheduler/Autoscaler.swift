/// How the pool of workers follows the queue (`sluice coordinator --autoscale`):
/// the limits, windows and cooldowns of `Autoscaler`. Every default is in docs/runtime.md.
public struct AutoscalePolicy: Sendable, Equatable, Codable {
    public var minWorkers = 1
    public var maxWorkers = 4
    /// Task slots each new worker brings: the divisor of demand.
    public var slotsPerWorker = 2
    /// Desired must exceed the count this long before a scale-up.
    public var upWindowMs: Int64 = 10_000
    /// A worker without a task this long may be released.
    public var idleTimeoutMs: Int64 = 60_000
    /// After any change: no scale-up for `upCooldownMs`, no scale-down for `downCooldownMs`.
    public var upCooldownMs: Int64 = 30_000
    public var downCooldownMs: Int64 = 60_000
    /// A recommendation is acted on when it came this many observations in a row.
    public var consecutive = 3

    public init() {}

    /// Why the policy cannot be used, or nil.
    public var problem: String? {
        if minWorkers < 0 { return "min must be at least 0" }
        if maxWorkers < max(1, minWorkers) { return "max must be at least 1 and at least min" }
        if slotsPerWorker < 1 { return "slots_per_worker must be at least 1" }
        if [upWindowMs, idleTimeoutMs, upCooldownMs, downCooldownMs].contains(where: { $0 < 0 }) { return "windows and cooldowns cannot be negative" }
        if consecutive < 1 { return "consecutive must be at least 1" }
        return nil
    }
}

/// What the autoscaler sees at one moment: the queue and the provider's workers.
public struct AutoscaleObservation: Sendable, Equatable {
    public struct Worker: Sendable, Equatable {
        public var id: String
        /// It runs or holds a lease of a task now.
        public var busy: Bool
        /// It holds shuffle output a running job still needs: releasing it would lose that work.
        public var holdsNeededOutputs: Bool
        /// Being drained already: no new tasks, not counted.
        public var draining: Bool
        /// Started by the provider, so the autoscaler may release it (other workers count, and stay).
        public var managed: Bool
        public init(id: String, busy: Bool, holdsNeededOutputs: Bool = false, draining: Bool = false, managed: Bool = true) {
            self.id = id
            self.busy = busy
            self.holdsNeededOutputs = holdsNeededOutputs
            self.draining = draining
            self.managed = managed
        }
    }
    public var nowMs: Int64
    public var pending: Int
    public var leased: Int
    public var running: Int
    public var workers: [Worker]
    /// Asked of the provider and not registered yet: they count, so a slow start is not asked for twice.
    public var starting: Int
    public init(nowMs: Int64, pending: Int, leased: Int, running: Int, workers: [Worker], starting: Int = 0) {
        self.nowMs = nowMs
        self.pending = pending
        self.leased = leased
        self.running = running
        self.workers = workers
        self.starting = starting
    }
}

public enum AutoscaleDecision: Sendable, Equatable {
    case scaleUp(add: Int, reason: String)
    /// Drain this worker (no new tasks, finish its running ones), then release it.
    case scaleDown(worker: String, reason: String)
}

/// The autoscaling policy, pure: observations in, a decision out, no clock.
///
///     demand  = pending + leased + running tasks
///     desired = clamp(ceil(demand / slots_per_worker), min, max)
///
/// - Below `min` it adds at once.
/// - It scales up when desired has exceeded the count (workers plus those
///   starting) for `upWindowMs`, by at most doubling the count.
/// - It scales down one idle worker at a time: the one idle longest, idle
///   at least `idleTimeoutMs`, not holding shuffle output a running job
///   needs, while the count is above both desired and `min`.
/// - After any change: no scale-up for `upCooldownMs`, no scale-down for
///   `downCooldownMs`.
/// - A decision is returned only when the same recommendation came
///   `consecutive` observations in a row (dask's `wait_count`), so a queue
///   that oscillates does not make the pool flap.
public struct Autoscaler: Sendable {
    public let policy: AutoscalePolicy
    /// The last change's time (restored from the journal after a restart, so cooldowns hold).
    public private(set) var lastChangeMs: Int64?
    public private(set) var desired = 0
    private var upSince: Int64?
    private var streak: (key: String, count: Int)?
    /// Since when each worker has been seen without a task (from the observations; a restart starts them again).
    private var idleSince: [String: Int64] = [:]

    public init(policy: AutoscalePolicy, lastChangeMs: Int64? = nil) {
        self.policy = policy
        self.lastChangeMs = lastChangeMs
    }

    public mutating func observe(_ o: AutoscaleObservation) -> AutoscaleDecision? {
        let p = policy
        let demand = o.pending + o.leased + o.running
        desired = min(max((demand + p.slotsPerWorker - 1) / p.slotsPerWorker, p.minWorkers), p.maxWorkers)
        var idle: [String: Int64] = [:]
        for w in o.workers where !w.busy { idle[w.id] = idleSince[w.id] ?? o.nowMs }
        idleSince = idle
        let counted = o.workers.filter { !$0.draining }
        let current = counted.count + o.starting
        if current < p.minWorkers {
            streak = nil
            return changed(.scaleUp(add: p.minWorkers - current, reason: "\(current) workers, below the minimum of \(p.minWorkers)"), o.nowMs)
        }
        let last = lastChangeMs
        func since(_ limit: Int64) -> Bool { last.map { o.nowMs - $0 >= limit } ?? true }
        var recommendation: AutoscaleDecision?
        if desired > current {
            if upSince == nil { upSince = o.nowMs }
            if o.nowMs - upSince! >= p.upWindowMs, since(p.upCooldownMs) {
                let add = min(desired - current, max(current, 1))
                recommendation = .scaleUp(add: add, reason: "demand \(demand) tasks (\(o.pending) pending, \(o.leased) leased, \(o.running) running) "
                    + "at \(p.slotsPerWorker) slots a worker wants \(desired) workers, \(current) for \((o.nowMs - upSince!) / 1000) s")
            }
        } else {
            upSince = nil
            if current > desired, current > p.minWorkers, since(p.downCooldownMs) {
                let candidates = counted.filter { w in idle[w.id].map { o.nowMs - $0 >= p.idleTimeoutMs } ?? false }
                    .sorted { (idle[$0.id]!, $0.id) < (idle[$1.id]!, $1.id) }
                if let w = candidates.first(where: { $0.managed && !$0.holdsNeededOutputs }) {
                    recommendation = .scaleDown(worker: w.id, reason: "demand \(demand) tasks wants \(desired) workers, \(current) now; "
                        + "\(w.id) idle for \((o.nowMs - idle[w.id]!) / 1000) s")
                }
            }
        }
        guard let recommendation else {
            streak = nil
            return nil
        }
        let key: String
        switch recommendation {
        case .scaleUp: key = "up"
        case .scaleDown(let w, _): key = "down " + w
        }
        let count = streak?.key == key ? streak!.count + 1 : 1
        streak = (key, count)
        guard count >= p.consecutive else { return nil }
        streak = nil
        return changed(recommendation, o.nowMs)
    }

    private mutating func changed(_ d: AutoscaleDecision, _ now: Int64) -> AutoscaleDecision {
        lastChangeMs = now
        upSince = nil
        return d
    }
}
