internal import CSpawn
import Foundation
import Wire

/// Runs `command` tasks: argv (or `/bin/sh -c` with --shell) in its own
/// session, stdout and stderr to files under the worker's data dir, with the
/// SLUICE_* identity variables that let a command make its side effects idempotent.
struct CommandRunner {
    let logDir: String
    let allowCommands: Bool
    let runAs: (uid: uid_t, gid: gid_t)?
    let outputCap: Int

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

        var env = ProcessInfo.processInfo.environment
        env["SLUICE_SECRET"] = nil
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

        var spawnError: Int32 = 0
        let pid: pid_t = withCStrings(argv) { cArgv in
            withCStrings(env.map { "\($0.key)=\($0.value)" }) { cEnv in
                sluice_spawn(cArgv, cEnv, command.cwd.isEmpty ? nil : command.cwd, outFD, errFD,
                             runAs == nil ? 0 : 1, runAs?.uid ?? 0, runAs?.gid ?? 0, &spawnError)
            }
        }
        if pid < 0 {
            if pid < -1 { var st: Int32 = 0; waitpid(-pid - 2, &st, 0) }
            let why = String(cString: strerror(spawnError))
            return RunOutcome(outcome: .failed, exitCode: 127, reason: "cannot start \(argv[0])\(command.cwd.isEmpty ? "" : " in \(command.cwd)"): \(why)")
        }
        ctx.board.update { ctx.board.running[ctx.attemptID]?.pid = pid }

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        ctx.board.update { ctx.board.running[ctx.attemptID]?.pid = 0 }
        let output = head(paths.out)
        if let stop = ctx.stopOutcome { return RunOutcome(outcome: stop.0, exitCode: -1, reason: stop.1, output: output) }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros; decode the status by hand.
        let signal = status & 0x7f
        if signal == 0 {
            let code = (status >> 8) & 0xff
            if code == 0 { return RunOutcome(outcome: .succeeded, output: output) }
            return RunOutcome(outcome: .failed, exitCode: code, reason: "exit code \(code)\(lastLine(paths.err).map { ": \($0)" } ?? "")", output: output)
        }
        return RunOutcome(outcome: .failed, exitCode: 128 + signal, reason: "killed by signal \(signal)", output: output)
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

/// Calls `body` with a NULL-terminated C array of the strings.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicated = strings.map { strdup($0) }
    defer { duplicated.forEach { free($0) } }
    var pointers: [UnsafePointer<CChar>?] = duplicated.map { UnsafePointer($0) }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
