import Foundation
import Platform
import Wire

/// Runs `command` tasks: argv (or `/bin/sh -c` with --shell) under a guard
/// process, in a process group of its own, stdout and stderr to files under
/// the worker's data dir, with the SLUICE_* identity variables that let a
/// command make its side effects idempotent.
struct CommandRunner: Sendable {
    let logDir: String
    let allowCommands: Bool
    let runAs: (uid: UInt32, gid: UInt32)?
    let outputCap: Int
    let groups: TaskGroups

    /// Attempt ids are unique in a cluster, so job and attempt name the files.
    func logPaths(job: String, task: UInt32, attempt: UInt64) -> (out: String, err: String) {
        let base = "\(logDir)/\(job)/\(task).\(attempt)"
        return (base + ".out", base + ".err")
    }

    func run(_ ctx: TaskContext) -> RunOutcome {
        guard allowCommands else {
            return RunOutcome(outcome: .failed, exitCode: 126, reason: "this worker refuses command tasks (start it with --allow-commands)")
        }
        guard let command = try? CommandSpec(decoding: ctx.spec.payload), !command.argv.isEmpty else {
            return RunOutcome(outcome: .failed, exitCode: 2, reason: "malformed command task")
        }
        let index = String(ctx.ref.task)
        var argv = command.argv.map { $0.replacingOccurrences(of: "{{task}}", with: index) }
        if command.shell { argv = ["/bin/sh", "-c", argv.joined(separator: " ")] }

        var env: [String: String?] = ["SLUICE_SECRET": nil]
        for e in command.env { env[e.name] = e.value.replacingOccurrences(of: "{{task}}", with: index) }
        env["SLUICE_JOB_ID"] = ctx.ref.jobID
        env["SLUICE_TASK_ID"] = ctx.taskLabel
        env["SLUICE_TASK_INDEX"] = index
        env["SLUICE_STAGE"] = String(ctx.ref.stage)
        env["SLUICE_ATTEMPT_ID"] = String(ctx.attemptID)
        env["SLUICE_ATTEMPT"] = String(ctx.number)
        env["SLUICE_WORKER_ID"] = ctx.workerID

        let paths = logPaths(job: ctx.ref.jobID, task: ctx.ref.task, attempt: ctx.attemptID)
        try? FileManager.default.createDirectory(atPath: (paths.out as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let outFD = open(paths.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let errFD = open(paths.err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer {
            if outFD >= 0 { close(outFD) }
            if errFD >= 0 { close(errFD) }
        }
        guard outFD >= 0, errFD >= 0 else {
            return RunOutcome(outcome: .failed, exitCode: 1, reason: "cannot create log files under \(logDir): \(String(cString: strerror(errno)))")
        }
        if let runAs { _ = fchown(outFD, runAs.uid, runAs.gid); _ = fchown(errFD, runAs.uid, runAs.gid) }

        let task: GuardedTask
        do {
            task = try GuardedTask.spawn(argv: argv, environment: environment(with: env), cwd: command.cwd.isEmpty ? nil : command.cwd,
                                         stdout: outFD, stderr: errFD, runAs: runAs)
        } catch {
            return RunOutcome(outcome: .failed, exitCode: 127, reason: "\(error)")
        }
        groups.record(ctx.attemptID, task)
        ctx.board.locked { ctx.board.running[ctx.attemptID]?.group = task.group }
        let status = task.wait()
        ctx.board.locked { ctx.board.running[ctx.attemptID]?.group = 0 }
        let stray = groups.sweep(task)
        groups.remove(ctx.attemptID)
        let output = head(paths.out)
        if let stop = ctx.stopOutcome { return RunOutcome(outcome: stop.0, exitCode: -1, reason: stop.1, output: output) }
        if stray > 0 {
            return RunOutcome(outcome: .failed, exitCode: status.code,
                              reason: "its guard process died (\(status)); \(stray) task processes it left were killed", output: output)
        }
        switch status {
        case .exited(0):
            return RunOutcome(outcome: .succeeded, output: output)
        case .exited(let code):
            return RunOutcome(outcome: .failed, exitCode: code, reason: "exit code \(code)\(lastLine(paths.err).map { ": \($0)" } ?? "")", output: output)
        case .signalled:
            return RunOutcome(outcome: .failed, exitCode: status.code, reason: status.description, output: output)
        }
    }

    private func head(_ path: String) -> [UInt8] {
        guard let h = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? h.close() }
        return [UInt8]((try? h.read(upToCount: outputCap)) ?? Data())
    }

    private func lastLine(_ path: String) -> String? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        let size = (try? h.seekToEnd()) ?? 0
        try? h.seek(toOffset: size > 4096 ? size - 4096 : 0)
        let text = String(decoding: (try? h.readToEnd()) ?? Data(), as: UTF8.self)
        return text.split(separator: "\n").last.map { String($0.prefix(300)) }
    }
}
