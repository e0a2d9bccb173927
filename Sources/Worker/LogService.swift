import Foundation
import Synchronization
import Transport
import Wire

/// The worker's own REP socket: serves task logs to clients holding the
/// cluster secret (`sluice logs`). Later issues add shuffle blocks here.
final class LogService: Sendable {
    private let server: ReplyServer
    let port: Int

    init(listen: String, sealer: Sealer, board: Board, runner: CommandRunner) throws {
        let gate = Mutex(RequestGate(sealer: sealer))
        server = try ReplyServer(listening: listen, maxMessageSize: 1 << 20, contexts: 8) { request in
            let now = Date().unixMilliseconds
            let outcome = gate.withLock { $0.admit(request.body, nowMs: now) }
            switch outcome {
            case .reply(let bytes, _):
                request.reply(bytes)
            case .awaitOriginal:
                request.drop()
            case .execute(let env):
                let reply: [UInt8]
                if env.kind == .readLogs, let m = try? ReadLogs(decoding: env.body),
                   !m.jobID.isEmpty, m.jobID.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) {
                    let logs = Self.read(m, board: board, runner: runner)
                    reply = gate.withLock { $0.answer(logs, to: env) }
                } else {
                    reply = gate.withLock { $0.answerError(.badRequest, "a worker serves only READ_LOGS requests naming a valid job", to: env) }
                }
                request.reply(reply)
            }
        }
        port = server.boundPort ?? 0
    }

    static func read(_ m: ReadLogs, board: Board, runner: CommandRunner) -> Logs {
        let paths = runner.logPaths(job: m.jobID, task: m.task, attempt: m.attemptID)
        let cap = Int(min(max(m.maxBytes, 1), 512 << 10))
        let (out, outEnd) = chunk(paths.out, from: m.stdoutOffset, max: cap)
        let (err, errEnd) = chunk(paths.err, from: m.stderrOffset, max: cap)
        let running = board.locked { board.running[m.attemptID] != nil || board.queue.contains { $0.ref.attemptID == m.attemptID } }
        return Logs(stdout: out, stderr: err, stdoutOffset: m.stdoutOffset + UInt64(out.count), stderrOffset: m.stderrOffset + UInt64(err.count),
                    finished: !running && outEnd && errEnd)
    }

    /// Bytes from `offset`, and whether they reach the end of the file.
    private static func chunk(_ path: String, from offset: UInt64, max: Int) -> ([UInt8], Bool) {
        guard let h = FileHandle(forReadingAtPath: path) else { return ([], true) }
        defer { try? h.close() }
        let size = (try? h.seekToEnd()) ?? 0
        guard offset < size else { return ([], true) }
        try? h.seek(toOffset: offset)
        let data = [UInt8]((try? h.read(upToCount: max)) ?? Data())
        return (data, offset + UInt64(data.count) >= size)
    }

    func close() { server.close() }
}
