import Compression
import Columnar
import Foundation
import SQL

/// Reads a file in large chunks, decompressing gzip on the way (by magic bytes).
/// One per reader; not shared between threads.
///
/// Files are read, not memory-mapped: a mapped file that another process
/// truncates kills the reader with SIGBUS on the next page it touches, and a
/// query engine must answer that with an error naming the file. Reading
/// costs one copy per byte, a few percent of parsing it. A plain file that
/// ends before the size it had when opened is reported as truncated.
final class ByteSource {
    let path: String
    private let fd: Int32
    private var inflater: GzipInflater?
    /// The size at open (plain files): reading less than this means the file was cut short meanwhile.
    private let expectedSize: Int
    private(set) var bytesRead = 0
    private var atEnd = false
    /// Where reading began, and the offset of the next byte to read (plain files).
    private let start: Int
    private var position: Int
    /// Bytes per read: small enough that what was read is still in the core's
    /// cache when the parser gets to it.
    let chunkSize: Int
    private static let zeros = [UInt8](repeating: 0, count: 1 << 20)

    /// Reads from byte `offset` on (plain files only; a gzip file is read whole),
    /// `chunkSize` bytes at a time (at most 1 MiB).
    init(path: String, offset: Int = 0, chunkSize: Int = 1 << 20) throws(SQLError) {
        self.path = path
        self.chunkSize = min(max(chunkSize, 4096), Self.zeros.count)
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SQLError.execution("IO Error: cannot open \"\(path)\": \(String(cString: strerror(errno)))")
        }
        var st = stat()
        expectedSize = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int(st.st_size) : 0
        var magic = [UInt8](repeating: 0, count: 2)
        if pread(fd, &magic, 2, 0) == 2, magic == [0x1f, 0x8b] {
            do { inflater = try GzipInflater() } catch { close(fd); throw SQLError.execution("\(error)") }
        }
        start = inflater == nil ? max(0, offset) : 0
        position = start
    }

    deinit { close(fd) }

    /// Appends the next chunk to `buffer`; false at end of file.
    func read(into buffer: inout [UInt8]) throws(SQLError) -> Bool {
        if atEnd { return false }
        if inflater != nil {
            var raw = [UInt8](repeating: 0, count: 1 << 20)
            let n = try readSome(into: &raw, at: 0)
            if n == 0 { return try finish() }
            do { try raw.withUnsafeBytes { try inflater!.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), into: &buffer) } }
            catch { throw SQLError.execution("IO Error: \"\(path)\": \(error)") }
            return true
        }
        // Straight into the buffer's tail: no intermediate copy.
        let old = buffer.count
        buffer.append(contentsOf: Self.zeros[..<chunkSize])   // an array append is one copy, even unoptimized
        let n: Int
        do { n = try readSome(into: &buffer, at: old) } catch {
            buffer.removeLast(chunkSize)
            throw error
        }
        buffer.removeLast(chunkSize - n)
        if n == 0 { return try finish() }
        return true
    }

    private func readSome(into target: inout [UInt8], at offset: Int) throws(SQLError) -> Int {
        var n: Int
        repeat {
            let at = position
            n = target.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, $0.count - offset, off_t(at)) }
        } while n < 0 && errno == EINTR
        guard n >= 0 else { throw SQLError.execution("IO Error: reading \"\(path)\": \(String(cString: strerror(errno)))") }
        bytesRead += n
        position += n
        return n
    }

    private func finish() throws(SQLError) -> Bool {
        atEnd = true
        if let inflater {
            do { try inflater.finish() } catch { throw SQLError.execution("IO Error: \"\(path)\": \(error)") }
        } else if position < expectedSize {
            throw SQLError.execution("IO Error: \"\(path)\" was truncated while it was read: it had \(expectedSize) bytes when opened, \(position) could be read")
        }
        return false
    }

    /// Bytes [range) of a plain file, exactly; an error if the file is shorter.
    static func read(_ path: String, range: Range<Int>) throws(SQLError) -> [UInt8] {
        let s = try ByteSource(path: path, offset: range.lowerBound)
        var failure: SQLError?
        // Uninitialized: every byte is read before anything looks at it.
        let out = [UInt8](uninitializedCount: range.count) { buffer, count in
            var done = 0
            while done < range.count {
                var n: Int
                repeat { n = pread(s.fd, buffer.baseAddress! + done, range.count - done, off_t(range.lowerBound + done)) } while n < 0 && errno == EINTR
                if n < 0 { failure = .execution("IO Error: reading \"\(path)\": \(String(cString: strerror(errno)))"); break }
                if n == 0 {
                    failure = .execution("IO Error: \"\(path)\" was truncated while it was read: \(range.upperBound) bytes expected, \(range.lowerBound + done) could be read")
                    break
                }
                done += n
            }
            count = done   // on failure only what was read is initialized; the caller throws

        }
        if let failure { throw failure }
        return out
    }

    /// Whether the file starts with gzip's magic bytes (it cannot be read from the middle).
    static func isCompressed(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 2)
        return pread(fd, &magic, 2, 0) == 2 && magic == [0x1f, 0x8b]
    }

    /// The whole (decompressed) content, or its first `limit` bytes; for
    /// formats read in one piece and for sampling.
    static func readAll(_ path: String, limit: Int = Int.max) throws(SQLError) -> [UInt8] {
        let s = try ByteSource(path: path)
        var out: [UInt8] = []
        if s.expectedSize > 0 && s.inflater == nil { out.reserveCapacity(min(limit, s.expectedSize)) }
        while out.count < limit, try s.read(into: &out) {}
        if out.count > limit { out.removeLast(out.count - limit) }
        return out
    }
}
