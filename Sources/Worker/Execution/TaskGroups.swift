import Foundation
import Platform

/// The process groups of the command tasks this worker runs, recorded in its
/// data dir while they run. Each task's guard kills its group when the
/// worker dies; a guard that is killed itself (the OOM killer, a stray
/// `kill -9`) would leave its group behind, so a worker starting on the same
/// data dir kills whatever a record names that still exists.
///
/// A record holds the guard's session id and the task's group id: the kernel
/// never reuses an id while a process still carries it as its session or
/// group, so a process matching both is one of the task's, never a stranger.
struct TaskGroups: Sendable {
    let dir: String

    init(dataDir: String) throws {
        dir = dataDir + "/tasks"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func record(_ attempt: UInt64, _ task: GuardedTask) {
        try? "\(task.session) \(task.group)\n".write(toFile: "\(dir)/\(attempt)", atomically: true, encoding: .utf8)
    }

    func remove(_ attempt: UInt64) {
        unlink("\(dir)/\(attempt)")
    }

    /// After a task's guard ended: normally it took the task's group with it;
    /// if it was killed itself, whatever is left of the group goes now.
    /// Returns how many processes that was.
    func sweep(_ task: GuardedTask) -> Int {
        // A cheap look first: is anything still in the group?
        guard kill(-task.group, 0) == 0 else { return 0 }
        var killed = 0
        for p in ProcFS.all() where p.session == task.session && p.group == task.group {
            if kill(p.pid, SIGKILL) == 0 { killed += 1 }
        }
        return killed
    }

    /// Kills every process of every recorded group and clears the records;
    /// returns how many processes it killed.
    func killLeftovers() -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        guard !names.isEmpty else { return 0 }
        var wanted = Set<[Int32]>()
        for name in names {
            let text = (try? String(contentsOfFile: "\(dir)/\(name)", encoding: .utf8)) ?? ""
            let ids = text.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
            if ids.count == 2, ids.allSatisfy({ $0 > 1 }) { wanted.insert(ids) }
        }
        var killed = 0
        for p in ProcFS.all() where wanted.contains([p.session, p.group]) {
            if kill(p.pid, SIGKILL) == 0 { killed += 1 }
        }
        for name in names { unlink("\(dir)/\(name)") }
        return killed
    }
}
