import ArgumentParser
import Client
import Foundation
import Wire

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a job of N parallel tasks: a command (--command -- ARGV...) or a builtin diagnostic.",
        discussion: "In ARGV, {{task}} becomes the task's index. Each attempt sees SLUICE_JOB_ID, SLUICE_TASK_ID and SLUICE_ATTEMPT_ID.")

    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Number of tasks.") var tasks = 1
    @Option(name: .customLong("env"), help: "Environment variable K=V for the command (repeatable).") var envVars: [String] = []
    @Option(help: "Working directory of the command on the worker.") var cwd: String?
    @Option(help: "Per-task timeout, e.g. 30s (default: none).") var timeout: DurationArgument?
    @Option(help: "Retries after a failed attempt (default 3).") var retries: Int?
    @Option(help: "Share of slots against other jobs.") var weight = 1
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
        if tasks < 1 { throw ValidationError("--tasks must be at least 1") }
        if let r = retries, r < 0 { throw ValidationError("--retries cannot be negative") }
    }

    func run() throws {
        let client = try cluster.client()
        let spec = try jobSpec()
        let reply = try client.submit(spec)
        guard wait || output else {
            if json { try printJSON(reply) } else { print(reply.jobID) }
            return
        }
        let interactive = isatty(2) == 1 && !json
        var last = ""
        let summary = try client.wait(for: reply.jobID) { s in
            let line = "\(s.jobID): \(s.tasksSucceeded)/\(s.tasksTotal) succeeded, \(s.tasksRunning) running, \(s.tasksFailed) failed"
            if interactive && line != last {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
                last = line
            }
        }
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
        if output {
            let detail = try client.job(reply.jobID, includeOutput: true)
            FileHandle.standardOutput.write(Data(committedOutput(detail)))
        }
        if json { try printJSON(summary) } else if !output && summary.state == "succeeded" {
            print("\(summary.jobID) \(summary.state)\(summary.reason.isEmpty ? "" : ": \(summary.reason)")")
        }
        if summary.state != "succeeded" {
            throw ClientError("\(summary.jobID) \(summary.state)\(summary.reason.isEmpty ? "" : ": \(summary.reason)")")
        }
    }

    func jobSpec() throws -> JobSpec {
        var task = TaskSpec()
        if let timeout { task.timeoutMs = UInt32(clamping: timeout.duration.milliseconds) }
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
        return JobSpec(name: String(jobName.prefix(200)), stages: [StageSpec(id: 0, name: "main", tasks: UInt32(tasks), spec: task)],
                       retries: UInt32(retries ?? 0), weight: UInt32(weight), retriesSet: retries != nil)
    }
}

/// The stdout of each task's committed attempt, in task order.
func committedOutput(_ detail: JobDetail) -> [UInt8] {
    var out: [UInt8] = []
    for stage in detail.stages {
        for task in stage.tasks {
            if let a = task.attempts.first(where: { $0.attemptID == task.committedAttempt }) { out += a.output }
        }
    }
    return out
}
