import Foundation
import Testing
@testable import Platform

@Suite struct ProcFSTests {
    @Test func aStatLineWithSpacesAndParenthesesInTheNameParses() throws {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194304 100 0 0 0 7 3 2 1 20 0 1 0 123456 1000000 250 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
        let s = try #require(ProcessStat(line: line))
        #expect(s.pid == 4242 && s.ppid == 1 && s.group == 4242 && s.session == 4242)
        #expect(s.userTicks == 7 && s.systemTicks == 3 && s.childUserTicks == 2 && s.childSystemTicks == 1)
        #expect(s.startTicks == 123456 && s.residentPages == 250)
    }

    @Test(arguments: ["", "garbage", "12 (x) S 1 2", "x (y) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22"])
    func malformedStatLinesAreRefused(_ line: String) {
        #expect(ProcessStat(line: line) == nil)
    }

    @Test func thisProcessIsVisible() throws {
        let me = try #require(ProcFS.stat(getpid()))
        #expect(me.pid == getpid() && me.ppid == getppid())
        #expect(ProcFS.residentBytes() > 0)
        #expect(ProcFS.all().contains { $0.pid == getpid() })
    }
}

@Suite struct DataDirLockTests {
    @Test func aSecondLockOnTheSameDataDirIsRefusedWithTheHoldersPID() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-lock-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try DataDirLock(dataDir: dir, role: "worker")
        // flock locks belong to open file descriptions: a second open in this process conflicts too.
        #expect(throws: PlatformError.self) { _ = try DataDirLock(dataDir: dir, role: "worker") }
        do {
            _ = try DataDirLock(dataDir: dir, role: "worker")
        } catch {
            #expect("\(error)".contains("in use by process \(getpid())"))
        }
        first.release()
        _ = try DataDirLock(dataDir: dir, role: "worker")
    }
}

@Suite struct GuardedTaskTests {
    @Test func theTasksStatusComesBackThroughItsGuard() throws {
        let out = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(out) }
        let ok = try GuardedTask.spawn(argv: ["sh", "-c", "exit 3"], environment: environment(with: [:]), cwd: nil, stdout: out, stderr: out, runAs: nil)
        #expect(ok.wait() == .exited(3))
        let killed = try GuardedTask.spawn(argv: ["sh", "-c", "kill -TERM $$; sleep 5"], environment: environment(with: [:]), cwd: nil,
                                           stdout: out, stderr: out, runAs: nil)
        #expect(killed.wait() == .signalled(SIGTERM))
        #expect(throws: PlatformError.self) {
            _ = try GuardedTask.spawn(argv: ["/no/such/program"], environment: [], cwd: nil, stdout: out, stderr: out, runAs: nil)
        }
    }

    @Test func whatATaskLeavesInItsGroupEndsWithIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-guard-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = open(dir + "/out", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        defer { close(out) }
        // The task starts a background sleep and exits at once.
        let task = try GuardedTask.spawn(argv: ["sh", "-c", "sleep 600 & echo $!"], environment: environment(with: [:]), cwd: nil,
                                         stdout: out, stderr: out, runAs: nil)
        #expect(task.wait() == .exited(0))
        let pid = try #require(pid_t((try String(contentsOfFile: dir + "/out", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))
        let deadline = Date(timeIntervalSinceNow: 5)
        while ProcFS.stat(pid).map({ $0.session == task.session }) == true && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        #expect(ProcFS.stat(pid)?.session != task.session)
    }
}
