import Wire

/// The alerts of the rules in force: what is pending (its condition holds,
/// its `for` not yet), what fires, and the notices of each change. Fed on the
/// loop with what happened and what the state is; pure (the caller gives the time).
struct AlertBook {
    struct Key: Hashable {
        var rule: String
        var subject: String
    }

    /// A change to tell the rule's receivers about.
    struct Notice: Encodable, Sendable {
        var rule: String
        /// "firing" or "resolved".
        var state: String
        var subject: String
        var value: String
        var atMs: Int64
    }

    /// How long an alert of an event (a failed job, a restart) stays firing.
    static let eventHoldMs: Int64 = 300_000
    /// The window of `retry_rate_above`.
    static let retryWindowMs: Int64 = 300_000

    let rules: [AlertRule]
    private var pending: [Key: (since: Int64, value: String)] = [:]
    private(set) var firing: [Key: FiringAlert] = [:]
    /// Leases in the retry window: (time, was a retry).
    private var leases: [(Int64, Bool)] = []

    init(rules: [AlertRule]) {
        self.rules = rules
    }

    var firingList: [FiringAlert] { firing.values.sorted { ($0.sinceMs, $0.rule, $0.subject) < ($1.sinceMs, $1.rule, $1.subject) } }

    // MARK: what happened

    mutating func workerDied(_ worker: String, now: Int64) -> [Notice] {
        rules.filter { $0.trigger == .workerLost }.flatMap { begin($0, subject: worker, value: "worker \(worker) is dead", now: now) }
    }

    /// A worker with this id is alive (again): its lost alerts resolve.
    mutating func workerAlive(_ worker: String, now: Int64) -> [Notice] {
        rules.filter { $0.trigger == .workerLost }.flatMap { end($0, subject: worker, value: "worker \(worker) is alive", now: now) }
    }

    mutating func jobFailed(_ job: String, reason: String, now: Int64) -> [Notice] {
        rules.filter { $0.trigger == .jobFailed }.flatMap { begin($0, subject: job, value: reason, now: now) }
    }

    /// A pipeline run failed (`pipeline_failed`) or missed its SLA (`sla_missed`); the subject is the run.
    mutating func pipelineEvent(_ trigger: AlertRule.Trigger, run: String, value: String, now: Int64) -> [Notice] {
        rules.filter { $0.trigger == trigger }.flatMap { begin($0, subject: run, value: value, now: now) }
    }

    mutating func restarted(epoch: UInt64, now: Int64) -> [Notice] {
        guard epoch > 1 else { return [] }
        return rules.filter { $0.trigger == .coordinatorRestarted }.flatMap { begin($0, subject: "coordinator", value: "epoch \(epoch)", now: now) }
    }

    mutating func leased(retry: Bool, now: Int64) {
        guard rules.contains(where: { if case .retryRateAbove = $0.trigger { true } else { false } }) else { return }
        leases.append((now, retry))
    }

    // MARK: every turn

    /// Checks the conditions on state and the `for` of pending alerts.
    mutating func evaluate(now: Int64, queueDepth: Int) -> [Notice] {
        leases.removeAll { now - $0.0 > Self.retryWindowMs }
        var out: [Notice] = []
        for rule in rules {
            switch rule.trigger {
            case .queueDepthAbove(let n):
                let value = "queue depth \(queueDepth) (above \(n))"
                out += queueDepth > n ? begin(rule, subject: "queue", value: value, now: now) : end(rule, subject: "queue", value: value, now: now)
            case .retryRateAbove(let r):
                let retries = leases.filter(\.1).count
                let rate = leases.isEmpty ? 0 : Double(retries) / Double(leases.count)
                let value = "\(retries) of \(leases.count) attempts in 5 min were retries"
                out += rate > r ? begin(rule, subject: "retries", value: value, now: now) : end(rule, subject: "retries", value: value, now: now)
            case .jobFailed, .coordinatorRestarted, .pipelineFailed, .slaMissed:
                // Events: they resolve on their own after a while.
                for (k, f) in firing where k.rule == rule.name && now - f.sinceMs >= rule.forMs + Self.eventHoldMs {
                    out += end(rule, subject: k.subject, value: f.value, now: now)
                }
            case .workerLost:
                break
            }
            // Conditions that have held long enough fire.
            for (k, p) in pending where k.rule == rule.name && now - p.since >= rule.forMs {
                pending[k] = nil
                firing[k] = FiringAlert(rule: rule.name, subject: k.subject, sinceMs: now, value: p.value)
                out.append(Notice(rule: rule.name, state: "firing", subject: k.subject, value: p.value, atMs: now))
            }
        }
        return out
    }

    private mutating func begin(_ rule: AlertRule, subject: String, value: String, now: Int64) -> [Notice] {
        let k = Key(rule: rule.name, subject: subject)
        guard firing[k] == nil, pending[k] == nil else { return [] }
        guard rule.forMs == 0 else {
            pending[k] = (now, value)
            return []
        }
        firing[k] = FiringAlert(rule: rule.name, subject: subject, sinceMs: now, value: value)
        return [Notice(rule: rule.name, state: "firing", subject: subject, value: value, atMs: now)]
    }

    private mutating func end(_ rule: AlertRule, subject: String, value: String, now: Int64) -> [Notice] {
        let k = Key(rule: rule.name, subject: subject)
        pending[k] = nil
        guard firing.removeValue(forKey: k) != nil else { return [] }
        return [Notice(rule: rule.name, state: "resolved", subject: subject, value: value, atMs: now)]
    }
}
