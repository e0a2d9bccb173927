import Foundation

/// An exclusive lock on a data dir, held for the life of the process: two
/// coordinators (or two workers) on one data dir would corrupt each other's
/// state, so the second refuses at once and names the holder.
///
/// `flock` on `DIR/lock`, which the kernel releases when the process dies
/// however it dies; the file also holds the holder's pid, for the message.
public final class DataDirLock: Sendable {
    public let path: String
    private let fd: Int32

    public init(dataDir: String, role: String) throws {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        path = dataDir + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PlatformError("cannot open \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let why = errno
            var holder = ""
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = pread(fd, &buffer, buffer.count, 0)
            if n > 0 { holder = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
            close(fd)
            guard why == EWOULDBLOCK else { throw PlatformError("cannot lock \(path): \(String(cString: strerror(why)))") }
            let who = holder.isEmpty ? "another process" : "process \(holder)"
            throw PlatformError("the data dir \(dataDir) is in use by \(who); one \(role) per data dir (stop that one, or give this one another --data-dir)")
        }
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        self.fd = fd
    }

    /// Releases the lock (it is also released when the process ends).
    public func release() {
        _ = ftruncate(fd, 0)
        _ = flock(fd, LOCK_UN)
    }

    deinit { close(fd) }
}

/// The one error type of the Platform module: a sentence a person can act on.
public struct PlatformError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}
