import Columnar
import Foundation
import SQL
import Synchronization

/// Where one query's operators spill: a directory of its own under the temp
/// dir (`--temp-dir`, `SET temp_directory`), made on the first spill and
/// removed with everything in it when the query ends, on error and cancel
/// too. Directories are named after the process (`sluice-spill-PID-...`), so
/// a process that starts removes the ones a killed predecessor left (`sweep`).
/// Files hold batches in the Sluice batch encoding (LZ4), written and read
/// back in order.
public final class SpillSpace: @unchecked Sendable {
    public let root: String
    // Guarded by `lock`.
    private let lock = NSLock()
    private var state: (dir: String?, files: Int, written: Int) = (nil, 0, 0)

    public init(root: String) {
        self.root = root
    }

    static let prefix = "sluice-spill-"

    /// A new file to spill into.
    func file(_ label: String) throws(SQLError) -> SpillWriter {
        let (dir, n): (String?, Int) = lock.withLock {
            state.files += 1
            return (state.dir, state.files)
        }
        let d: String
        if let dir {
            d = dir
        } else {
            let made = root + "/" + Self.prefix + "\(getpid())-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            do { try FileManager.default.createDirectory(atPath: made, withIntermediateDirectories: true) } catch {
                throw SQLError.execution("IO Error: cannot create the spill directory \(made) (temp_directory \(root)): \(error.localizedDescription)")
            }
            d = lock.withLock {
                if let existing = state.dir { return existing }
                state.dir = made
                return made
            }
            if d != made { try? FileManager.default.removeItem(atPath: made) }
        }
        return try SpillWriter(path: d + "/\(n)-\(label).spill", space: self)
    }

    func noteWritten(_ bytes: Int) { lock.withLock { state.written += bytes } }

    /// Bytes written to spill files so far.
    public var written: Int { lock.withLock { state.written } }

    /// Removes the query's directory and every file in it.
    public func close() {
        let dir: String? = lock.withLock {
            defer { state.dir = nil }
            return state.dir
        }
        if let dir { try? FileManager.default.removeItem(atPath: dir) }
    }

    deinit { close() }

    /// Removes the spill directories under `root` of processes that are gone; the ones removed.
    @discardableResult
    public static func sweep(_ root: String) -> [String] {
        var removed: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where name.hasPrefix(prefix) {
            let pidText = name.dropFirst(prefix.count).prefix { $0 != "-" }
            guard let pid = Int32(pidText), pid > 0, pid != getpid() else { continue }
            // Signal 0 checks the process exists (EPERM: it does, owned by someone else).
            if kill(pid, 0) == 0 || errno == EPERM { continue }
            try? FileManager.default.removeItem(atPath: root + "/" + name)
            removed.append(root + "/" + name)
        }
        return removed
    }

    /// Test hook: the next spill write fails as a full disk would (also set by `SLUICE_TEST_FAIL_SPILL=1`).
    public static let failNextWrite = Atomic<Bool>(ProcessInfo.processInfo.environment["SLUICE_TEST_FAIL_SPILL"] == "1")
}

/// Batches appended to one spill file.
final class SpillWriter {
    let path: String
    private let fd: Int32
    private let space: SpillSpace
    private(set) var bytes = 0
    private(set) var batches = 0
    private var buffer: [UInt8] = []

    init(path: String, space: SpillSpace) throws(SQLError) {
        self.path = path
        self.space = space
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpillWriter.error("create", path, errno) }
    }

    deinit { if fd >= 0 { Foundation.close(fd) } }

    static func error(_ what: String, _ path: String, _ code: Int32) -> SQLError {
        .execution("IO Error: cannot \(what) the spill file \(path): \(String(cString: strerror(code))); free space there or set "
            + "temp_directory (SET temp_directory = '...', or --temp-dir) to a disk with room")
    }

    func append(_ batch: RecordBatch) throws(SQLError) {
        guard batch.rowCount > 0 else { return }
        buffer.removeAll(keepingCapacity: true)
        BatchCodec.encode(batch, into: &buffer)
        try append(encoded: buffer, batches: 1)
    }

    /// Appends blocks already encoded (`batches` of them).
    func append(encoded: [UInt8], batches count: Int) throws(SQLError) {
        guard !encoded.isEmpty else { return }
        if SpillSpace.failNextWrite.exchange(false, ordering: .relaxed) { throw Self.error("write", path, ENOSPC) }
        var done = 0
        while done < encoded.count {
            let n = encoded.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.error("write", path, errno)
            }
            done += n
        }
        bytes += encoded.count
        batches += count
        space.noteWritten(encoded.count)
    }

    /// The file, to read back in the order written.
    func finish() -> SpillReader { SpillReader(path: path, bytes: bytes, batchCount: batches) }
}

