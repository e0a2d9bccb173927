import Foundation
import Scheduler

/// Journal retention: finished jobs older than `--retain` leave the journal,
/// a few thousand rows per loop turn so that no turn stalls.
extension CoordinatorCore {
    struct Pruning {
        var queue: [Journal.Expired] = []
        var lastCheckMs: Int64 = 0
        var prunedJobs = 0
    }

    static let pruneCheckIntervalMs: Int64 = 60_000
    static let pruneRowsPerTurn = 2_000

    func prune(now: Int64) {
        do {
            if pruning.queue.isEmpty {
                guard now - pruning.lastCheckMs >= min(Self.pruneCheckIntervalMs, max(1_000, config.retainMs / 4)) else { return }
                pruning.lastCheckMs = now
                // Jobs still in memory are not pruned under their views' feet.
                pruning.queue = try journal.expiredJobs(finishedBefore: now - config.retainMs, limit: 100)
                    .filter { scheduler.jobs[JobID($0.id)] == nil }
                return
            }
            let job = pruning.queue[0]
            if try journal.prune(job, rows: Self.pruneRowsPerTurn) {
                pruning.queue.removeFirst()
                pruning.prunedJobs += 1
                logger.debug("pruned a finished job from the journal", metadata: ["job.id": "\(job.id)"])
                if pruning.queue.isEmpty { pruning.lastCheckMs = 0 }
            }
        } catch {
            logger.error("journal retention failed; trying again later", metadata: ["error": "\(error)"])
            pruning.queue.removeAll()
            pruning.lastCheckMs = now
        }
    }
}
