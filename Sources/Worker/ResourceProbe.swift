import Foundation
import Wire

/// Reads host CPU, memory and load, and this process's RSS, from /proc.
/// CPU is the busy share since the previous reading.
struct ResourceProbe {
    private var lastBusy: UInt64 = 0
    private var lastTotal: UInt64 = 0

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
                if lastTotal > 0, total > lastTotal {
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
        if let statm = Self.file("/proc/self/statm")?.split(separator: " "), statm.count > 1, let pages = UInt64(statm[1]) {
            stats.processRssBytes = pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
        }
        if let load = Self.file("/proc/loadavg")?.split(separator: " ").first, let l = Double(load) {
            stats.load1 = l
        }
        return stats
    }

    private static func file(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }
}
