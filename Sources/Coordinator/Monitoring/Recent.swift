/// What the status page shows beyond `sluice status`: queue depth and
/// running tasks over the last hour (a sample every 10 s), and the latest
/// failures with their reasons. Kept on the loop, in memory only.
struct Recent {
    struct Sample: Encodable {
        var atMs: Int64
        var queueDepth: Int
        var runningTasks: Int
        var leasedTasks: Int
    }

    struct Failure: Encodable {
        var atMs: Int64
        /// What failed: "job JOB", "task JOB/s1/t3 on w2", "worker w2#1".
        var subject: String
        var reason: String
    }

    static let sampleEveryMs: Int64 = 10_000
    static let keepSamples = 360
    static let keepFailures = 50

    private(set) var history: [Sample] = []
    private(set) var failures: [Failure] = []

    /// Whether the last sample is 10 s old (or there is none): then the loop counts and samples.
    func due(_ now: Int64) -> Bool { history.last.map { now - $0.atMs >= Self.sampleEveryMs } ?? true }

    mutating func sample(now: Int64, queueDepth: Int, running: Int, leased: Int) {
        history.append(Sample(atMs: now, queueDepth: queueDepth, runningTasks: running, leasedTasks: leased))
        if history.count > Self.keepSamples { history.removeFirst(history.count - Self.keepSamples) }
    }

    mutating func failed(_ subject: String, _ reason: String, now: Int64) {
        failures.insert(Failure(atMs: now, subject: subject, reason: reason), at: 0)
        if failures.count > Self.keepFailures { failures.removeLast() }
    }
}
