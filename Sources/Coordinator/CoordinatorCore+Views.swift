import Foundation
import Platform
import Scheduler
import Wire

/// What `status`, `jobs` and `job` show of the state in memory.
extension CoordinatorCore {
    func summary(_ job: Scheduler.Job) -> JobSummary {
        let meta = jobMeta[job.id]
        return JobSummary(
            jobID: job.id.rawValue, name: meta?.name ?? "", state: job.state.rawValue, reason: job.reason,
            tasksTotal: UInt32(clamping: job.totalTasks), tasksSucceeded: UInt32(clamping: job.succeededTasks),
            tasksFailed: UInt32(clamping: job.failedTasks), tasksRunning: UInt32(clamping: job.activeTasks),
            submittedAtMs: meta?.submittedMs ?? 0, finishedAtMs: meta?.finishedMs ?? 0,
            tasksQueued: UInt32(clamping: job.queuedTasks), waiting: waiting(job.id))
    }

    /// Why a job's queued tasks do not run, in words with what to do about it.
    func waiting(_ id: JobID) -> String {
        switch scheduler.waitingReason(id) {
        case nil: return ""
        case .noWorkers: return "no worker is alive to run it (start one with `sluice worker` or `sluice local`)"
        case .missingCapabilities(let stage, let missing):
            let names = missing.sorted().map { "'\($0)'" }.joined(separator: ", ")
            var text = "no live worker can run stage \(stage): it needs \(names)"
            if missing.contains(Capability.commands) { text += " (start workers with --allow-commands)" }
            return text
        }
    }

    /// The live state of a running job for the journal reader to overlay.
    func liveJob(_ id: JobID) -> LiveJob? {
        guard let job = scheduler.jobs[id], job.state == .running else { return nil }
        var tasks: [StageTask: TaskPhase] = [:]
        var attempts: [AttemptID: LiveAttempt] = [:]
        for (s, stage) in job.stages.enumerated() {
            for (t, task) in stage.live {
                tasks[StageTask(stage: s, task: Int(t))] = task.phase
                for a in task.attempts {
                    guard let att = scheduler.attempts[a] else { continue }
                    attempts[a] = LiveAttempt(state: att.state, startedUs: attemptInfo[a]?.startedUs ?? 0)
                }
            }
        }
        return LiveJob(summary: summary(job), retries: job.plan.retries, untouched: job.stages.map(\.untouched),
                       tasks: tasks, attempts: attempts)
    }

    /// Service addresses of the workers in memory, by "id#incarnation".
    func workerAddresses() -> [String: String] {
        var out: [String: String] = [:]
        for (key, meta) in workerMeta { out[key.description] = meta.serviceAddress }
        return out
    }

    func clusterStatus(now: Int64) -> ClusterStatus {
        var leasedTotal = 0, runningTotal = 0
        let workers = scheduler.workers.values
            .filter { $0.state != .left }
            .sorted { $0.key < $1.key }
            .map { w -> WorkerStatus in
                let meta = workerMeta[w.key]
                let (leased, running) = scheduler.attemptCounts(of: w.key)
                leasedTotal += leased
                runningTotal += running
                return WorkerStatus(
                    workerID: w.key.id, incarnation: w.key.incarnation, host: meta?.host ?? "", state: w.state.rawValue,
                    slots: UInt32(clamping: w.slots), slotsUsed: UInt32(clamping: w.active.count), stats: meta?.stats ?? ResourceStats(),
                    lastHeartbeatAgeMs: meta.map { now - $0.lastHeartbeatMs } ?? -1, serviceAddress: meta?.serviceAddress ?? "",
                    labels: meta?.labels ?? [], tasksLeased: UInt32(clamping: leased), tasksRunning: UInt32(clamping: running),
                    stateAgeMs: now - w.since, capabilities: w.capabilities.sorted(), softwareVersion: meta?.softwareVersion ?? "",
                    dataAddress: meta?.dataAddress ?? "", tasksDone: UInt64(w.tasksDone))
            }
        let running = scheduler.jobs.values
            .filter { $0.state == .running }
            .sorted { (jobMeta[$0.id]?.seq ?? 0) < (jobMeta[$1.id]?.seq ?? 0) }
            .map { summary($0) }
        return ClusterStatus(coordinatorID: coordinatorID, coordinatorEpoch: epoch, workers: workers,
                             queueDepth: UInt32(clamping: scheduler.queueDepth), runningTasks: UInt32(clamping: runningTotal),
                             runningJobs: running, leasedTasks: UInt32(clamping: leasedTotal), coordinatorVersion: SluiceVersion.string,
                             uptimeMs: Int64(Date().timeIntervalSince(startedAt) * 1000), coordinatorRssBytes: ProcFS.residentBytes(),
                             journalBytes: journal.bytesOnDisk, jobsInMemory: UInt32(clamping: scheduler.jobs.count),
                             alerts: alerts.firingList, autoscaler: autoscale?.status() ?? AutoscalerStatus())
    }
}
