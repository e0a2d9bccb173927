import Foundation

/// Runs a provider's helper (a user's scaling command, `ssh`) to completion
/// or a deadline. Stdin, stdout and stderr are files, so nothing blocks on a
/// pipe that the helper's own children keep open (a worker started over ssh
/// outlives the call). Foundation starts the helper as the leader of a
/// process group of its own, so a timeout kills everything it started.
enum BoundedProcess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// The last non-empty line of stderr: what a failure says.
        var lastErrorLine: String { stderr.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.last { !$0.isEmpty } ?? "" }
    }

    enum Failure: Error {
        case cannotStart(String)
        case timedOut
    }

    static func run(_ executable: String, _ args: [String], stdin: Data = Data(), timeoutMs: Int64) throws -> Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-autoscale-\(UUID().uuidString.prefix(8))").path
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw Failure.cannotStart("cannot make scratch files in \(dir): \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/stdin", contents: stdin)
        FileManager.default.createFile(atPath: dir + "/stdout", contents: nil)
        FileManager.default.createFile(atPath: dir + "/stderr", contents: nil)
        guard let input = FileHandle(forReadingAtPath: dir + "/stdin"), let out = FileHandle(forWritingAtPath: dir + "/stdout"),
              let err = FileHandle(forWritingAtPath: dir + "/stderr") else { throw Failure.cannotStart("cannot open scratch files in \(dir)") }
        defer { try? input.close(); try? out.close(); try? err.close() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.standardInput = input
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { throw Failure.cannotStart(error.localizedDescription) }
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning {
            kill(-p.processIdentifier, SIGKILL)
            kill(p.processIdentifier, SIGKILL)
            while p.isRunning { usleep(10_000) }
            throw Failure.timedOut
        }
        return Result(status: p.terminationStatus, stdout: (try? String(contentsOfFile: dir + "/stdout", encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: dir + "/stderr", encoding: .utf8)) ?? "")
    }
}
