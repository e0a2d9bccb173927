import ArgumentParser
import Client
import Foundation
import Wire

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "The coordinator, its workers, queue depth and running jobs.")
    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Redraw every --interval until Ctrl-C (in place on a terminal).") var watch = false
    @Option(parsing: .unconditional, help: "How often --watch redraws (100ms...1h).") var interval = DurationArgument("2s")

    func validate() throws {
        _ = try interval.value("--interval", in: 100...3_600_000)
        if json && watch { throw ValidationError("--watch draws the table; --json prints once") }
    }

    func run() throws {
        let client = try cluster.client()
        guard watch else {
            let s = try client.status()
            return json ? try printJSON(s) : print(render(s), terminator: "")
        }
        let pause = Double(try interval.value("--interval", in: 100...3_600_000)) / 1000
        let terminal = isatty(1) == 1
        while true {
            let text: String
            do { text = render(try client.status()) } catch { text = "cannot reach the coordinator: \(error)\n" }
            // On a terminal: home, draw, clear what the last frame left below; elsewhere one frame after another.
            let frame = terminal ? "\u{1B}[H" + text.replacingOccurrences(of: "\n", with: "\u{1B}[K\n") + "\u{1B}[J" : text + "\n"
            FileHandle.standardOutput.write(Data(frame.utf8))
            Thread.sleep(forTimeInterval: pause)
        }
    }

    func render(_ s: ClusterStatus) -> String {
        var out = ""
        func print(_ line: String) { out += line + "\n" }
        print("coordinator \(s.coordinatorID) at \(cluster.address): sluice \(s.coordinatorVersion), epoch \(s.coordinatorEpoch), up \(duration(s.uptimeMs)), "
              + "memory \(bytes(s.coordinatorRssBytes)), journal \(bytes(s.journalBytes)), \(s.jobsInMemory) jobs in memory")
        var t = Table("WORKER", "HOST", "STATE", "SLOTS", "LEASED", "RUNNING", "CPU", "MEMORY", "HEARTBEAT", "CAN RUN")
        for w in s.workers {
            let state = w.state == "alive" ? w.state : "\(w.state) \(duration(w.stateAgeMs))"
            t.add("\(w.workerID)#\(w.incarnation)", w.host, state, "\(w.slotsUsed)/\(w.slots)", "\(w.tasksLeased)", "\(w.tasksRunning)",
                  String(format: "%.0f%%", w.stats.treeCpuPercent), bytes(w.stats.treeRssBytes),
                  age(w.lastHeartbeatAgeMs), w.capabilities.isEmpty ? "builtins" : (["builtins"] + w.capabilities).joined(separator: ","))
        }
        print(t.render())
        print("queue depth \(s.queueDepth), leased \(s.leasedTasks), running \(s.runningTasks), running jobs \(s.runningJobs.count)")
        if s.autoscaler.enabled {
            let a = s.autoscaler
            print("autoscaler (\(a.provider)\(a.dryRun ? ", dry run" : "")): \(a.workers) workers, \(a.starting) starting, desired \(a.desired), "
                  + "min \(a.min), max \(a.max)" + (a.lastDecision.isEmpty ? "" : "; last: \(a.lastDecision)"))
        }
        for j in s.runningJobs {
            print("  \(j.jobID) \(j.name): \(j.tasksSucceeded)/\(j.tasksTotal) done, \(j.tasksRunning) running, \(j.tasksQueued) queued"
                  + (j.waiting.isEmpty ? "" : "; waiting: \(j.waiting)"))
        }
        for a in s.alerts { print("ALERT \(a.rule) firing for \(a.subject) since \(time(a.sinceMs)): \(a.value)") }
        return out
    }
}

struct AlertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "alerts", abstract: "Alerts that fire now (the coordinator's --alerts rules).")
    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let alerts = try cluster.client().status().alerts
        if json { return try printJSON(alerts) }
        guard !alerts.isEmpty else { return print("no alert fires") }
        var t = Table("RULE", "SUBJECT", "SINCE", "VALUE")
        for a in alerts { t.add(a.rule, a.subject, time(a.sinceMs), a.value) }
        print(t.render())
    }
}

/// A time of day (UTC) from Unix milliseconds.
func time(_ ms: Int64) -> String {
    let f = DateFormatter()
    f.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
    f.timeZone = TimeZone(identifier: "UTC")
    return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
}

struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jobs", abstract: "Recent jobs, newest first.")
    @OptionGroup var cluster: ClusterOptions
    @Option(parsing: .unconditional, help: "How many, 1...1000.") var limit = Number(50)
    @Flag(help: "Print JSON.") var json = false

    func validate() throws { _ = try limit.value("--limit", in: 1...1000) }

    func run() throws {
        let jobs = try cluster.client().jobs(limit: try limit.value("--limit", in: 1...1000))
        if json { return try printJSON(jobs) }
        var t = Table("JOB", "STATE", "TASKS", "SUBMITTED", "NAME")
        for j in jobs {
            let when = Date(timeIntervalSince1970: Double(j.submittedAtMs) / 1000)
            t.add(j.jobID, j.state, "\(j.tasksSucceeded)/\(j.tasksTotal)", when.formatted(.iso8601), String(j.name.prefix(60)))
        }
        print(t.render())
    }
}

struct JobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "A job's stages, tasks and attempts: where each ran and why each failed.",
        discussion: """
            Without --page it shows the summary and the tasks that need a look: running ones, and those with a
            failed attempt. --page N lists every task that has run, --page-size at a time; --state keeps one state.
            """)
    @OptionGroup var cluster: ClusterOptions
    @Argument(help: "Job id.") var id: String
    @Flag(help: "Print the tasks' stdout in task order (every page).") var output = false
    @Option(parsing: .unconditional, help: "Page of tasks, from 1.") var page: Number?
    @Option(help: "Only tasks in this state: pending, backoff, leased, running, succeeded, failed, cancelled.") var state: String?
    @Option(parsing: .unconditional, help: "Tasks per page, 1...10000 (default 1000).") var pageSize: Number?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        _ = try page?.value("--page", in: 1...Int(UInt32.max))
        _ = try pageSize?.value("--page-size", in: 1...10_000)
    }

    func run() throws {
        let client = try cluster.client()
        if output && !json { return try printCommittedOutput(client, id) }
        let pageNumber = try page?.value("--page", in: 1...Int(UInt32.max)) ?? (state == nil ? 0 : 1)
        let d = try client.job(id, page: pageNumber, state: state ?? "", pageSize: try pageSize?.value("--page-size", in: 1...10_000) ?? 0,
                               includeOutput: output)
        if json { return try printJSON(JobView(d)) }
        let s = d.summary
        print("\(s.jobID) \(s.state)\(s.reason.isEmpty ? "" : ": \(s.reason)")")
        print("  \(s.name)")
        print("  tasks: \(s.tasksSucceeded) succeeded, \(s.tasksFailed) failed, \(s.tasksRunning) running, \(s.tasksQueued) queued, \(s.tasksTotal) in all")
        if !s.waiting.isEmpty { print("  waiting: \(s.waiting)") }
        for stage in d.stages {
            let deps = stage.dependsOn.isEmpty ? "" : " after \(stage.dependsOn.map(String.init).joined(separator: ","))"
            print("stage \(stage.id) \(stage.name) \(stage.state)\(deps)")
            var t = Table("TASK", "STATE", "ATTEMPT", "ID", "WORKER", "RESULT", "REASON")
            for task in stage.tasks {
                for a in task.attempts {
                    let mark = a.attemptID == task.committedAttempt ? "*" : ""
                    t.add("\(stage.id).\(task.task)", task.state, "\(a.attempt)", "\(a.attemptID)\(mark)", a.workerID, a.state, a.reason)
                }
            }
            if !t.rows.isEmpty { print(t.render()) }
        }
        if d.more {
            print("more on page \(d.page + 1): sluice job \(s.jobID) --page \(d.page + 1)\(state.map { " --state \($0)" } ?? "")")
        } else if d.page == 0 && s.tasksTotal > 0 {
            print("every task: sluice job \(s.jobID) --page 1 (\(d.pageSize) a page)")
        }
    }
}

/// `sluice job --json`: one page of the detail, with output as text.
struct JobView: Encodable {
    struct Attempt: Encodable {
        var attemptID: UInt64, attempt: UInt32, workerID: String, workerAddress: String, state: String, reason: String
        var exitCode: Int32, startedAtUs: Int64, finishedAtUs: Int64, output: String, outputOmitted: Bool
    }
    struct Task: Encodable { var task: UInt32, state: String, committedAttempt: UInt64, attempts: [Attempt] }
    struct Stage: Encodable { var id: UInt32, name: String, state: String, dependsOn: [UInt32], tasks: [Task] }
    var summary: JobSummary
    var stages: [Stage]
    var page: UInt32
    var more: Bool

