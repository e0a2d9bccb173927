import Client
import Foundation
import Platform
import SQLite
import Synchronization
import Testing
import Wire

/// The coordinator's memory and restart time follow what is in flight, not history.
extension ClusterTests {
    @Suite(.serialized) struct BoundedCoordinator {
        /// Submits `count` one-task noop jobs from a few threads and waits until all have finished.
        static func runSmallJobs(_ c: TestCluster, count: Int, threads: Int = 4) throws {
            let failures = Mutex<[String]>([])
            let group = DispatchGroup()
            for t in 0..<threads {
                group.enter()
                Thread {
                    defer { group.leave() }
                    do {
                        let client = try c.client()
                        for _ in stride(from: t, to: count, by: threads) { _ = try client.submit(builtinJob("noop", tasks: 1)) }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }.start()
            }
            group.wait()
            try #require(failures.withLock { $0 } == [])
            try c.eventually("every job finished", timeout: 120) {
                let s = try c.client().status()
                return s.runningJobs.isEmpty && s.queueDepth == 0
            }
        }

        @Test(.timeLimit(.minutes(6)))
        func finishedJobsLeaveMemorySoItGrowsWithoutSlope() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            // A short freshness window lets the replay cache (replies kept for resends) reach its size in the first phase.
            try c.startCoordinator(["--keep-finished", "1s", "--freshness-window", "3s"])
            try c.startWorker("w1", slots: 4)
            try c.waitForWorkers(1)
            try Self.runSmallJobs(c, count: 20_000)
            try c.eventually("finished jobs forgotten") { try c.client().status().jobsInMemory == 0 }
            Thread.sleep(forTimeInterval: 4)
            let before = residentBytes(c.coordinator!.processIdentifier)
            try Self.runSmallJobs(c, count: 80_000)
            try c.eventually("finished jobs forgotten") { try c.client().status().jobsInMemory == 0 }
            Thread.sleep(forTimeInterval: 4)
            let after = residentBytes(c.coordinator!.processIdentifier)
            let perJob = Double(Int64(after) - Int64(before)) / 80_000
            print("coordinator RSS after 20,000 jobs: \(before >> 20) MiB; after 100,000: \(after >> 20) MiB; \(Int(perJob)) bytes per job")
            // Release 0.1.0 kept about 11.6 kB per finished job for good; the bound is 40x below that.
            #expect(perJob < 300, "coordinator memory grows \(Int(perJob)) bytes per finished job")
            // Old jobs read the same as new ones, from the journal.
            let jobs = try c.client().jobs(limit: 1000)
            #expect(jobs.count == 1000 && jobs.allSatisfy { $0.state == "succeeded" && $0.tasksSucceeded == 1 })
            let first = try c.cli(["job", "job-1", "--page", "1"])
            #expect(first.status == 0 && first.out.contains("job-1 succeeded") && first.out.contains("0.0"))
            #expect(try c.cli(["jobs", "--limit", "3"]).out.contains("job-100000"))
        }

        @Test(.timeLimit(.minutes(4)))
        func aTenMillionTaskJobRunsInMemoryProportionalToWhatIsInFlight() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1", "w2"])
            let job = try c.client().submit(builtinJob("noop", tasks: 10_000_000)).jobID
            try c.eventually("200,000 tasks done", timeout: 180) { try c.client().job(job).summary.tasksSucceeded >= 200_000 }
            let rss = residentBytes(c.coordinator!.processIdentifier)
            let status = try c.client().status()
            print("10,000,000-task job: coordinator RSS \(rss >> 20) MiB with \(status.queueDepth) queued")
            // Release 0.1.0 held every task as an object: 816 MB.
            #expect(rss < 200 << 20, "coordinator RSS \(rss >> 20) MiB")
            #expect(status.queueDepth > 9_000_000)
            // Its views answer within the receiver's limits: the summary, and any page.
            let shown = try c.cli(["job", job])
            #expect(shown.status == 0 && shown.out.contains("10000000 in all"))
            let page = try c.cli(["job", job, "--page", "50", "--json"])
            #expect(page.status == 0)
            let view = try JSONSerialization.jsonObject(with: Data(page.out.utf8)) as? [String: Any]
            let tasks = ((view?["stages"] as? [[String: Any]])?.first?["tasks"] as? [[String: Any]]) ?? []
            #expect(tasks.count == 1000 && (tasks.first?["task"] as? Int) == 49_000)
            #expect(try c.cli(["cancel", job]).out == "\(job) cancelled\n")
            #expect(try c.client().job(job).summary.state == "cancelled")
            #expect(try c.client().status().queueDepth == 0)
        }

