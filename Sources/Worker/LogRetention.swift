import Foundation

/// Task logs leave the worker's data dir when the coordinator's journal
/// forgets their job (`sluice coordinator --retain`): a job's log folder goes
/// once nothing in it has changed for the retention period and none of its
/// tasks is here.
struct LogRetention {
    let logDir: String

    /// Removes stale job folders; returns how many it removed.
    func prune(retention: TimeInterval, activeJobs: Set<String>, now: Date = Date()) -> Int {
        guard retention > 0, let jobs = try? FileManager.default.contentsOfDirectory(atPath: logDir) else { return 0 }
        var removed = 0
        for job in jobs where !activeJobs.contains(job) {
            let dir = logDir + "/" + job
            guard let newest = Self.newestChange(dir), now.timeIntervalSince(newest) > retention else { continue }
            if (try? FileManager.default.removeItem(atPath: dir)) != nil { removed += 1 }
        }
        return removed
    }

    private static func newestChange(_ dir: String) -> Date? {
        let fm = FileManager.default
        guard var newest = (try? fm.attributesOfItem(atPath: dir))?[.modificationDate] as? Date else { return nil }
        for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
            if let d = (try? fm.attributesOfItem(atPath: dir + "/" + name))?[.modificationDate] as? Date, d > newest { newest = d }
        }
        return newest
    }
}
