import Client
import Foundation
import Platform
import Testing
import Transport
import Wire

/// What an operator meets first: numbers, second processes, leftovers, addresses.
extension ClusterTests {
    @Suite(.serialized) struct Edges {
        /// Runs the CLI without a cluster; returns status, stdout, stderr.
        static func sluice(_ args: [String], env: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
            try runSluice(args, env: env)
        }

        static let badNumbers: [([String], String)] = [
            (["submit", "--tasks", "-5", "--builtin", "noop"], "--tasks must be between 1 and 100000000, not -5"),
            (["submit", "--tasks", "0", "--builtin", "noop"], "--tasks must be between 1 and 100000000, not 0"),
            (["submit", "--tasks", "100000001", "--builtin", "noop"], "--tasks must be between 1 and 100000000"),
            (["submit", "--tasks", "99999999999999999999999", "--builtin", "noop"], "--tasks must be between 1 and 100000000"),
            (["submit", "--retries", "101", "--builtin", "noop"], "--retries must be between 0 and 100"),
            (["submit", "--retries", "-1", "--builtin", "noop"], "--retries must be between 0 and 100, not -1"),
            (["submit", "--weight", "0", "--builtin", "noop"], "--weight must be between 1 and 1000"),
            (["submit", "--weight", "5000", "--builtin", "noop"], "--weight must be between 1 and 1000"),
            (["submit", "--timeout", "8d", "--builtin", "noop"], "--timeout must be between 1ms and 7d, not 8d"),
            (["submit", "--timeout", "-1s", "--builtin", "noop"], "--timeout must be between 1ms and 7d, not -1s"),
            (["submit", "--timeout", "inf", "--builtin", "noop"], "--timeout must be between"),
            (["submit", "--timeout", "1e300s", "--builtin", "noop"], "--timeout must be between"),
            (["submit", "--builtin", "sleep:999999999999999"], "builtin sleep: 999999999999999 is out of range (0...604800000 milliseconds)"),
            (["submit", "--builtin", "cpu:-1"], "builtin cpu: -1 is out of range"),
            (["submit", "--builtin", "cpu:99999999999999999999999"], "builtin cpu: '99999999999999999999999' is not a whole number"),
            (["submit", "--builtin", "fail:100000"], "builtin fail: 100000 is out of range"),
            (["worker", "--data-dir", "/tmp/x", "--slots", "0"], "--slots must be between 1 and 10000, not 0"),
            (["worker", "--data-dir", "/tmp/x", "--slots", "-3"], "--slots must be between 1 and 10000, not -3"),
            (["worker", "--data-dir", "/tmp/x", "--drain-timeout", "30d"], "--drain-timeout must be between 0s and 7d"),
            (["coordinator", "--data-dir", "/tmp/x", "--retain", "0s"], "--retain must be between 1s and 3650d, not 0s"),
            (["coordinator", "--data-dir", "/tmp/x", "--lease-ahead", "-1"], "--lease-ahead must be between 0 and 10000"),
            (["coordinator", "--data-dir", "/tmp/x", "--dead-after", "9999999999999999999h"], "--dead-after must be between"),
            (["local", "--port", "70000"], "--port must be between 1 and 65535, not 70000"),
            (["local", "--workers", "0"], "--workers must be between 1 and 64, not 0"),
            (["jobs", "--limit", "0"], "--limit must be between 1 and 1000, not 0"),
            (["job", "job-1", "--page", "-2"], "--page must be between 1 and"),
            (["job", "job-1", "--page-size", "100000"], "--page-size must be between 1 and 10000"),
        ]

        @Test(arguments: badNumbers)
        func everyNumberIsRangeCheckedWithOneLine(args: [String], message: String) throws {
            let r = try Self.sluice(args, env: ["SLUICE_COORDINATOR": "tcp://127.0.0.1:1"])
            #expect(r.status == 1, "\(args): exit \(r.status), \(r.err)")
            #expect(r.err.split(separator: "\n").count == 1, "\(args): \(r.err)")
            #expect(r.err.contains(message), "\(args): \(r.err)")
            #expect(!r.err.contains("Fatal error") && !r.err.contains("Backtrace"))
        }

