import Columnar
import Foundation
import SQL

/// What every thread of one run of a plan shares: whether to go on (the
/// session's Ctrl-C, the first error anywhere, the consumer having all it
/// wants, or the same of the run this one serves), the threads to join at
/// the end, and what to wake when it stops. A subquery's or a CTE's run is a
/// child of the query's: it stops when its parent does.
final class RunContext: @unchecked Sendable, Wakeable {
    let cancel: Cancellation
    let quarantines: QuarantineSet
    let stats: RunStats
    /// How many partitions a spread node runs in.
    let partitions: Int
    /// The query's memory budget and where its operators spill (nil: unbounded, as before a limit is set).
    let memory: MemoryPool?
    let spill: SpillSpace?
    /// Operators of the query that hold rows under the budget at once (sorts, aggregates, joins' builds), per partition.
    let holders: Int
    private let parent: RunContext?
    private let lock = NSLock()
    // Guarded by `lock`.
    private var failure: SQLError?
    private var stopped = false
    private var sleepers: [Wakeable] = []
    private let threads = DispatchGroup()

    init(cancel: Cancellation, partitions: Int, quarantines: QuarantineSet = QuarantineSet(), stats: RunStats = RunStats(), parent: RunContext? = nil,
         memory: MemoryPool? = nil, spill: SpillSpace? = nil, holders: Int = 1) {
        self.holders = max(1, holders)
        self.memory = memory
        self.spill = spill
        self.cancel = cancel
        self.partitions = max(1, partitions)
        self.quarantines = quarantines
        self.stats = stats
        self.parent = parent
        parent?.register(self)
    }

    /// A run serving this one (a CTE computed on first use), sharing its settings.
    func child() -> RunContext {
        RunContext(cancel: cancel, partitions: partitions, quarantines: quarantines, stats: stats, parent: self, memory: memory, spill: spill, holders: holders)
    }

    /// Throws when the run must end: the session was cancelled, a thread failed,
    /// or the consumer stopped early (`SQLError.stopped`, which threads end on quietly).
    func check() throws(SQLError) {
        try cancel.check()
        lock.lock()
        let (f, s) = (failure, stopped)
        lock.unlock()
        if let f { throw f }
        if s { throw SQLError.stopped }
        try parent?.check()
    }

    var isStopped: Bool {
        lock.lock()
        let own = stopped || failure != nil
        lock.unlock()
        return own || cancel.isCancelled || (parent?.isStopped ?? false)
    }

    /// A reservation of this run's pool for one operator instance, with where
    /// it spills (nil when the run has no memory limit). Its share is the pool
    /// over the operators that may hold rows at once (each holder of each
    /// partition), over `ways` more for a small one (a partial aggregate).
    func reservation(_ owner: String, ways: Int = 1) -> (MemoryReservation, SpillSpace)? {
        guard let memory, let spill else { return nil }
        return (MemoryReservation(memory, owner: owner, share: max(1 << 20, memory.limit / max(1, partitions * holders * ways))), spill)
    }

    /// Records the first error; every thread ends at its next check.
    func fail(_ error: SQLError) {
        if error == .stopped { return }
        lock.lock()
        if failure == nil { failure = error }
        lock.unlock()
        wake()
    }

