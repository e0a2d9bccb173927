import Foundation
import Synchronization

/// The outputs of this worker's `sql` attempts: per attempt, a list of
/// buckets of encoded batches, which other workers and the coordinator fetch
/// by (job, attempt, bucket). Kept in memory up to `memoryBudget` bytes in
/// all; an output that does not fit is written to files under
/// `DATA_DIR/shuffle/JOB/` instead. Dropped when the coordinator says its job
/// no longer needs it, and all at once when the coordinator restarts (the
/// queries it ran are failed, so nothing will ask for them).
final class ShuffleStore: Sendable {
    struct Key: Hashable, Sendable {
        var job: String
        var attempt: UInt64
    }

    private enum Output: Sendable {
        case memory([[UInt8]])
        /// One file per bucket: `ATTEMPT-BUCKET`, of these sizes.
        case files(dir: String, sizes: [Int])

        var sizes: [Int] {
            switch self {
            case .memory(let b): b.map(\.count)
            case .files(_, let s): s
            }
        }
    }

    private struct State {
        var outputs: [Key: Output] = [:]
        var memoryUsed = 0
    }

    let root: String
    let memoryBudget: Int
    private let state = Mutex(State())

    init(dataDir: String, memoryBudget: Int) {
        root = dataDir + "/shuffle"
        self.memoryBudget = memoryBudget
        // Outputs of an earlier run of this worker belong to queries nobody will finish.
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Keeps an attempt's buckets; their sizes.
    func put(job: String, attempt: UInt64, buckets: [[UInt8]]) throws -> [Int] {
        let total = buckets.reduce(0) { $0 + $1.count }
        let key = Key(job: job, attempt: attempt)
        let inMemory = state.withLock { s -> Bool in
            guard s.memoryUsed + total <= memoryBudget else { return false }
            s.memoryUsed += total
            s.outputs[key] = .memory(buckets)
            return true
        }
        if inMemory { return buckets.map(\.count) }
        let dir = root + "/" + job
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (b, bytes) in buckets.enumerated() {
            let path = "\(dir)/\(attempt)-\(b)"
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                throw WorkerError("cannot write shuffle output \(path): \(String(cString: strerror(errno)))")
            }
        }
        state.withLock { $0.outputs[key] = .files(dir: dir, sizes: buckets.map(\.count)) }
        return buckets.map(\.count)
    }

    enum ReadError: Error { case unknown, noBucket, unreadable(String) }

    /// Up to `max` bytes of a bucket from `offset`, and the bucket's size.
    func read(_ key: Key, bucket: Int, offset: Int, max: Int) -> Result<([UInt8], Int), ReadError> {
        guard let output = state.withLock({ $0.outputs[key] }) else { return .failure(.unknown) }
        let sizes = output.sizes
        guard bucket >= 0, bucket < sizes.count else { return .failure(.noBucket) }
        let size = sizes[bucket]
        let from = min(Swift.max(0, offset), size)
        let n = min(Swift.max(0, max), size - from)
        switch output {
        case .memory(let buckets):
            return .success((Array(buckets[bucket][from..<(from + n)]), size))
        case .files(let dir, _):
            let path = "\(dir)/\(key.attempt)-\(bucket)"
            guard let h = FileHandle(forReadingAtPath: path) else { return .failure(.unreadable(path)) }
            defer { try? h.close() }
            do {
                try h.seek(toOffset: UInt64(from))
                let data = try h.read(upToCount: n) ?? Data()
                guard data.count == n else { return .failure(.unreadable(path)) }
                return .success(([UInt8](data), size))
            } catch {
                return .failure(.unreadable(path))
            }
        }
    }

    /// Forgets every output of these jobs.
    func drop(jobs: [String]) {
        guard !jobs.isEmpty else { return }
        let gone = Set(jobs)
        state.withLock { s in
            for (k, o) in s.outputs where gone.contains(k.job) {
                if case .memory = o { s.memoryUsed -= o.sizes.reduce(0, +) }
                s.outputs[k] = nil
            }
        }
        for j in gone where !j.isEmpty && !j.contains("/") && j != "." && j != ".." {
            try? FileManager.default.removeItem(atPath: root + "/" + j)
        }
    }

    /// Forgets everything (the coordinator restarted).
    func dropAll() {
        state.withLock { $0 = State() }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Outputs held, and bytes of them in memory.
    var usage: (outputs: Int, memoryBytes: Int) { state.withLock { ($0.outputs.count, $0.memoryUsed) } }
}