        @Test func aHostileSubmissionIsRefusedByTheCoordinator() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            // What the CLI would never send: the coordinator checks it again.
            for action in ["cpu:99999999999999", "sleep:-4", "fail:1000000"] {
                #expect(throws: WireError.self) { try c.client().submit(builtinJob(action, tasks: 1)) }
            }
            var huge = builtinJob("noop", tasks: 1)
            huge.stages[0].tasks = UInt32.max
            do { _ = try c.client().submit(huge); Issue.record("a job of 4 billion tasks was accepted") }
            catch { #expect("\(error)".contains("the limit is 100000000")) }
            #expect(try c.client().submit(builtinJob("noop", tasks: 3)).jobID == "job-1")
            #expect(try c.waitForJob("job-1").state == "succeeded")
        }

        @Test func versionOnEveryCommand() throws {
            for args in [["--version"], ["submit", "--version"], ["status", "--version"], ["worker", "--version"], ["local", "--version"]] {
                let r = try Self.sluice(args)
                #expect(r.status == 0, "\(args)")
                #expect(r.out.hasPrefix("sluice \(SluiceVersion.string) (protocol 1...1, debug build") || r.out.contains("release build"), "\(args): \(r.out)")
            }
        }

        @Test func oneProcessPerDataDir() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            let second = try Self.sluice(["coordinator", "--listen", "tcp://127.0.0.1:\(freePort())", "--data-dir", c.dir + "/coordinator",
                                          "--secret-file", c.secretFile])
            #expect(second.status == 1)
            #expect(second.err.contains("is in use by process \(c.coordinator!.processIdentifier)"), "\(second.err)")
            let worker = try Self.sluice(["worker", "--coordinator", c.address, "--data-dir", c.dir + "/w1", "--secret-file", c.secretFile])
            #expect(worker.status == 1)
            #expect(worker.err.contains("is in use by process \(c.workers["w1"]!.processIdentifier)"), "\(worker.err)")
            // The first coordinator is unharmed.
            #expect(try c.client().submit(builtinJob("noop", tasks: 2)).jobID == "job-1")
            #expect(try c.waitForJob("job-1").state == "succeeded")
        }