    init(_ d: JobDetail) {
        summary = d.summary
        page = d.page
        more = d.more
        stages = d.stages.map { s in
            Stage(id: s.id, name: s.name, state: s.state, dependsOn: s.dependsOn, tasks: s.tasks.map { t in
                Task(task: t.task, state: t.state, committedAttempt: t.committedAttempt, attempts: t.attempts.map { a in
                    Attempt(attemptID: a.attemptID, attempt: a.attempt, workerID: a.workerID, workerAddress: a.workerAddress,
                            state: a.state, reason: a.reason, exitCode: a.exitCode, startedAtUs: a.startedAtUs,
                            finishedAtUs: a.finishedAtUs, output: String(decoding: a.output, as: UTF8.self), outputOmitted: a.outputOmitted)
                })
            })
        }
    }
}

struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a job and stop its running tasks.")
    @OptionGroup var cluster: ClusterOptions
    @Argument(help: "Job id.") var id: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let state = try cluster.client().cancel(id)
        if json { try printJSON(["job": id, "state": state]) } else { print("\(id) \(state)") }
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "A task's stdout and stderr, from the worker that ran it.",
                                                    discussion: "TASK is JOB/INDEX or JOB/STAGE.INDEX, e.g. job-3/7.")
    @OptionGroup var cluster: ClusterOptions
    @Argument(help: "The task.") var task: String
    @Option(parsing: .unconditional, help: "Attempt number (default: the committed one, else the latest).") var attempt: Number?
    @Flag(help: "Keep printing until the attempt ends.") var follow = false
    @Flag(help: "Print JSON.") var json = false

    func validate() throws { _ = try attempt?.value("--attempt", in: 1...Int(UInt32.max)) }

    func run() throws {
        guard let slash = task.lastIndex(of: "/") else { throw ValidationError("TASK is JOB/INDEX or JOB/STAGE.INDEX, got '\(task)'") }
        let jobID = String(task[..<slash])
        let parts = task[task.index(after: slash)...].split(separator: ".").map { UInt32($0) }
        guard !parts.isEmpty, parts.count <= 2, parts.allSatisfy({ $0 != nil }) else { throw ValidationError("cannot read task '\(task)'") }
        let (stageID, index) = parts.count == 2 ? (parts[0]!, parts[1]!) : (0, parts[0]!)
        let client = try cluster.client()
        let detail = try client.call(GetJob(jobID: jobID, page: 1, task: "\(stageID).\(index)"), timeout: .seconds(30))
        guard let t = detail.stages.first(where: { $0.id == stageID })?.tasks.first(where: { $0.task == index }) else {
            throw ClientError("task \(task) has not run yet (or \(jobID) has no such task)")
        }
        let number = try attempt?.value("--attempt", in: 1...Int(UInt32.max))
        let chosen: AttemptDetail?
        if let number { chosen = t.attempts.first { Int($0.attempt) == number } }
        else { chosen = t.attempts.first { $0.attemptID == t.committedAttempt } ?? t.attempts.last }
        guard let a = chosen else { throw ClientError("task \(task) has no attempt \(number ?? 0)") }
        guard !a.workerAddress.isEmpty else { throw ClientError("the worker that ran attempt \(a.attemptID) (\(a.workerID)) is not known to the coordinator any more") }
        var request = ReadLogs(jobID: jobID, task: index, attemptID: a.attemptID, maxBytes: 256 << 10)
        request.task = index
        var all = Logs()
        while true {
            let chunk = try client.readLogs(worker: a.workerAddress, request)
            if json { all.stdout += chunk.stdout; all.stderr += chunk.stderr } else {
                FileHandle.standardOutput.write(Data(chunk.stdout))
                FileHandle.standardError.write(Data(chunk.stderr))
            }
            request.stdoutOffset = chunk.stdoutOffset
            request.stderrOffset = chunk.stderrOffset
            let more = !chunk.stdout.isEmpty || !chunk.stderr.isEmpty
            if chunk.finished || (!follow && !more) { break }
            if !more { Thread.sleep(forTimeInterval: 0.2) }
        }
        if json {
            try printJSON(["task": task, "attempt": "\(a.attemptID)", "worker": a.workerID,
                           "stdout": String(decoding: all.stdout, as: UTF8.self), "stderr": String(decoding: all.stderr, as: UTF8.self)])
        }
    }
}
