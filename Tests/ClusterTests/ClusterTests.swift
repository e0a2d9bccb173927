import Client
import Foundation
import SQLite
import Testing
import Transport
import Wire

func builtinJob(_ action: String, tasks: Int, retries: Int? = nil) -> JobSpec {
    JobSpec(name: action, stages: [StageSpec(tasks: UInt32(tasks), spec: TaskSpec(kind: .builtin, payload: BuiltinSpec(action: action).encoded()))],
            retries: UInt32(retries ?? 0), retriesSet: retries != nil)
}

func commandJob(_ argv: [String], tasks: Int, retries: Int? = nil, shell: Bool = false, timeoutMs: UInt32 = 0) -> JobSpec {
    JobSpec(name: argv.joined(separator: " "), stages: [StageSpec(tasks: UInt32(tasks), spec: TaskSpec(
        kind: .command, payload: CommandSpec(argv: argv, shell: shell).encoded(), timeoutMs: timeoutMs))],
        retries: UInt32(retries ?? 0), retriesSet: retries != nil)
}

/// A command task that sleeps, then appends a record line as the `record` builtin does.
func slowRecordJob(_ file: String, tasks: Int, sleep: String = "0.03") -> JobSpec {
    commandJob(["sh", "-c", "sleep \(sleep); printf '%s\\t0.%s\\t%s\\t%s\\n' \"$SLUICE_JOB_ID\" {{task}} \"$SLUICE_ATTEMPT_ID\" \"$SLUICE_WORKER_ID\" >> \(file)"], tasks: tasks)
}

