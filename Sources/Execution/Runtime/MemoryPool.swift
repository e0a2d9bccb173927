import Foundation
import SQL

/// The memory budget of one query (`--memory-limit`, `SET memory_limit`):
/// the operators that hold rows (hash aggregate, sort, ...) reserve what
/// they hold before they hold it, and spill to disk when a reservation is
/// refused. Accounting, not allocation: the bytes are the operators' own
/// estimates of what they keep (a batch's buffers, a table's entries).
public final class MemoryPool: @unchecked Sendable {
    public let limit: Int
    // Guarded by `lock` (an NSLock, as the rest of the engine: ThreadSanitizer follows pthread mutexes).
    private let lock = NSLock()
    private var usedBytes = 0
    private var peakBytes = 0

    public init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// Takes `bytes` from the pool, or nothing and false when that would pass the limit.
    func reserve(_ bytes: Int) -> Bool {
        guard bytes > 0 else { return true }
        return lock.withLock {
            guard bytes <= limit - usedBytes else { return false }
            usedBytes += bytes
            peakBytes = max(peakBytes, usedBytes)
            return true
        }
    }

    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        lock.withLock { usedBytes = max(0, usedBytes - bytes) }
    }

    public var used: Int { lock.withLock { usedBytes } }
    /// The most that was reserved at once.
    public var peak: Int { lock.withLock { peakBytes } }

    /// 80% of the machine's memory, as DuckDB's default.
    public static var defaultLimit: Int { Int(Double(ProcessInfo.processInfo.physicalMemory) * 0.8) }
}

/// What one operator instance holds of its pool: it grows before holding
/// more and is freed when the operator spills or ends. Single-threaded (an
/// operator instance runs on one thread).
final class MemoryReservation {
    let pool: MemoryPool
    /// Names the operator in errors ("ORDER BY", "GROUP BY").
    let owner: String
    /// The most it grows to (`grow` says no beyond it): its share of the pool
    /// beside the operators running at once, so the first one does not take it all.
    let share: Int
    private(set) var bytes = 0
    private(set) var peak = 0

    init(_ pool: MemoryPool, owner: String, share: Int) {
        self.pool = pool
        self.owner = owner
        self.share = share
    }

    deinit { pool.release(bytes) }

    /// Holds `more` bytes if the pool has them.
    func grow(_ more: Int) -> Bool {
        guard more <= share - bytes, pool.reserve(more) else { return false }
        bytes += max(0, more)
        peak = max(peak, bytes)
        return true
    }

    /// Holds `more` bytes or fails the query: for state that cannot be spilled
    /// (one group, one run's batch), so the message says what to raise.
    func require(_ more: Int, _ what: String) throws(SQLError) {
        // Beyond its share if need be: the share is for what may spill, this may not.
        if pool.reserve(more) {
            bytes += max(0, more)
            peak = max(peak, bytes)
        } else {
            func text(_ n: Int) -> String { PlanText.byteText(UInt64(max(0, n))) }
            throw SQLError.execution("Out of Memory Error: \(owner) needs \(text(more)) more for \(what), and the memory limit "
                + "(\(text(pool.limit))) has \(text(pool.limit - pool.used)) left even after spilling; "
                + "raise it (SET memory_limit = '...', or --memory-limit)")
        }
    }

    /// Gives back `n` of the bytes held (reserved for what did not come).
    func shrink(_ n: Int) {
        let k = min(max(0, n), bytes)
        pool.release(k)
        bytes -= k
    }

    func free() {
        pool.release(bytes)
        bytes = 0
    }
}
