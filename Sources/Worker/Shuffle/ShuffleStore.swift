import Execution
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

    /// Keeps an attempt's output; its buckets' sizes. Buckets in memory stay
    /// there while the store's budget allows; files (a task that passed its own
    /// memory budget) are moved in, as are buckets the budget refuses.
    func put(job: String, attempt: UInt64, output: TaskOutput) throws -> [Int] {
        let key = Key(job: job, attempt: attempt)
        let sizes = output.sizes
        if case .memory(let buckets) = output {
            let total = sizes.reduce(0, +)
            let inMemory = state.withLock { s -> Bool in
                guard s.memoryUsed + total <= memoryBudget else { return false }
                s.memoryUsed += total
                s.outputs[key] = .memory(buckets)
                return true
            }
            if inMemory { return sizes }
        }
        let dir = root + "/" + job
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for b in sizes.indices {
            let path = "\(dir)/\(attempt)-\(b)"
            switch output {
            case .memory(let buckets):
                guard FileManager.default.createFile(atPath: path, contents: Data(buckets[b])) else {
                    throw WorkerError("cannot write shuffle output \(path): \(String(cString: strerror(errno)))")
                }
            case .files(let paths, _):
                // The spill dir is normally beside the shuffle dir (a rename); elsewhere, a copy.
                try? FileManager.default.removeItem(atPath: path)
                if rename(paths[b], path) != 0 {
                    do { try FileManager.default.copyItem(atPath: paths[b], toPath: path) } catch {
                        throw WorkerError("cannot keep shuffle output \(path): \(error.localizedDescription)")
                    }
                }
            }
        }
        state.withLock { $0.outputs[key] = .files(dir: dir, sizes: sizes) }
        return sizes
    }

    enum ReadError: Error { case unknown, noBucket, unreadable(String) }

    /// Up to `max` bytes of one bucket from some offset, to be copied out
    /// where they are needed (the outgoing message) without a copy of their own.
    struct Chunk {
        enum Source {
            case memory([UInt8])
            case file(fd: Int32, path: String)
        }
        let source: Source
        /// Where the chunk starts in the bucket, its length, and the bucket's size.
        let start: Int
        let count: Int
        let total: Int

        /// Copies `into.count` bytes from `offset` within the chunk.
        func copy(_ offset: Int, into: UnsafeMutableRawBufferPointer) throws(ReadError) {
            precondition(offset >= 0 && offset + into.count <= count)
            switch source {
            case .memory(let bytes):
                bytes.withUnsafeBytes { into.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[(start + offset)..<(start + offset + into.count)])) }
            case .file(let fd, let path):
                var done = 0
                while done < into.count {
                    let n = pread(fd, into.baseAddress! + done, into.count - done, off_t(start + offset + done))
                    if n < 0, errno == EINTR { continue }
                    guard n > 0 else { throw .unreadable(path) }
                    done += n
                }
            }
        }

        func close() {
            if case .file(let fd, _) = source { _ = Glibc.close(fd) }
        }
    }

    /// Up to `max` bytes of a bucket from `offset`; `close` it when done.
    func chunk(_ key: Key, bucket: Int, offset: Int, max: Int) -> Result<Chunk, ReadError> {
        guard let output = state.withLock({ $0.outputs[key] }) else { return .failure(.unknown) }
        let sizes = output.sizes
        guard bucket >= 0, bucket < sizes.count else { return .failure(.noBucket) }
        let size = sizes[bucket]
        let from = min(Swift.max(0, offset), size)
        let n = min(Swift.max(0, max), size - from)
        switch output {
        case .memory(let buckets):
            return .success(Chunk(source: .memory(buckets[bucket]), start: from, count: n, total: size))
        case .files(let dir, _):
            let path = "\(dir)/\(key.attempt)-\(bucket)"
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return .failure(.unreadable(path)) }
            return .success(Chunk(source: .file(fd: fd, path: path), start: from, count: n, total: size))
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

    /// Outputs held, bytes of them in memory, and bytes in all (memory and files).
    var usage: (outputs: Int, memoryBytes: Int, bytes: Int) {
        state.withLock { s in (s.outputs.count, s.memoryUsed, s.outputs.values.reduce(0) { $0 + $1.sizes.reduce(0, +) }) }
    }
}
