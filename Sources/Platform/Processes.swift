internal import CSpawn
import Glibc
import Foundation

/// How a process ended, from a `waitpid` status.
public enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)

    /// Decodes a wait status (WIFEXITED and friends are macros Swift cannot call).
    public init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    /// The shell's convention: the exit code, or 128 + the signal.
    public var code: Int32 {
        switch self {
        case .exited(let c): c
        case .signalled(let s): 128 + s
        }
    }

    public var description: String {
        switch self {
        case .exited(let c): "exit code \(c)"
        case .signalled(let s): "killed by signal \(s)"
        }
    }
}

/// A task process started under a guard (see `sluice_spawn_task`): its
/// process group dies with the worker, however the worker dies.
public struct GuardedTask: Sendable, Equatable {
    /// The guard: wait for it to learn how the task ended.
    public let guardPID: Int32
    /// The task's process group (the task's pid): signal `-group` to stop it all.
    public let group: Int32
    /// The guard's session: with `group`, names the task's processes even after the guard is gone.
    public var session: Int32 { guardPID }

    /// Starts `argv` (searched in PATH) with this environment.
    public static func spawn(argv: [String], environment: [String], cwd: String?, stdout: Int32, stderr: Int32,
                             runAs: (uid: UInt32, gid: UInt32)?) throws -> GuardedTask {
        var error: Int32 = 0
        var group: Int32 = 0
        let pid: Int32 = withCStrings(argv) { cArgv in
            withCStrings(environment) { cEnv in
                sluice_spawn_task(cArgv, cEnv, cwd, stdout, stderr, runAs == nil ? 0 : 1, runAs?.uid ?? 0, runAs?.gid ?? 0, &group, &error)
            }
        }
        if pid < -1 { _ = waitForExit(-pid - 2) }
        guard pid > 0 else {
            throw PlatformError("cannot start \(argv.first ?? "")\(cwd.map { " in \($0)" } ?? ""): \(String(cString: strerror(error)))")
        }
        return GuardedTask(guardPID: pid, group: group)
    }

    /// Blocks until the task (and so its guard) has ended.
    public func wait() -> ExitStatus { waitForExit(guardPID) }

    /// Signals every process of the task's group.
    public func signal(_ sig: Int32) { _ = kill(-group, sig) }
}

/// A supervised daemon started by `sluice local`: it gets `deathSignal` when
/// the supervising process dies, so no coordinator or worker outlives it.
public struct ChildProcess: Sendable, Equatable {
    public let pid: Int32

    /// Starts `path` with these arguments. Call from a thread that lives as long
    /// as the child: the kernel sends the death signal when that thread ends.
    public static func spawn(path: String, arguments: [String], environment: [String], stdout: Int32, stderr: Int32,
                             deathSignal: Int32 = SIGTERM, newGroup: Bool = false) throws -> ChildProcess {
        var error: Int32 = 0
        let pid: Int32 = withCStrings([path] + arguments) { cArgv in
            withCStrings(environment) { cEnv in sluice_spawn_child(cArgv, cEnv, stdout, stderr, deathSignal, newGroup ? 1 : 0, &error) }
        }
        guard pid > 0 else { throw PlatformError("cannot start \(path): \(String(cString: strerror(error)))") }
        return ChildProcess(pid: pid)
    }

    /// The exit status if it has ended (reaping it), nil while it runs.
    public func poll() -> ExitStatus? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        guard r == pid else { return nil }
        return ExitStatus(waitStatus: status)
    }

    public func signal(_ sig: Int32) { _ = kill(pid, sig) }
}

/// Waits for a child, retrying on EINTR.
public func waitForExit(_ pid: Int32) -> ExitStatus {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        if errno != EINTR { return .exited(-1) }
    }
    return ExitStatus(waitStatus: status)
}

/// The current environment as NAME=VALUE strings, changed by `overrides` (nil removes).
public func environment(with overrides: [String: String?]) -> [String] {
    var env = ProcessInfo.processInfo.environment
    for (k, v) in overrides { env[k] = v }
    return env.map { "\($0.key)=\($0.value)" }.sorted()
}

/// Calls `body` with a NULL-terminated C array of the strings.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicated = strings.map { strdup($0) }
    defer { duplicated.forEach { free($0) } }
    var pointers: [UnsafePointer<CChar>?] = duplicated.map { UnsafePointer($0) }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
