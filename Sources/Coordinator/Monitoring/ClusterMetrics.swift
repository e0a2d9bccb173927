import Foundation
import CoreMetrics
import Platform
import Prometheus
public import Scheduler
public import Wire

/// The coordinator's Prometheus metrics (`/metrics`), made with swift-metrics
/// over swift-prometheus's registry (the process's own, not the global one,
/// so several coordinators in one test process do not share counts).
/// Counters and histograms are fed as things happen on the loop; gauges of
/// state (workers, slots, queue) are set from the scheduler when scraped, and
/// workers' own figures from their latest heartbeat, labelled by worker.
public final class ClusterMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    public init() {
        var f = PrometheusMetricsFactory(registry: registry)
        let seconds: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250),
                                   .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
                                   .seconds(60), .seconds(300), .seconds(1800)]
        f.defaultDurationHistogramBuckets = seconds
        f.durationHistogramBuckets["sluice_journal_commit_seconds"] = [.microseconds(100), .microseconds(500), .milliseconds(1),
                                                                       .milliseconds(5), .milliseconds(25), .milliseconds(100), .seconds(1)]
        factory = f
        // Every series exists from the start (at 0), so rates and dashboards need no "absent" special cases.
        for kind in ["command", "builtin", "sql"] {
            for name in ["started", "retried", "succeeded", "failed", "lost", "cancelled"] { _ = counter("sluice_tasks_\(name)_total", kind) }
            _ = timer("sluice_task_duration_seconds", kind)
            _ = timer("sluice_task_queue_wait_seconds", kind)
        }
        _ = CoreMetrics.Counter(label: "sluice_shuffle_bytes_total", factory: factory)
        _ = CoreMetrics.Timer(label: "sluice_job_submit_to_first_task_seconds", factory: factory)
        _ = CoreMetrics.Timer(label: "sluice_journal_commit_seconds", factory: factory)
        for via in ["wire", "http"] { _ = CoreMetrics.Counter(label: "sluice_auth_refusals_total", dimensions: [("via", via)], factory: factory) }
    }

    // MARK: events, fed on the loop

    /// A task attempt was handed to a worker (`retry`: not its first attempt).
    public func leased(kind: String, retry: Bool, queueWaitNanos: Int64?) {
        counter("sluice_tasks_started_total", kind).increment()
        if retry { counter("sluice_tasks_retried_total", kind).increment() }
        if let w = queueWaitNanos { timer("sluice_task_queue_wait_seconds", kind).recordNanoseconds(max(0, w)) }
    }

    /// An attempt ended: counted by outcome, timed when it ran.
    public func ended(kind: String, state: AttemptState, runNanos: Int64?) {
        switch state {
        case .succeeded: counter("sluice_tasks_succeeded_total", kind).increment()
        case .failed, .timedOut: counter("sluice_tasks_failed_total", kind).increment()
        case .lost: counter("sluice_tasks_lost_total", kind).increment()
        case .cancelled: counter("sluice_tasks_cancelled_total", kind).increment()
        case .leased, .running: return
        }
        if let n = runNanos, n > 0 { timer("sluice_task_duration_seconds", kind).recordNanoseconds(n) }
    }

    func firstTask(afterNanos n: Int64) { CoreMetrics.Timer(label: "sluice_job_submit_to_first_task_seconds", factory: factory).recordNanoseconds(max(0, n)) }
    func journalCommit(nanos: Int64) { CoreMetrics.Timer(label: "sluice_journal_commit_seconds", factory: factory).recordNanoseconds(max(0, nanos)) }
    func request(kind: String, outcome: String) {
        CoreMetrics.Counter(label: "sluice_requests_total", dimensions: [("kind", kind), ("outcome", outcome)], factory: factory).increment()
    }
    func authRefused(via: String) { CoreMetrics.Counter(label: "sluice_auth_refusals_total", dimensions: [("via", via)], factory: factory).increment() }
    func shuffled(bytes: UInt64) {
        CoreMetrics.Counter(label: "sluice_shuffle_bytes_total", factory: factory).increment(by: Int64(clamping: bytes))
    }

    /// An autoscaling decision ("up" or "down").
    public func autoscaleDecision(_ direction: String) {
        CoreMetrics.Counter(label: "sluice_autoscaler_decisions_total", dimensions: [("direction", direction)], factory: factory).increment()
    }

    private func counter(_ name: String, _ kind: String) -> CoreMetrics.Counter { CoreMetrics.Counter(label: name, dimensions: [("kind", kind)], factory: factory) }
    private func timer(_ name: String, _ kind: String) -> CoreMetrics.Timer { CoreMetrics.Timer(label: name, dimensions: [("kind", kind)], factory: factory) }

    // MARK: state, set when scraped

    /// Workers whose labelled gauges exist, to remove those of workers gone.
    private var workerGauges: [String: [CoreMetrics.Gauge]] = [:]

    /// Sets the state gauges from `status` (what `sluice status` shows), then renders every metric.
    public func render(_ status: ClusterStatus, queriesRunning: Int, firingAlerts: Int) -> [UInt8] {
        var byState: [String: Int] = ["alive": 0, "suspect": 0, "draining": 0, "dead": 0]
        var slots = 0, busy = 0
        var seen: Set<String> = []
        for w in status.workers {
            byState[w.state, default: 0] += 1
            guard w.state != "dead" && w.state != "left" else { continue }
            slots += Int(w.slots)
            busy += Int(w.slotsUsed)
            let id = "\(w.workerID)#\(w.incarnation)"
            seen.insert(id)
            let dims = [("worker", id), ("host", w.host)]
            let gauges = workerGauges[id] ?? [
                CoreMetrics.Gauge(label: "sluice_worker_cpu_percent", dimensions: dims, factory: factory),
                CoreMetrics.Gauge(label: "sluice_worker_memory_bytes", dimensions: dims, factory: factory),
                CoreMetrics.Gauge(label: "sluice_worker_tasks_running", dimensions: dims, factory: factory),
                CoreMetrics.Gauge(label: "sluice_worker_shuffle_bytes", dimensions: dims, factory: factory),
                CoreMetrics.Gauge(label: "sluice_worker_heartbeat_age_seconds", dimensions: dims, factory: factory),
            ]
            workerGauges[id] = gauges
            gauges[0].record(w.stats.treeCpuPercent)
            gauges[1].record(Int64(clamping: w.stats.treeRssBytes))
            gauges[2].record(Int64(w.tasksRunning))
            gauges[3].record(Int64(clamping: w.stats.shuffleBytes))
            gauges[4].record(Double(max(0, w.lastHeartbeatAgeMs)) / 1000)
        }
        for (id, gauges) in workerGauges where !seen.contains(id) {
            for g in gauges { g.destroy() }
            workerGauges[id] = nil
        }
        for (state, n) in byState { gauge("sluice_workers", [("state", state)]).record(n) }
        gauge("sluice_slots_total").record(slots)
        gauge("sluice_slots_busy").record(busy)
        gauge("sluice_tasks_pending").record(Int(status.queueDepth))
        gauge("sluice_tasks_leased").record(Int(status.leasedTasks))
        gauge("sluice_tasks_running").record(Int(status.runningTasks))
        gauge("sluice_jobs_running").record(status.runningJobs.count)
        gauge("sluice_queries_running").record(queriesRunning)
        gauge("sluice_alerts_firing").record(firingAlerts)
        gauge("sluice_coordinator_resident_memory_bytes").record(Int64(clamping: status.coordinatorRssBytes))
        gauge("sluice_coordinator_open_fds").record(ProcFS.openDescriptors())
        gauge("sluice_coordinator_uptime_seconds").record(Double(status.uptimeMs) / 1000)
        gauge("sluice_journal_bytes").record(Int64(clamping: status.journalBytes))
        if status.autoscaler.enabled {
            gauge("sluice_autoscaler_desired_workers").record(Int(status.autoscaler.desired))
            gauge("sluice_autoscaler_workers").record(Int(status.autoscaler.workers))
            gauge("sluice_autoscaler_starting_workers").record(Int(status.autoscaler.starting))
        }
        return registry.emitToBuffer()
    }

    private func gauge(_ name: String, _ dims: [(String, String)] = []) -> CoreMetrics.Gauge { CoreMetrics.Gauge(label: name, dimensions: dims, factory: factory) }
}
