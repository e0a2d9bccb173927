/// The diagnostic task kinds (`--builtin`), parsed once for both the
/// coordinator (which validates a submission) and the worker (which runs it).
public enum Builtin: Equatable, Sendable {
    case noop
    case sleep(ms: Int)
    /// Fail the first `times` attempts, then succeed.
    case fail(times: Int)
    /// Kill the worker process, as `kill -9` would.
    case crash
    case cpu(ms: Int)
    /// Append "job task attempt worker" to the file when the attempt completes.
    case record(path: String)

    public init?(_ action: String) {
        let (name, arg) = action.firstIndex(of: ":").map { (String(action[..<$0]), String(action[action.index(after: $0)...])) } ?? (action, "")
        switch name {
        case "noop" where arg.isEmpty: self = .noop
        case "crash" where arg.isEmpty: self = .crash
        case "sleep": guard let ms = Int(arg), ms >= 0 else { return nil }; self = .sleep(ms: ms)
        case "cpu": guard let ms = Int(arg), ms >= 0 else { return nil }; self = .cpu(ms: ms)
        case "fail": guard let n = Int(arg), n >= 0 else { return nil }; self = .fail(times: n)
        case "record": guard !arg.isEmpty else { return nil }; self = .record(path: arg)
        default: return nil
        }
    }

    /// Why `action` is not a builtin, or nil when it is one.
    public static func problem(_ action: String) -> String? {
        Builtin(action) == nil
            ? "unknown builtin '\(action)' (expected noop, sleep:MS, fail:N, crash, cpu:MS or record:FILE)"
            : nil
    }
}
