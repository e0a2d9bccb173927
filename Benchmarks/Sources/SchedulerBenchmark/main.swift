// Scheduler benchmark: N noop tasks through a running cluster (coordinator
// with its journal, and workers), measuring tasks per second from submit to
// job end, and the latency from sending a submit to the first task starting
// on a worker. Prints one JSON object; Benchmarks/scheduler/run starts the
// cluster and the peers and prints the comparison.
//
// While the big job runs it samples the coordinator's status: its RSS, and
// the tasks in flight (leased or running), for the RSS per 1,000 in flight.
//
// Usage: SchedulerBenchmark COORDINATOR SECRET_FILE TASKS LATENCY_ROUNDS
import Client
import Foundation
import Wire

let args = CommandLine.arguments
guard args.count == 5, let tasks = Int(args[3]), let rounds = Int(args[4]) else {
    FileHandle.standardError.write(Data("usage: SchedulerBenchmark COORDINATOR SECRET_FILE TASKS LATENCY_ROUNDS | inflight COORDINATOR SECRET_FILE TASKS\n".utf8))
    exit(2)
}
let client = try ClusterClient(coordinator: args[1], clusterID: "sluice", secret: ClusterSecret(file: args[2]))

func noopJob(_ n: Int) -> JobSpec {
    JobSpec(name: "bench-noop", stages: [StageSpec(tasks: UInt32(n), spec: TaskSpec(kind: .builtin, payload: BuiltinSpec(action: "noop").encoded()))])
}

/// The largest number of tasks in flight seen, and the coordinator's RSS then.
nonisolated(unsafe) var peak: (inFlight: UInt32, rss: UInt64) = (0, 0)

func run(_ n: Int, sample: Bool = false) throws -> (seconds: Double, firstStartMs: Double) {
    let sent = Date()
    let id = try client.submit(noopJob(n)).jobID
    var lastSample = Date.distantPast
    let summary = try client.wait(for: id, poll: .milliseconds(2)) { _ in
        guard sample, Date().timeIntervalSince(lastSample) > 0.1, let s = try? client.status() else { return }
        lastSample = Date()
        if s.leasedTasks + s.runningTasks > peak.inFlight { peak = (s.leasedTasks + s.runningTasks, s.coordinatorRssBytes) }
    }
    let end = Date()
    guard summary.state == "succeeded" else { throw ClientError("benchmark job \(id) \(summary.state): \(summary.reason)") }
    let detail = try client.job(id, page: 1)
    let firstStart = detail.stages.flatMap(\.tasks).flatMap(\.attempts).map(\.startedAtUs).filter { $0 > 0 }.min() ?? 0
    return (end.timeIntervalSince(sent), Double(firstStart - sent.unixMicroseconds) / 1000)
}

_ = try run(1000)  // warm up
let idleRSS = try client.status().coordinatorRssBytes
let throughput = try run(tasks, sample: true)
var latencies: [Double] = []
for _ in 0..<rounds {
    latencies.append(try run(1).firstStartMs)
    Thread.sleep(forTimeInterval: 0.05)
}
latencies.sort()
let result: [String: Double] = [
    "tasks": Double(tasks),
    "seconds": throughput.seconds,
    "tasks_per_second": Double(tasks) / throughput.seconds,
    "first_task_ms_median": latencies[latencies.count / 2],
    "first_task_ms_p90": latencies[min(latencies.count - 1, latencies.count * 9 / 10)],
    "rss_idle_mib": Double(idleRSS) / 1_048_576,
    "rss_peak_mib": Double(peak.rss) / 1_048_576,
    "peak_in_flight": Double(peak.inFlight),
    "kib_per_1000_in_flight": peak.inFlight == 0 ? 0 : Double(Int64(peak.rss) - Int64(idleRSS)) / 1024 / Double(peak.inFlight) * 1000,
]
print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