/// Every cluster suite runs serialized: the machine has two cores.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ClusterTests {

    @Suite(.serialized) struct Membership {
        @Test func twoWorkersJoinAndShowInStatus() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator()
            try c.startWorker("w1")
            try c.startWorker("w2", slots: 3)
            try c.waitForWorkers(2)
            let r = try c.cli(["status", "--json"])
            #expect(r.status == 0)
            let status = try JSONDecoder().decode(ClusterStatus.self, from: Data(r.out.utf8))
            #expect(Set(status.workers.map(\.workerID)) == ["w1", "w2"])
            #expect(status.workers.first { $0.workerID == "w2" }?.slots == 3)
            #expect(status.workers.allSatisfy { $0.state == "alive" && $0.host == "127.0.0.1" && $0.stats.memoryTotalBytes > 0 })
            let table = try c.cli(["status"])
            #expect(table.out.contains("w1#") && table.out.contains("queue depth 0"))
        }

        @Test func sigtermDrainsAWorker() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator()
            let w1 = try c.startWorker("w1", slots: 2)
            try c.startWorker("w2", slots: 2)
            try c.waitForWorkers(2)
            let job = try c.client().submit(builtinJob("sleep:700", tasks: 8)).jobID
            try c.eventually("w1 running tasks") { try c.client().status().workers.first { $0.workerID == "w1" }!.slotsUsed > 0 }
            kill(w1.processIdentifier, SIGTERM)
            w1.waitUntilExit()
            #expect(w1.terminationStatus == 0)
            let summary = try c.waitForJob(job)
            #expect(summary.state == "succeeded")
            // Drained, not lost: no attempt failed or was lost with the worker.
            let attempts = try c.allTasks(job).flatMap(\.attempts)
            #expect(!attempts.contains { $0.state == "failed" || $0.state == "lost" && $0.workerID.hasPrefix("w1") && $0.startedAtUs > 0 })
            #expect(c.log("w1").contains("left the cluster"))
            try c.eventually("w1 gone from status") { try !c.client().status().workers.contains { $0.workerID == "w1" } }
        }

        @Test func aRestartedWorkerRejoinsAsANewIncarnation() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator()
            let w1 = try c.startWorker("w1")
            try c.waitForWorkers(1)
            let first = try c.aliveWorkers()[0].incarnation
            c.kill9(w1)
            try c.startWorker("w1")
            try c.eventually("new incarnation") { try c.aliveWorkers().contains { $0.workerID == "w1" && $0.incarnation != first } }
            let states = try c.client().status().workers.filter { $0.workerID == "w1" }.map(\.state).sorted()
            #expect(states == ["alive", "dead"])
        }
    }

    @Suite(.serialized) struct Execution {
        @Test func aThousandRecordTasksRunExactlyOnceEach() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1", "w2"])
            let file = c.dir + "/record.tsv"
            let job = try c.client().submit(builtinJob("record:\(file)", tasks: 1000)).jobID
            #expect(try c.waitForJob(job).state == "succeeded")
            let lines = readRecords(file)
            #expect(lines.count == 1000)
            #expect(Set(lines.map(\.task)).count == 1000)
            #expect(Set(lines.map(\.worker)).count == 2)
        }

        @Test func commandOutputEnvironmentAndLogs() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            let r = try c.cli(["submit", "--tasks", "3", "--wait", "--output", "--env", "GREETING=hi", "--command", "--",
                               "sh", "-c", "echo \"$GREETING {{task}} $SLUICE_TASK_ID\"; echo oops{{task}} >&2"])
            #expect(r.status == 0)
            #expect(r.out == "hi 0 job-1/0.0\nhi 1 job-1/0.1\nhi 2 job-1/0.2\n")
            let logs = try c.cli(["logs", "job-1/2"])
            #expect(logs.out == "hi 2 job-1/0.2\n")
            #expect(logs.err == "oops2\n")
            let output = try c.cli(["job", "job-1", "--output"])
            #expect(output.out == r.out)
        }

        @Test func aCommandThatCannotStartFailsWithItsReason() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            let r = try c.cli(["submit", "--wait", "--retries", "0", "--command", "--", "/no/such/program"])
            #expect(r.status != 0)
            #expect(r.err.contains("cannot start /no/such/program: No such file or directory"))
        }

        @Test func failTwiceThenSucceed() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1", "w2"])
            let r = try c.cli(["submit", "--tasks", "5", "--builtin", "fail:2", "--wait", "--json"])
            #expect(r.status == 0)
            #expect(try c.client().job("job-1").summary.state == "succeeded")
            let tasks = try c.allTasks("job-1")
            #expect(tasks.count == 5)
            #expect(tasks.allSatisfy { $0.attempts.map(\.state) == ["failed", "failed", "succeeded"] })
        }

        @Test func failAlwaysFailsTheJobWithTheReasonShown() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            let r = try c.cli(["submit", "--tasks", "2", "--retries", "2", "--builtin", "fail:1000", "--wait"])
            #expect(r.status != 0)
            #expect(r.err.split(separator: "\n").count == 1)
            #expect(r.err.contains("failed after 3 attempts: builtin fail: attempt 3 of 1000 planned failures"))
            let shown = try c.cli(["job", "job-1"])
            #expect(shown.out.contains("job-1 failed: task 0."))
            #expect(shown.out.contains("failed after 3 attempts"))
        }

        @Test func aTimedOutCommandIsStoppedAndRetried() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            let r = try c.cli(["submit", "--timeout", "300ms", "--retries", "1", "--wait", "--command", "--", "sleep", "30"])
            #expect(r.status != 0)
            #expect(r.err.contains("failed after 2 attempts: timed out after 300 ms"))
        }

        @Test func cancelStopsRunningTasks() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            let job = try c.client().submit(commandJob(["sleep", "60"], tasks: 4)).jobID
            try c.eventually("tasks running") { runningProcesses().contains("sleep 60") }
            let r = try c.cli(["cancel", job])
            #expect(r.out == "\(job) cancelled\n")
            try c.eventually("no sleep left on the worker") {
                try c.client().status().workers[0].slotsUsed == 0 && !runningProcesses().contains("sleep 60")
            }
        }

        @Test func aSmallJobIsNotStarvedByAHugeOne() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            let huge = try c.client().submit(builtinJob("sleep:50", tasks: 10_000)).jobID
            let small = try c.client().submit(builtinJob("noop", tasks: 3)).jobID
            #expect(try c.waitForJob(small, timeout: 20).state == "succeeded")
            #expect(try c.client().job(huge).summary.state == "running")
        }
    }

    @Suite(.serialized) struct Faults {
        @Test func killingAWorkerMidJobLosesNothing() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator()
            let w1 = try c.startWorker("w1")
            try c.startWorker("w2")
            try c.waitForWorkers(2)
            let file = c.dir + "/record.tsv"
            let job = try c.client().submit(slowRecordJob(file, tasks: 150)).jobID
            try c.eventually("a third done") { readRecords(file).count >= 50 }
            c.kill9(w1)
            #expect(try c.waitForJob(job).state == "succeeded")
            let r = try c.cli(["job", job, "--page", "1", "--json"])
            let detail = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
            let tasks = (detail["stages"] as! [[String: Any]])[0]["tasks"] as! [[String: Any]]
            let lines = readRecords(file)
            #expect(tasks.count == 150)
            for t in tasks {
                let index = "0.\(t["task"] as! Int)"
                let committed = UInt64(t["committedAttempt"] as! Int)
                let mine = lines.filter { $0.task == index }
                let at = try #require(mine.firstIndex { $0.attempt == committed }, "task \(index): committed attempt \(committed) left no record")
                #expect(at == mine.count - 1, "task \(index) ran again after its committed attempt")
            }
            #expect(lines.contains { $0.worker.hasPrefix("w1") })
        }

        @Test func killingTheCoordinatorMidJobNeitherLosesNorRerunsCommittedTasks() throws {
            let c = try TestCluster(deadAfter: "3s")
            defer { c.shutdown() }
            try c.start(workers: ["w1", "w2"])
            let file = c.dir + "/record.tsv"
            let job = try c.client().submit(slowRecordJob(file, tasks: 150)).jobID
            try c.eventually("some done") { try c.client().job(job).summary.tasksSucceeded >= 40 }
            c.kill9(c.coordinator!)
            // Committed as far as the dead coordinator's journal knows: read it after the kill.
            let committedBefore = try committedTasks(journal: c.dir + "/coordinator/journal.db", job: job)
            #expect(committedBefore.count >= 40)
            try c.startCoordinator()
            #expect(try c.waitForJob(job).state == "succeeded")
            let lines = readRecords(file)
            for task in committedBefore {
                #expect(lines.filter { $0.task == "0.\(task)" }.count == 1, "task \(task) was committed before the crash and ran again")
            }
            #expect(Set(lines.map(\.task)).count == 150)
            #expect(c.log("w1").contains("registered"))
        }

        @Test func anAcknowledgedSubmitSurvivesKill9() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator()
            let job = try c.client().submit(builtinJob("noop", tasks: 5)).jobID
            c.kill9(c.coordinator!)
            try c.startCoordinator()
            try c.startWorker("w1")
            #expect(try c.waitForJob(job).state == "succeeded")
        }

        @Test func aCrashingTaskBecomesPoison() throws {
            let c = try TestCluster(deadAfter: "1s")
            defer { c.shutdown() }
            try c.startCoordinator()
            for i in 1...4 { try c.startWorker("w\(i)", slots: 1) }
            try c.waitForWorkers(4)
            let job = try c.client().submit(builtinJob("crash", tasks: 1, retries: 10)).jobID
            let summary = try c.waitForJob(job)
            #expect(summary.state == "failed")
            #expect(summary.reason.contains("poison"))
            #expect(try c.aliveWorkers().count == 1)
        }

        @Test func aRetriedSubmissionRunsOnce() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator()
            let client = try c.client()
            let a = try client.submit(builtinJob("noop", tasks: 1), submissionID: "same-id")
            let b = try client.submit(builtinJob("noop", tasks: 1), submissionID: "same-id")
            #expect(a.jobID == b.jobID && b.duplicate)
            c.kill9(c.coordinator!)
            try c.startCoordinator()
            let d = try client.submit(builtinJob("noop", tasks: 1), submissionID: "same-id")
            #expect(d.jobID == a.jobID && d.duplicate)
            #expect(try client.jobs().count == 1)
        }
    }
}