    /// The consumer has what it wants (a LIMIT was reached, the run is over): stop producing.
    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        wake()
    }

    /// The error that ended the run, if any.
    var error: SQLError? {
        lock.lock()
        defer { lock.unlock() }
        return failure
    }

    /// `w` is woken when the run stops or fails (channels, waits on shared state, child runs).
    func register(_ w: Wakeable) {
        lock.lock()
        sleepers.append(w)
        lock.unlock()
    }

    func wake() {
        lock.lock()
        let all = sleepers
        lock.unlock()
        for w in all { w.wake() }
    }

    /// Runs `body` on a thread of its own, joined by `join()`; an error it throws ends the run.
    /// The closure (and the operators it holds) belongs to that thread alone from here on.
    func spawn(_ name: String, _ body: @escaping () throws(SQLError) -> Void) {
        threads.enter()
        let handed = HandedOver(body)
        let t = Thread { [self] in
            defer { threads.leave() }
            do throws(SQLError) { try handed.value() } catch { fail(error) }
        }
        t.name = name
        t.stackSize = 4 << 20
        t.start()
    }

    /// Runs body(0), ..., body(n - 1) at once, body(0) on this thread, and
    /// returns when all are done (a parallel build by a thread that others wait for).
    func parallel(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
        guard n > 1 else { if n == 1 { body(0) }; return }
        let group = DispatchGroup()
        for k in 1..<n {
            group.enter()
            let t = Thread {
                body(k)
                group.leave()
            }
            t.name = "sluice-build-\(k)"
            t.stackSize = 1 << 20
            t.start()
        }
        body(0)
        group.wait()
    }

    /// Stops the run and waits for every thread it started.
    func join() {
        stop()
        threads.wait()
    }
}

/// A value moved to another thread, which alone uses it from then on.
struct HandedOver<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Something a stopping run must wake: a thread may be asleep in it.
protocol Wakeable: AnyObject {
    func wake()
}

extension SQLError {
    /// Not an error: the consumer of a run had all it wanted and stopped it.
    static var stopped: SQLError { .execution("internal: run stopped") }
}

/// The operators' statistics of a query's runs, by plan tree and node, for EXPLAIN ANALYZE.
final class RunStats: @unchecked Sendable {
    struct Key: Hashable {
        var tree: Int
        var node: Int
    }
    private let lock = NSLock()
    private var stats: [Key: [OperatorStats]] = [:]

    func record(_ s: OperatorStats, tree: Int, node: Int) {
        lock.lock()
        stats[Key(tree: tree, node: node), default: []].append(s)
        lock.unlock()
    }

    /// Every instance's statistics for a node (read after the run joined its threads).
    func of(tree: Int, node: Int) -> [OperatorStats] {
        lock.lock()
        defer { lock.unlock() }
        return stats[Key(tree: tree, node: node)] ?? []
    }
}

/// A value computed once, by the first thread that asks; the others wait for
/// it (a shared hash join build, a CTE's rows, a broadcast). A failure is
/// remembered and thrown to every caller.
final class Once<Value>: @unchecked Sendable, Wakeable {
    private enum State {
        case empty, running, done(Value), failed(SQLError)
    }
    private let condition = NSCondition()
    private var state = State.empty
    private let context: RunContext

    init(context: RunContext) {
        self.context = context
        context.register(self)
    }

    func get(_ make: () throws(SQLError) -> Value) throws(SQLError) -> Value {
        condition.lock()
        while true {
            switch state {
            case .done(let v):
                condition.unlock()
                return v
            case .failed(let e):
                condition.unlock()
                throw e
            case .running:
                if context.isStopped {
                    condition.unlock()
                    try context.check()
                    throw SQLError.stopped
                }
                condition.wait()
            case .empty:
                state = .running
                condition.unlock()
                let outcome: State
                do { outcome = .done(try make()) } catch { outcome = .failed(error) }
                condition.lock()
                state = outcome
                condition.broadcast()
            }
        }
    }

    func wake() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }
}

/// For a RIGHT or FULL join whose build (inner) rows all its partitions share:
/// which of those rows some partition matched. Each partition hands in its
/// flags when its probe side is done; the last one gets them all combined and
/// emits the rows no partition matched.
final class SharedMatches: @unchecked Sendable {
    private let lock = NSLock()
    private var combined: [Bool]?
    private var waiting: Int

    init(partitions: Int) {
        waiting = partitions
    }

    /// The combined flags for the last partition to finish; nil for the others.
    func finish(_ flags: [Bool]) -> [Bool]? {
        lock.lock()
        defer { lock.unlock() }
        if var all = combined {
            for i in all.indices where flags[i] { all[i] = true }
            combined = all
        } else {
            combined = flags
        }
        waiting -= 1
        return waiting == 0 ? combined : nil
    }
}
