import Foundation
import Wire

/// Runs the diagnostic builtins. `record` appends one line per completed
/// attempt with O_APPEND, so concurrent workers on one host never interleave
/// within a line; tests count executions from that file.
enum BuiltinRunner {
    static func run(_ ctx: TaskContext) -> RunOutcome {
        guard let payload = try? BuiltinSpec(decoding: ctx.spec.payload), let builtin = Builtin(payload.action) else {
            return RunOutcome(outcome: .failed, exitCode: 2, reason: "malformed builtin task")
        }
        switch builtin {
        case .noop:
            return .success
        case .sleep(let ms):
            let end = Date(timeIntervalSinceNow: Double(ms) / 1000)
            while Date() < end {
                if let stop = ctx.stopOutcome { return RunOutcome(outcome: stop.0, reason: stop.1) }
                Thread.sleep(forTimeInterval: min(0.01, max(0, end.timeIntervalSinceNow)))
            }
            return .success
        case .fail(let times):
            if ctx.number <= times {
                return RunOutcome(outcome: .failed, exitCode: 1, reason: "builtin fail: attempt \(ctx.number) of \(times) planned failures")
            }
            return .success
        case .crash:
            // Die as kill -9 would: no cleanup, no report.
            kill(getpid(), SIGKILL)
            return RunOutcome(outcome: .failed, reason: "unreachable")
        case .cpu(let ms):
            let end = DispatchTime.now().uptimeNanoseconds + UInt64(ms) * 1_000_000
            var x: UInt64 = 1
            while DispatchTime.now().uptimeNanoseconds < end {
                for _ in 0..<10_000 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
                if ctx.shouldStop, let stop = ctx.stopOutcome { return RunOutcome(outcome: stop.0, reason: stop.1) }
            }
            return x == 0 ? RunOutcome(outcome: .failed, reason: "impossible") : .success
        case .record(let path):
            let line = "\(ctx.ref.jobID)\t\(ctx.ref.stage).\(ctx.ref.task)\t\(ctx.attemptID)\t\(ctx.workerID)\n"
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                return RunOutcome(outcome: .failed, exitCode: 1, reason: "cannot open record file \(path): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            let written = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
            guard written == line.utf8.count else {
                return RunOutcome(outcome: .failed, exitCode: 1, reason: "short write to record file \(path)")
            }
            return .success
        }
    }
}