/// Task indices with a succeeded attempt in a coordinator's journal.
func committedTasks(journal: String, job: String) throws -> Set<Int> {
    let db = try Database(path: journal)
    var out: Set<Int> = []
    try db.statement("SELECT DISTINCT task FROM attempt_states WHERE job_id = ? AND state = 'succeeded'").query(.text(job)) { out.insert(Int($0.int(0))) }
    return out
}

/// Every process's command line, one per line.
func runningProcesses() -> String {
    processTable().map(\.args).joined(separator: "\n")
}

extension ClusterTests {
    @Suite(.serialized) struct LocalAndUsers {
        @Test(.enabled(if: getuid() == 0, "needs root to switch users"))
        func runAsRunsCommandsAsThatUser() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator()
            try c.startWorker("w1", extraArgs: ["--run-as", "nobody"])
            try c.waitForWorkers(1)
            let r = try c.cli(["submit", "--wait", "--output", "--cwd", "/", "--command", "--", "id", "-un"])
            #expect(r.status == 0)
            #expect(r.out == "nobody\n")
        }

        @Test func localRestartsAWorkerThatDies() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            let local = try c.launch("local", ["local", "--workers", "2", "--port", "\(c.port)", "--data-dir", c.dir + "/local"])
            let secret = c.dir + "/local/secret"
            let client = { try ClusterClient(coordinator: c.address, clusterID: "sluice", secret: ClusterSecret(file: secret)) }
            var first: [String: UInt64] = [:]
            try c.eventually("two local workers") {
                let alive = try client().status().workers.filter { $0.state == "alive" }
                first = Dictionary(uniqueKeysWithValues: alive.map { ($0.workerID, $0.incarnation) })
                return alive.count == 2
            }
            // Kill worker local-1's process; the supervisor starts it again as a new incarnation.
            let pids = processTable().filter { $0.args.contains("--id local-1") && $0.args.contains(" worker ") }
            let victim = try #require(pids.first?.pid)
            kill(victim, SIGKILL)
            try c.eventually("local-1 back as a new incarnation") {
                try client().status().workers.contains { $0.workerID == "local-1" && $0.state == "alive" && $0.incarnation != first["local-1"] }
            }
            kill(local.processIdentifier, SIGTERM)
            local.waitUntilExit()
            #expect(local.terminationStatus == 0)
        }
    }
}

/// (pid, command line) of every process on the machine.
func processTable() -> [(pid: pid_t, args: String)] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/ps")
    p.arguments = ["-eo", "pid=,args="]
    let out = Pipe()
    p.standardOutput = out
    try? p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return text.split(separator: "\n").compactMap { line in
        let trimmed = line.drop { $0 == " " }
        guard let space = trimmed.firstIndex(of: " "), let pid = pid_t(trimmed[..<space]) else { return nil }
        return (pid, String(trimmed[space...]) + " ")
    }
}
