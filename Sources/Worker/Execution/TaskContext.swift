import Foundation
import Wire

/// What a runner needs to run one attempt, and how it reports the end.
struct TaskContext {
    let ref: AttemptRef
    let number: Int
    let spec: TaskSpec
    let workerID: String
    let board: Board

    var attemptID: UInt64 { ref.attemptID }
    var taskLabel: String { "\(ref.jobID)/\(ref.stage).\(ref.task)" }

    /// True once the coordinator asked to stop this attempt or its timeout passed.
    var shouldStop: Bool {
        board.locked {
            guard let r = board.running[ref.attemptID] else { return true }
            return r.cancelRequested || r.timedOut || board.stopping
        }
    }

    /// How the attempt ended when it was stopped from outside, if it was.
    var stopOutcome: (AttemptOutcome, String)? {
        board.locked {
            guard let r = board.running[ref.attemptID] else { return nil }
            if r.timedOut { return (.timedOut, "timed out after \(spec.timeoutMs) ms") }
            if r.cancelRequested { return (.cancelled, "cancelled") }
            if board.stopping { return (.failed, "the worker stopped before the task finished") }
            return nil
        }
    }
}

/// The end of an attempt as a runner saw it.
struct RunOutcome {
    var outcome: AttemptOutcome
    var exitCode: Int32 = 0
    var reason = ""
    var output: [UInt8] = []
    /// A `sql` task that could not read an input: which (uses no retry).
    var inputLost: InputLost?
    /// A `sql` task's output: the bytes of each bucket.
    var bucketBytes: [UInt64] = []
    /// A `sql` task's output rows.
    var rows: UInt64 = 0
    /// Threads a `sql` task ran on.
    var threads: UInt32 = 0
    /// What a `sql` task spilled.
    var spilledBytes: UInt64 = 0

    static let success = RunOutcome(outcome: .succeeded)
}
