import Foundation
import Wire

/// The worker's shared state: what it holds, runs and has to report.
/// Every field is guarded by `condition`; threads wait on it for work.
final class Board: @unchecked Sendable {
    let condition = NSCondition()

    struct Queued {
        var ref: AttemptRef
        var spec: TaskSpec
        var number: Int
    }

    struct Running {
        var ref: AttemptRef
        var startedUs: Int64
        /// The task's process group while a command runs (0 otherwise).
        var group: Int32 = 0
        var deadline: Date?
        var cancelRequested = false
        var timedOut = false
        var killSentAt: Date?
    }

    var queue: [Queued] = []
    var running: [AttemptID: Running] = [:]
    /// Reports not yet acknowledged by the coordinator (`sending` ones are in a request now).
    var starts: [TaskStart] = []
    var results: [TaskResult] = []
    var sendingStarts: [TaskStart] = []
    var sendingResults: [TaskResult] = []
    var released: [AttemptRef] = []

    var registered = false
    var draining = false
    var stopping = false

    var held: Int { queue.count + running.count }

    @discardableResult
    func locked<R>(_ body: () throws -> R) rethrows -> R {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }

    /// Changes something others wait for, and wakes them.
    @discardableResult
    func update<R>(_ body: () throws -> R) rethrows -> R {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }

    /// Waits (lock held) until `ready` or `timeout`; returns `ready()`.
    @discardableResult
    func wait(until ready: () -> Bool, timeout: TimeInterval) -> Bool {
        guard timeout.isFinite else {
            while !ready() { condition.wait() }
            return true
        }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !ready() {
            if !condition.wait(until: deadline) { return ready() }
        }
        return true
    }
}

typealias AttemptID = UInt64
