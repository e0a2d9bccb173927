import Foundation

/// Runs the built `sluice` binary as a separate process, as users do.
struct SluiceProcess {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The debug build (what `swift build` made), or SLUICE_BIN.
    static var debugBinary: String {
        if let b = ProcessInfo.processInfo.environment["SLUICE_BIN"] { return b }
        return repoRoot + "/.build/debug/sluice"
    }
    /// The release build, which the TPC-H tests need (debug is far slower).
    static var releaseBinary: String { repoRoot + "/.build/release/sluice" }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Waits by polling. Foundation's `waitUntilExit()` spins a run loop on the
    /// calling thread, and on Linux each waiting test thread leaked sockets
    /// through it (a full run hit the 20,000-descriptor limit during a long wait).
    static func wait(for p: Process) {
        while p.isRunning { usleep(10_000) }
    }

    static func run(_ args: [String], binary: String = debugBinary, cwd: String? = nil, interruptAfter: Double? = nil, stdin: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        if stdin != nil { p.standardInput = input }
        try p.run()
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        }
        if let delay = interruptAfter {
            Thread.sleep(forTimeInterval: delay)
            kill(p.processIdentifier, SIGINT)
        }
        // Read both pipes before waiting, so a large output cannot block the child.
        final class Box: @unchecked Sendable { var data = Data() }
        let stderr = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { stderr.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        SluiceProcess.wait(for: p)
        return Result(status: p.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr.data, as: UTF8.self))
    }
}
