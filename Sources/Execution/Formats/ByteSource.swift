import Compression
import Foundation
import SQL

/// Reads a file in large chunks, decompressing gzip on the way (by magic bytes).
/// A plain file is mapped into memory instead (`mapped`): no copies at all.
/// One per reader; not shared between threads.
final class ByteSource {
    let path: String
    private let fd: Int32
    private(set) var mapped: UnsafeRawBufferPointer?
    private var inflater: GzipInflater?
    private var raw = [UInt8](repeating: 0, count: 4 << 20)
    private(set) var bytesRead = 0
    private var atEnd = false

    init(path: String) throws(SQLError) {
        self.path = path
        fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw SQLError.execution("IO Error: cannot open \"\(path)\": \(String(cString: strerror(errno)))")
        }
        var magic = [UInt8](repeating: 0, count: 2)
        if pread(fd, &magic, 2, 0) == 2, magic == [0x1f, 0x8b] {
            do { inflater = try GzipInflater() } catch { throw SQLError.execution("\(error)") }
        } else {
            var st = stat()
            if fstat(fd, &st) == 0, st.st_size > 0, let base = mmap(nil, Int(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED {
                madvise(base, Int(st.st_size), MADV_SEQUENTIAL)
                mapped = UnsafeRawBufferPointer(start: base, count: Int(st.st_size))
                bytesRead = Int(st.st_size)
                atEnd = true
            }
        }
    }
    deinit {
        if let m = mapped { munmap(UnsafeMutableRawPointer(mutating: m.baseAddress!), m.count) }
        close(fd)
    }

    /// Appends the next chunk to `buffer`; false at end of file.
    func read(into buffer: inout [UInt8]) throws(SQLError) -> Bool {
        if atEnd { return false }
        let n = raw.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress!, $0.count) }
        guard n >= 0 else { throw SQLError.execution("IO Error: reading \"\(path)\": \(String(cString: strerror(errno)))") }
        bytesRead += n
        if n == 0 {
            atEnd = true
            if let inflater {
                do { try inflater.finish() } catch { throw SQLError.execution("IO Error: \"\(path)\": \(error)") }
            }
            return false
        }
        if let inflater {
            do { try raw.withUnsafeBytes { try inflater.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), into: &buffer) } }
            catch { throw SQLError.execution("IO Error: \"\(path)\": \(error)") }
        } else {
            buffer.append(contentsOf: raw[0..<n])
        }
        return true
    }

    /// The whole (decompressed) content; for formats read in one piece and for sampling.
    static func readAll(_ path: String, limit: Int = Int.max) throws(SQLError) -> [UInt8] {
        let s = try ByteSource(path: path)
        if let m = s.mapped { return Array(m.prefix(limit)) }
        var out: [UInt8] = []
        while out.count < limit, try s.read(into: &out) {}
        return out
    }
}
