import Foundation
import Wire

/// The worker's shared state: what it holds, runs and has to report.
///
/// Every field is guarded by one mutex. Threads wait on four conditions, one
/// per kind of news, and an update wakes only the ones it names: with one
/// condition for everything, each task's start and end woke every thread of
/// the worker (executors, poller, reporter, drain), and those wake-ups were
/// most of a worker's time per short task.
final class Board: @unchecked Sendable {
    /// Who an update should wake.
    struct Wake: OptionSet {
        let rawValue: UInt8
        /// Executors: a task was queued (or the worker stops).
        static let work = Wake(rawValue: 1)
        /// The reporter: something is worth sending now.
        static let reports = Wake(rawValue: 2)
        /// The poller: there is room for more tasks.
        static let room = Wake(rawValue: 4)
        /// Anyone waiting for the worker's state: drain, shutdown.
        static let state = Wake(rawValue: 8)
        static let all: Wake = [.work, .reports, .room, .state]
    }

    struct Queued {
        var ref: AttemptRef
        var spec: TaskSpec
        var number: Int
        /// `sql` tasks: where the outputs of the stages they read are.
        var inputs: [StageOutputs] = []
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
    /// When the oldest unsent start and result were added: reports wait a little to carry more.
    var firstStartAt: Date?
    var firstResultAt: Date?

    /// How long tasks have been running here lately (a moving average), which sizes the lease-ahead.
    /// It starts at 10 ms: neither a flood of tasks nor one at a time until the worker knows better.
    var taskSeconds: Double = 0.01

    var registered = false
    var draining = false
    var stopping = false

    var held: Int { queue.count + running.count }
    var idle: Bool { queue.isEmpty && running.isEmpty }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let conditions = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 4)

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        for i in 0..<4 { pthread_cond_init(conditions + i, &attributes) }
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        for i in 0..<4 { pthread_cond_destroy(conditions + i) }
        pthread_mutex_destroy(mutex)
        conditions.deallocate()
        mutex.deallocate()
    }

    @discardableResult
    func locked<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Changes something others wait for, and wakes the ones named.
    @discardableResult
    func update<R>(_ wake: Wake, _ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer {
            signal(wake)
            pthread_mutex_unlock(mutex)
        }
        return try body()
    }

    /// Wakes the waiters on these conditions (lock held).
    func signal(_ wake: Wake) {
        for i in 0..<4 where wake.rawValue & (1 << i) != 0 { pthread_cond_broadcast(conditions + i) }
    }

    /// Waits (lock held) on one condition until `ready` or `timeout`; returns `ready()`.
    @discardableResult
    func wait(_ on: Wake, until ready: () -> Bool, timeout: TimeInterval) -> Bool {
        let index = on.rawValue.trailingZeroBitCount
        precondition(index < 4 && on.rawValue.nonzeroBitCount == 1, "Internal inconsistency: a wait names one condition (this is a bug, please report it)")
        guard timeout.isFinite else {
            while !ready() { pthread_cond_wait(conditions + index, mutex) }
            return true
        }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let total = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + max(0, timeout)
        var deadline = timespec(tv_sec: Int(total), tv_nsec: Int((total - Double(Int(total))) * 1e9))
        while !ready() {
            if pthread_cond_timedwait(conditions + index, mutex, &deadline) == ETIMEDOUT { return ready() }
        }
        return true
    }
}

typealias AttemptID = UInt64
