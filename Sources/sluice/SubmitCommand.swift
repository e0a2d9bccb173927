import ArgumentParser
import Client
import Foundation
import Scheduler
import Wire

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a job of N parallel tasks: a command (--command -- ARGV...) or a builtin diagnostic.",
        discussion: "In ARGV, {{task}} becomes the task's index. Each attempt sees SLUICE_JOB_ID, SLUICE_TASK_ID and SLUICE_ATTEMPT_ID.")

    @OptionGroup var cluster: ClusterOptions
    @Option(parsing: .unconditional, help: "Number of tasks (1...100000000).") var tasks = Number(1)
    @Option(name: .customLong("env"), help: "Environment variable K=V for the command (repeatable).") var envVars: [String] = []
    @Option(help: "Working directory of the command on the worker.") var cwd: String?
    @Option(parsing: .unconditional, help: "Per-task timeout, e.g. 30s, up to 7d (default: none).") var timeout: DurationArgument?
    @Option(parsing: .unconditional, help: "Retries after a failed attempt, 0...100 (default 3).") var retries: Number?
    @Option(parsing: .unconditional, help: "Share of slots against other jobs, 1...1000.") var weight = Number(1)
    @Option(help: "A name for the job.") var name: String?
    @Flag(help: "Run ARGV joined by spaces through /bin/sh -c.") var shell = false
    @Flag(help: "Wait for the job, show progress, exit with its status.") var wait = false
    @Flag(help: "With --wait: print the tasks' stdout in task order at the end.") var output = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "The task is the command after --.") var command = false
    @Option(help: "A builtin diagnostic: noop, sleep:MS, fail:N, crash, cpu:MS, record:FILE.") var builtin: String?
    @Argument(parsing: .postTerminator, help: "The command and its arguments.") var argv: [String] = []

    func validate() throws {
        if command == (builtin != nil) { throw ValidationError("give exactly one of --command -- ARGV... or --builtin ACTION") }
        if command && argv.isEmpty { throw ValidationError("--command needs the command after --, e.g. --command -- echo hello") }
        if !command && !argv.isEmpty { throw ValidationError("arguments after -- need --command") }
        if let b = builtin, let problem = Builtin.problem(b) { throw ValidationError(problem) }
        _ = try tasks.value("--tasks", in: 1...JobPlan.maxTasksPerStage)
        _ = try retries?.value("--retries", in: 0...100)
        _ = try weight.value("--weight", in: 1...1000)
        _ = try timeout?.value("--timeout", in: 1...DurationArgument.sevenDays)
    }

    func run() throws {
        let client = try cluster.client()
        let spec = try jobSpec()
        let reply = try client.submit(spec)
        guard wait || output else {
            if json { try printJSON(reply) } else { print(reply.jobID) }
            return
        }
        // From here the job exists: Ctrl-C stops the waiting, not the job.
        let interrupt = onTermination { _ in
            FileHandle.standardError.write(Data("\nsluice: stopped waiting; \(reply.jobID) keeps running (`sluice cancel \(reply.jobID)` stops it, `sluice job \(reply.jobID)` shows it)\n".utf8))
            Foundation.exit(130)
        }
        let interactive = isatty(2) == 1 && !json
        var last = ""
        var lastWaiting = ""
        let summary = try withExtendedLifetime(interrupt) {
            try client.wait(for: reply.jobID) { s in
                var line = "\(s.jobID): \(s.tasksSucceeded)/\(s.tasksTotal) succeeded, \(s.tasksRunning) running, \(s.tasksFailed) failed"
                if !s.waiting.isEmpty { line += "; waiting: \(s.waiting)" }
                if interactive && line != last {
                    FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
                    last = line
                } else if !interactive && s.waiting != lastWaiting && !s.waiting.isEmpty {
                    FileHandle.standardError.write(Data("sluice: \(s.jobID) is waiting: \(s.waiting)\n".utf8))
                }
                lastWaiting = s.waiting
            }
        }
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
        if output { try printCommittedOutput(client, reply.jobID) }
        if json { try printJSON(summary) } else if !output && summary.state == "succeeded" {
            print("\(summary.jobID) \(summary.state)\(summary.reason.isEmpty ? "" : ": \(summary.reason)")")
        }
        if summary.state != "succeeded" {
            throw ClientError("\(summary.jobID) \(summary.state)\(summary.reason.isEmpty ? "" : ": \(summary.reason)")")
        }
    }

    func jobSpec() throws -> JobSpec {
        var task = TaskSpec()
        if let timeout { task.timeoutMs = UInt32(try timeout.value("--timeout", in: 1...DurationArgument.sevenDays)) }
        if command {
            let env = try envVars.map { kv -> EnvVar in
                guard let eq = kv.firstIndex(of: "=") else { throw ValidationError("--env takes K=V, got '\(kv)'") }
                return EnvVar(name: String(kv[..<eq]), value: String(kv[kv.index(after: eq)...]))
            }
            task.kind = .command
            task.payload = CommandSpec(argv: argv, env: env, cwd: cwd ?? "", shell: shell).encoded()
        } else {
            task.kind = .builtin
            task.payload = BuiltinSpec(action: builtin!).encoded()
        }
        let jobName = name ?? (command ? argv.joined(separator: " ") : builtin!)
        let count = try tasks.value("--tasks", in: 1...JobPlan.maxTasksPerStage)
        let retryCount = try retries?.value("--retries", in: 0...100)
        return JobSpec(name: String(jobName.prefix(200)), stages: [StageSpec(id: 0, name: "main", tasks: UInt32(count), spec: task)],
                       retries: UInt32(retryCount ?? 0), weight: UInt32(try weight.value("--weight", in: 1...1000)), retriesSet: retryCount != nil)
    }
}

/// Prints the stdout of each task's committed attempt, in task order, page by page.
func printCommittedOutput(_ client: ClusterClient, _ job: String) throws {
    var omitted = 0
    try client.allTasks(job, includeOutput: true) { _, task in
        guard let a = task.attempts.first(where: { $0.attemptID == task.committedAttempt }) else { return }
        if a.outputOmitted { omitted += 1 }
        FileHandle.standardOutput.write(Data(a.output))
    }
    if omitted > 0 {
        FileHandle.standardError.write(Data("sluice: the output of \(omitted) tasks did not fit in the replies; read it with `sluice logs \(job)/TASK`\n".utf8))
    }
}
