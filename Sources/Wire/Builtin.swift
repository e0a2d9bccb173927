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

    /// The longest `sleep:` or `cpu:` a builtin may ask for: 7 days.
    public static let maxMilliseconds = 7 * 86_400_000
    public static let maxFailures = 1000

    public init?(_ action: String) {
        guard case .success(let b) = Self.parse(action) else { return nil }
        self = b
    }

    /// Why `action` is not a builtin, or nil when it is one.
    public static func problem(_ action: String) -> String? {
        if case .failure(let why) = parse(action) { return why.message }
        return nil
    }

    struct Problem: Error { var message: String }

    private static func parse(_ action: String) -> Result<Builtin, Problem> {
        let (name, arg) = action.firstIndex(of: ":").map { (String(action[..<$0]), String(action[action.index(after: $0)...])) } ?? (action, "")
        func number(_ max: Int, _ unit: String) -> Result<Int, Problem> {
            guard let n = Int(arg) else {
                return .failure(Problem(message: "builtin \(name): '\(arg)' is not a whole number of \(unit)"))
            }
            guard n >= 0, n <= max else {
                return .failure(Problem(message: "builtin \(name): \(arg) is out of range (0...\(max) \(unit))"))
            }
            return .success(n)
        }
        switch name {
        case "noop" where arg.isEmpty: return .success(.noop)
        case "crash" where arg.isEmpty: return .success(.crash)
        case "sleep": return number(maxMilliseconds, "milliseconds").map { .sleep(ms: $0) }
        case "cpu": return number(maxMilliseconds, "milliseconds").map { .cpu(ms: $0) }
        case "fail": return number(maxFailures, "failures").map { .fail(times: $0) }
        case "record" where !arg.isEmpty && arg.utf8.count <= 4096: return .success(.record(path: arg))
        default:
            return .failure(Problem(message: "unknown builtin '\(action)' (expected noop, sleep:MS, fail:N, crash, cpu:MS or record:FILE)"))
        }
    }
}