        @Test(arguments: [false, true])
        func killingAWorkerLeavesNoTaskProcessBehind(shell: Bool) throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            let marker = "sleep 601\(shell ? 1 : 0)"
            // With --shell the sleep is the shell's child, the task's grandchild.
            let spec = shell ? commandJob(["sleep 601\(1); echo never"], tasks: 1, shell: true) : commandJob(["sleep", "6010"], tasks: 1)
            _ = try c.client().submit(spec)
            try c.eventually("the task runs") { runningProcesses().contains(marker) }
            c.kill9(c.workers["w1"]!)
            try c.eventually("no sleep left behind", timeout: 10) { !runningProcesses().contains(marker) }
        }

        @Test func whatADeadGuardLeftIsKilledByItsWorkerOrByTheWorkersNextStart() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            func guards() -> [pid_t] {
                let worker = c.workers["w1"]!.processIdentifier
                return processTable().filter { parentOf($0.pid) == worker }.map(\.pid)
            }
            // The guard dies (as if the OOM killer took it): its shell dies with it, and the worker kills the orphaned sleeps.
            _ = try c.client().submit(commandJob(["sleep 6021 & sleep 6022; echo never"], tasks: 1, retries: 0, shell: true))
            try c.eventually("the task runs") { runningProcesses().contains("sleep 6021") && runningProcesses().contains("sleep 6022") }
            for g in guards() { kill(g, SIGKILL) }
            try c.eventually("the worker swept the group") { !runningProcesses().contains("sleep 6021") && !runningProcesses().contains("sleep 6022") }
            let summary = try c.waitForJob("job-1")
            #expect(summary.reason.contains("its guard process died"), "\(summary.reason)")

            // Guard and worker die together, the worker before it could look: its next start kills the leftovers.
            _ = try c.client().submit(commandJob(["sleep 6023 & sleep 6024; echo never"], tasks: 1, shell: true))
            try c.eventually("the task runs") { runningProcesses().contains("sleep 6023") && runningProcesses().contains("sleep 6024") }
            let worker = c.workers["w1"]!
            kill(worker.processIdentifier, SIGSTOP)
            for g in guards() { kill(g, SIGKILL) }
            c.kill9(worker)
            Thread.sleep(forTimeInterval: 0.5)
            #expect(runningProcesses().contains("sleep 6023"), "the orphaned sleep should still run until the worker restarts")
            // Cancelled, so that the restarted worker is not given the task again.
            #expect(try c.cli(["cancel", "job-2"]).status == 0)
            try c.startWorker("w1")
            try c.eventually("the restarted worker killed the leftovers") {
                !runningProcesses().contains("sleep 6023") && !runningProcesses().contains("sleep 6024")
            }
            #expect(c.log("w1").contains("killed task processes a previous run of this worker left behind"))
        }

        @Test func nothingListeningFailsAtOnceAndAddressesNeedNoScheme() throws {
            let port = freePort()
            let started = Date()
            let r = try Self.sluice(["status", "--coordinator", "127.0.0.1:\(port)"], env: ["SLUICE_SECRET": "a-secret-long-enough-to-pass"])
            #expect(Date().timeIntervalSince(started) < 5)
            #expect(r.status == 1)
            #expect(r.err.contains("nothing listens at tcp://127.0.0.1:\(port)"), "\(r.err)")
            let dns = try Self.sluice(["submit", "--builtin", "noop", "--coordinator", "tcp://no-such-host.invalid:7070"], env: ["SLUICE_SECRET": "a-secret-long-enough-to-pass"])
            #expect(dns.status == 1)
            #expect(dns.err.contains("cannot resolve the host of tcp://no-such-host.invalid:7070"), "\(dns.err)")

            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            let ok = try Self.sluice(["status", "--coordinator", "127.0.0.1:\(c.port)", "--secret-file", c.secretFile])
            #expect(ok.status == 0 && ok.out.contains("w1#"))
        }

        @Test func aJobNobodyCanRunWaitsAndSaysWhy() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator()
            // No worker at all.
            let waiting = try c.launchCLI(["submit", "--wait", "--tasks", "2", "--command", "--", "true"])
            try c.eventually("submit --wait says no worker is alive") { c.log("cli").contains("no worker is alive") }
            // A worker that refuses commands: the job waits instead of failing there.
            try c.startWorker("plain", allowCommands: false)
            try c.waitForWorkers(1)
            try c.eventually("submit --wait names the missing capability") { c.log("cli").contains("needs 'commands'") }
            let status = try c.cli(["status"])
            #expect(status.out.contains("waiting: no live worker can run stage 0: it needs 'commands' (start workers with --allow-commands)"), "\(status.out)")
            #expect(try c.cli(["job", "job-1"]).out.contains("waiting: no live worker can run stage 0"))
            try c.startWorker("shell")
            waiting.waitUntilExit()
            #expect(waiting.terminationStatus == 0)
            let attempts = try c.allTasks("job-1").flatMap(\.attempts)
            #expect(attempts.count == 2 && attempts.allSatisfy { $0.workerID.hasPrefix("shell#") && $0.state == "succeeded" })
        }

        @Test func ctrlCDuringWaitLeavesTheJobRunning() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            let waiting = try c.launchCLI(["submit", "--wait", "--builtin", "sleep:60000"])
            try c.eventually("the job runs") { try c.client().status().runningTasks == 1 }
            kill(waiting.processIdentifier, SIGINT)
            waiting.waitUntilExit()
            #expect(waiting.terminationStatus == 130)
            #expect(c.log("cli").contains("job-1 keeps running (`sluice cancel job-1` stops it"))
            #expect(try c.client().job("job-1").summary.state == "running")
        }

        @Test func statusTellsLeasedFromRunningAndShowsTheWorkersOwnLoad() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator(["--lease-ahead", "4"])
            try c.startWorker("w1", slots: 1)
            try c.waitForWorkers(1)
            _ = try c.client().submit(commandJob(["sh", "-c", "while :; do :; done"], tasks: 3))
            var w = WorkerStatus()
            try c.eventually("one running, two leased, and the busy loop measured", timeout: 15) {
                w = try c.client().status().workers[0]
                return w.tasksRunning == 1 && w.tasksLeased == 2 && w.stats.treeCpuPercent > 40
            }
            #expect(w.stats.treeRssBytes > w.stats.processRssBytes)
            #expect(w.stats.treeProcesses >= 3)
            let s = try c.client().status()
            #expect(s.leasedTasks == 2 && s.runningTasks == 1)
            #expect(s.coordinatorVersion == SluiceVersion.string && s.uptimeMs > 0 && s.coordinatorRssBytes > 0 && s.journalBytes > 0)
            let table = try c.cli(["status"])
            #expect(table.out.contains("LEASED") && table.out.contains("sluice \(SluiceVersion.string)"))
            #expect(try c.cli(["cancel", "job-1"]).status == 0)
        }

        @Test func deadWorkersShowOnlyForAWhile() throws {
            let c = try TestCluster(deadAfter: "500ms")
            defer { c.shutdown() }
            try c.startCoordinator(["--show-dead-for", "2s"])
            try c.startWorker("w1")
            try c.waitForWorkers(1)
            c.kill9(c.workers["w1"]!)
            try c.eventually("w1 dead") { try c.client().status().workers.first?.state == "dead" }
            #expect(try c.cli(["status"]).out.contains("dead "))
            try c.eventually("w1 gone from status") { try c.client().status().workers.isEmpty }
        }

        @Test func aCleanShutdownExitsZeroWithNothingLeft() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            _ = try c.client().submit(commandJob(["sleep", "6031"], tasks: 2))
            try c.eventually("tasks run") { runningProcesses().contains("sleep 6031") }
            let w = c.workers["w1"]!
            kill(w.processIdentifier, SIGTERM)
            // Draining waits for running tasks; a second SIGTERM is not needed for the test: cancel lets them end.
            #expect(try c.cli(["cancel", "job-1"]).status == 0)
            w.waitUntilExit()
            #expect(w.terminationStatus == 0)
            #expect(!runningProcesses().contains("sleep 6031"))
            let coordinator = c.coordinator!
            kill(coordinator.processIdentifier, SIGTERM)
            coordinator.waitUntilExit()
            #expect(coordinator.terminationStatus == 0)
            #expect(c.log("coordinator").contains("coordinator stopped"))
            #expect(!c.log("coordinator").contains("threads still running"))
            #expect(!c.log("w1").contains("threads still running"))
        }
    }

    @Suite(.serialized) struct LocalCluster {
        @Test func localChecksItsSettingsBeforeStartingAnything() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator()
            // Its port is taken by the test cluster's coordinator.
            let r = try Edges.sluice(["local", "--port", "\(c.port)", "--data-dir", c.dir + "/local"])
            #expect(r.status == 1)
            #expect(r.err.contains("port \(c.port) on 127.0.0.1 is in use"), "\(r.err)")
            #expect(!FileManager.default.fileExists(atPath: c.dir + "/local/coordinator"))
        }

        @Test func aChildThatKeepsFailingAtStartStopsLocalWithItsLastLines() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            // Something else holds the local cluster's coordinator data dir: its coordinator can never start.
            let squatter = try c.launch("squatter", ["coordinator", "--listen", "tcp://127.0.0.1:\(freePort())",
                                                     "--data-dir", c.dir + "/local/coordinator", "--secret-file", c.secretFile])
            try c.eventually("the squatter holds its lock") { FileManager.default.fileExists(atPath: c.dir + "/local/coordinator/lock") }
            Thread.sleep(forTimeInterval: 0.3)
            let started = Date()
            let r = try Edges.sluice(["local", "--port", "\(freePort())", "--data-dir", c.dir + "/local"])
            #expect(Date().timeIntervalSince(started) < 25)
            #expect(r.status == 1)
            #expect(r.err.contains("coordinator exited at start-up 3 times in a row"), "\(r.err)")
            #expect(r.err.contains("is in use by process \(squatter.processIdentifier)"), "\(r.err)")
        }

        @Test func localsDaemonsDieWithIt() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            let dataDir = c.dir + "/local"
            let local = try c.launch("local", ["local", "--workers", "2", "--port", "\(c.port)", "--data-dir", dataDir])
            try c.eventually("the local cluster is up", timeout: 30) { c.log("local").contains("ready") }
            let client = try ClusterClient(coordinator: c.address, clusterID: "sluice", secret: ClusterSecret(file: dataDir + "/secret"))
            _ = try client.submit(commandJob(["sleep", "6041"], tasks: 2))
            try c.eventually("tasks run") { runningProcesses().contains("sleep 6041") }
            #expect(processTable().filter { $0.args.contains(dataDir) }.count >= 3)
            c.kill9(local)
            try c.eventually("no daemon or task of it left", timeout: 15) {
                processTable().filter { $0.args.contains(dataDir) }.isEmpty && !runningProcesses().contains("sleep 6041")
            }
        }
    }
}

/// The parent pid of a process, from /proc.
func parentOf(_ pid: pid_t) -> pid_t {
    ProcFS.stat(pid)?.ppid ?? 0
}