        @Test func aRestartReplaysOnlyUnfinishedWork() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            for _ in 0..<50 { _ = try c.client().submit(builtinJob("noop", tasks: 2)) }
            try c.eventually("50 jobs done") { try c.client().status().runningJobs.isEmpty }
            let running = try c.client().submit(builtinJob("sleep:200", tasks: 20)).jobID
            try c.eventually("some of it done") { try c.client().job(running).summary.tasksSucceeded >= 2 }
            c.kill9(c.coordinator!)
            try c.startCoordinator()
            try c.eventually("restart logged") { c.log("coordinator").components(separatedBy: "journal replayed").count == 3 }
            let replay = c.log("coordinator").split(separator: "\n").last { $0.contains("journal replayed") } ?? ""
            #expect(replay.contains("unfinished.jobs=1"), "\(replay)")
            #expect(try c.waitForJob(running).state == "succeeded")
            #expect(try c.client().jobs(limit: 100).count == 51)
            #expect(try c.client().job("job-7").summary.state == "succeeded")
        }

        @Test func retentionPrunesOldJobsFromTheJournalAndTheirLogsFromWorkers() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator(["--retain", "2s", "--keep-finished", "0s"])
            try c.startWorker("w1")
            try c.waitForWorkers(1)
            let r = try c.cli(["submit", "--tasks", "2", "--wait", "--command", "--", "echo", "hello"])
            #expect(r.status == 0)
            #expect(FileManager.default.fileExists(atPath: c.dir + "/w1/logs/job-1"))
            try c.eventually("job-1 pruned from the journal", timeout: 30) {
                try c.cli(["job", "job-1"]).err.contains("no job 'job-1'")
            }
            try c.eventually("job-1's logs removed from the worker", timeout: 30) {
                !FileManager.default.fileExists(atPath: c.dir + "/w1/logs/job-1")
            }
            let db = try Database(path: c.dir + "/coordinator/journal.db", readOnly: true)
            var rows: Int64 = -1
            try db.statement("SELECT count(*) FROM leases WHERE job_seq = 1").query { rows = $0.int(0) }
            #expect(rows == 0)
        }

        @Test func aJournalWrittenByRelease010IsMigratedAndItsJobsResume() throws {
            let c = try TestCluster(deadAfter: "1s")
            defer { c.shutdown() }
            try FileManager.default.createDirectory(atPath: c.dir + "/coordinator", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: repoRoot + "/Tests/ClusterTests/Fixtures/journal-v1.db", toPath: c.dir + "/coordinator/journal.db")
            try c.startCoordinator()
            let jobs = try c.client().jobs()
            #expect(jobs.map(\.jobID) == ["job-4", "job-3", "job-2", "job-1"])
            #expect(jobs.map(\.state) == ["running", "cancelled", "failed", "succeeded"])
            #expect(jobs.first { $0.jobID == "job-1" }?.tasksSucceeded == 3)
            #expect(jobs.first { $0.jobID == "job-4" }?.name == "unfinished")
            #expect(try c.cli(["job", "job-1", "--output"]).out == "hello from 0\nhello from 1\nhello from 2\n")
            let failed = try c.cli(["job", "job-2"])
            #expect(failed.out.contains("failed after 2 attempts"))
            // The worker the old coordinator leased job-4 to is gone: its tasks run on a new one.
            try c.startWorker("w1", slots: 4)
            #expect(try c.waitForJob("job-4", timeout: 60).state == "succeeded")
            let next = try c.client().submit(builtinJob("noop", tasks: 1)).jobID
            #expect(next == "job-5")
            let db = try Database(path: c.dir + "/coordinator/journal.db", readOnly: true)
            #expect(try db.userVersion() == 2)
        }

        @Test func pagesAndStatesOfABigJob() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            let job = try c.client().submit(builtinJob("fail:1", tasks: 2_500, retries: 1)).jobID
            #expect(try c.waitForJob(job).state == "succeeded")
            // Page 0: the summary and the tasks that needed a second attempt, up to a page of them.
            let summary = try c.client().job(job)
            #expect(summary.more && summary.stages[0].tasks.count == 1000)
            #expect(summary.stages[0].tasks.allSatisfy { $0.attempts.map(\.state) == ["failed", "succeeded"] })
            var seen = Set<UInt32>()
            for p in 1...3 {
                let page = try c.client().job(job, page: p)
                #expect(page.more == (p < 3))
                for t in page.stages[0].tasks { seen.insert(t.task) }
            }
            #expect(seen.count == 2_500)
            let small = try c.client().job(job, page: 7, pageSize: 100)
            #expect(small.stages[0].tasks.map(\.task) == Array(600..<700))
            #expect(try c.client().job(job, page: 2, state: "succeeded").stages[0].tasks.count == 1000)
            #expect(try c.client().job(job, page: 1, state: "failed").stages[0].tasks.isEmpty)
            let bad = try c.cli(["job", job, "--state", "sideways"])
            #expect(bad.status == 1 && bad.err.contains("unknown task state 'sideways'"))
        }

        @Test(.timeLimit(.minutes(3)))
        func aReportLargerThanTheCoordinatorTakesIsSplit() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator(["--lease-ahead", "400"])
            try c.startWorker("w1", slots: 2, extraArgs: ["--lease-ahead", "400"])
            try c.waitForWorkers(1)
            // 300 tasks of 64 KiB of output each: 19 MiB of results, more than the coordinator's 16 MiB message limit.
            let spec = commandJob(["sh", "-c", "yes x | head -c 65536"], tasks: 300)
            let job = try c.client().submit(spec).jobID
            try c.eventually("the worker holds every task") {
                let w = try c.client().status().workers[0]
                return Int(w.tasksLeased + w.tasksRunning) + Int(try c.client().job(job).summary.tasksSucceeded) >= 300
            }
            // The coordinator stops answering while the tasks finish, so their results pile up on the worker.
            kill(c.coordinator!.processIdentifier, SIGSTOP)
            try c.eventually("the worker ran them all", timeout: 90) {
                (try? FileManager.default.contentsOfDirectory(atPath: c.dir + "/w1/logs/\(job)"))?.filter { $0.hasSuffix(".out") }.count == 300
            }
            Thread.sleep(forTimeInterval: 1)
            kill(c.coordinator!.processIdentifier, SIGCONT)
            #expect(try c.waitForJob(job, timeout: 90).state == "succeeded")
            let out = try c.cli(["job", job, "--output"])
            #expect(out.out.utf8.count == 300 * 65536)
        }
    }
}

/// Resident memory of a process, from /proc.
func residentBytes(_ pid: Int32) -> UInt64 {
    (ProcFS.stat(pid)?.residentPages ?? 0) * ProcFS.pageSize
}
