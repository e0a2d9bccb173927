import Foundation
import Platform
import Wire

/// Reads host CPU, memory and load, and the CPU and memory of this worker's
/// own process tree (the worker, its task guards and every process of its
/// tasks), from /proc. CPU figures are the busy share since the previous reading.
struct ResourceProbe {
    private var lastBusy: UInt64 = 0
    private var lastTotal: UInt64 = 0
    private var lastTreeTicks: UInt64 = 0
    private var lastReading: Date?

    mutating func read() -> ResourceStats {
        var stats = ResourceStats()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        stats.cores = UInt32(cores)
        if let line = Self.file("/proc/stat")?.split(separator: "\n").first, line.hasPrefix("cpu ") {
            let v = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
            if v.count >= 5 {
                let idle = v[3] + v[4]
                let total = v.reduce(0, +)
                let busy = total - idle
                if lastTotal > 0, total > lastTotal, busy >= lastBusy {
                    stats.cpuPercent = Double(busy - lastBusy) / Double(total - lastTotal) * 100 * Double(cores)
                }
                lastBusy = busy
                lastTotal = total
            }
        }
        if let meminfo = Self.file("/proc/meminfo") {
            var total: UInt64 = 0, available: UInt64 = 0
            for line in meminfo.split(separator: "\n") {
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                guard parts.count >= 2, let kb = UInt64(parts[1]) else { continue }
                if parts[0] == "MemTotal:" { total = kb * 1024 }
                if parts[0] == "MemAvailable:" { available = kb * 1024 }
            }
            stats.memoryTotalBytes = total
            stats.memoryUsedBytes = total > available ? total - available : 0
        }
        stats.processRssBytes = ProcFS.residentBytes()
        if let load = Self.file("/proc/loadavg")?.split(separator: " ").first, let l = Double(load) {
            stats.load1 = l
        }
        readTree(into: &stats)
        return stats
    }

    /// The worker and every process in the sessions of its children (each
    /// task guard is a session leader, and its task and the task's children
    /// stay in that session). CPU counts each process's own time and its
    /// reaped children's, so work done by processes that have ended is kept.
    private mutating func readTree(into stats: inout ResourceStats) {
        let me = getpid()
        let all = ProcFS.all()
        let sessions = Set(all.filter { $0.ppid == me }.map(\.pid))
        var ticks: UInt64 = 0, pages: UInt64 = 0, count: UInt32 = 0
        for p in all where p.pid == me || sessions.contains(p.session) {
            ticks += p.ownTicks + p.childTicks
            pages += p.residentPages
            count += 1
        }
        let now = Date()
        if let last = lastReading, ticks >= lastTreeTicks {
            let seconds = now.timeIntervalSince(last)
            if seconds > 0 { stats.treeCpuPercent = Double(ticks - lastTreeTicks) / ProcFS.clockTicksPerSecond / seconds * 100 }
        }
        lastTreeTicks = ticks
        lastReading = now
        stats.treeRssBytes = pages * ProcFS.pageSize
        stats.treeProcesses = count
    }

    private static func file(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }
}
