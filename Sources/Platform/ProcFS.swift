import Foundation

/// What /proc/PID/stat says of one process: the fields Sluice reads.
public struct ProcessStat: Sendable, Equatable {
    public var pid: pid_t
    /// R, S, D, Z (exited, not reaped yet), T, ...
    public var state: Character
    public var ppid: pid_t
    public var group: pid_t
    public var session: pid_t
    /// CPU time in clock ticks: its own, and its reaped children's.
    public var userTicks: UInt64
    public var systemTicks: UInt64
    public var childUserTicks: UInt64
    public var childSystemTicks: UInt64
    /// Clock ticks after boot at which it started: with the pid, an identity that survives pid reuse.
    public var startTicks: UInt64
    public var residentPages: UInt64

    public var ownTicks: UInt64 { userTicks + systemTicks }
    public var childTicks: UInt64 { childUserTicks + childSystemTicks }

    /// Parses a stat line; nil when it is not one.
    public init?(line: String) {
        // The command name sits in parentheses and may hold spaces or parentheses itself.
        guard let open = line.firstIndex(of: "("), let close = line.lastIndex(of: ")"), open < close,
              let pid = pid_t(line[..<open].trimmingCharacters(in: .whitespaces)) else { return nil }
        let f = line[line.index(after: close)...].split(separator: " ")
        // f[0] is the state (field 3), so field N is f[N - 3].
        guard f.count > 21, let state = f[0].first,
              let ppid = pid_t(f[1]), let group = pid_t(f[2]), let session = pid_t(f[3]),
              let utime = UInt64(f[11]), let stime = UInt64(f[12]),
              let cutime = UInt64(f[13]), let cstime = UInt64(f[14]),
              let start = UInt64(f[19]), let rss = Int64(f[21]) else { return nil }
        self.pid = pid
        self.state = state
        self.ppid = ppid
        self.group = group
        self.session = session
        userTicks = utime
        systemTicks = stime
        childUserTicks = cutime
        childSystemTicks = cstime
        startTicks = start
        residentPages = UInt64(max(rss, 0))
    }
}

/// Readings from /proc.
public enum ProcFS {
    public static let clockTicksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    public static let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))

    public static func stat(_ pid: pid_t) -> ProcessStat? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        return ProcessStat(line: text)
    }

    /// Whether a process runs: it exists and has not exited (a zombie has).
    public static func isRunning(_ pid: pid_t) -> Bool {
        guard pid > 0, let s = stat(pid) else { return false }
        return s.state != "Z"
    }

    /// A process's arguments, the program first; empty when it is gone or exited.
    public static func commandLine(_ pid: pid_t) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every process visible now.
    public static func all() -> [ProcessStat] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { name in pid_t(name).flatMap(stat) }
    }

    /// This process's resident memory.
    public static func residentBytes() -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return 0 }
        return pages * pageSize
    }

    /// Open descriptors of this process.
    public static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }
}