/// Reads a spill file's batches back in order, one at a time.
final class SpillReader {
    let path: String
    let bytes: Int
    let batchCount: Int
    private var handle: FileHandle?
    private var offset = 0

    init(path: String, bytes: Int, batchCount: Int) {
        self.path = path
        self.bytes = bytes
        self.batchCount = batchCount
    }

    func next() throws(SQLError) -> RecordBatch? {
        guard offset < bytes else { close(); return nil }
        if handle == nil {
            guard let h = FileHandle(forReadingAtPath: path) else { throw SpillWriter.error("open", path, errno) }
            handle = h
        }
        do {
            guard let h = handle, let header = try h.read(upToCount: BatchCodec.headerSize), header.count == BatchCodec.headerSize else {
                throw SQLError.execution("IO Error: the spill file \(path) ends early")
            }
            let size = try BatchCodec.blockSize(header: Array(header))
            guard size >= BatchCodec.headerSize, size <= bytes - offset, let body = try h.read(upToCount: size - BatchCodec.headerSize),
                  body.count == size - BatchCodec.headerSize else {
                throw SQLError.execution("IO Error: the spill file \(path) ends early")
            }
            var at = 0
            let b = try BatchCodec.decode(Array(header) + Array(body), offset: &at)
            offset += size
            return b
        } catch let e as SQLError {
            throw e
        } catch {
            throw SQLError.execution("IO Error: cannot read back the spill file \(path): \(error)")
        }
    }

    func close() {
        try? handle?.close()
        handle = nil
    }

    deinit { close() }
}

/// Rows spread over 16 spill files by 4 bits of their key's hash, other bits
/// at each level of recursion (a spilled aggregate's groups, a grace join's sides).
final class HashSpill {
    static let fanOut = 16
    let files: [SpillWriter]
    private let shift: UInt64

    init(_ spill: SpillSpace, _ label: String, level: Int) throws(SQLError) {
        var files: [SpillWriter] = []
        for p in 0..<Self.fanOut { files.append(try spill.file("\(label)-l\(level)-p\(p)")) }
        self.files = files
        shift = UInt64(60 - 4 * min(level, 14))
    }

    /// Writes `rows` of `b` (all when nil) into the files of their hashes.
    func append(_ b: RecordBatch, hashes: [UInt64], rows: [Int32]? = nil) throws(SQLError) {
        var parts: [[Int32]] = Array(repeating: [], count: Self.fanOut)
        if let rows {
            for i in rows { parts[Int((hashes[Int(i)] >> shift) & 15)].append(i) }
        } else {
            for (i, h) in hashes.enumerated() { parts[Int((h >> shift) & 15)].append(Int32(i)) }
        }
        for p in 0..<Self.fanOut where !parts[p].isEmpty { try files[p].append(parts[p].count == b.rowCount ? b : b.gather(parts[p])) }
    }

    var bytes: Int { files.reduce(0) { $0 + $1.bytes } }
}

/// Batches read back from a spill file, as an operator.
final class SpillScan: Operator {
    let schema: Schema
    let stats: OperatorStats
    private let reader: SpillReader

    init(_ reader: SpillReader, schema: Schema, stats: OperatorStats) {
        self.reader = reader
        self.schema = schema
        self.stats = stats
    }

    func next() throws(SQLError) -> RecordBatch? {
        guard let b = try reader.next() else { return nil }
        stats.readBackBytes += b.memoryBytes
        return RecordBatch(schema: schema, columns: b.columns, rowCount: b.rowCount)
    }

    func close() { reader.close() }
}

extension RecordBatch {
    /// About the bytes this batch's buffers take in memory (what an operator holding it reserves).
    var memoryBytes: Int { columns.reduce(64) { $0 + $1.memoryBytes } }
}

extension Column {
    /// About the bytes of its buffers (a slice counts its own rows).
    var memoryBytes: Int {
        var n: Int
        switch data {
        case .bool(let a): n = a.count
        case .int32(let a): n = a.count * 4
        case .int64(let a): n = a.count * 8
        case .int128(let a): n = a.count * 16
        case .double(let a): n = a.count * 8
        case .interval(let a): n = a.count * 16
        case .string(let s): n = s.count * 8 + s.usedBytes.count
        }
        if validity != nil { n += (count + 7) / 8 }
        return n
    }
}
