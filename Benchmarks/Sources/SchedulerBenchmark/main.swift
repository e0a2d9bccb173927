// Scheduler benchmark: N noop tasks through a running cluster (coordinator
// with its journal, and workers), measuring tasks per second from submit to
// job end, and the latency from sending a submit to the first task starting
// on a worker. Prints one JSON object; Benchmarks/scheduler/run starts the
// cluster and the peers and prints the comparison.
//
// With "inflight" first, it measures memory instead: it submits TASKS tasks
// that sleep, waits until the workers hold them all (leased or running),
// and reports the coordinator's RSS before and then, per 1,000 tasks in flight.
//
// Usage: SchedulerBenchmark COORDINATOR SECRET_FILE TASKS LATENCY_ROUNDS
//        SchedulerBenchmark inflight COORDINATOR SECRET_FILE TASKS
import Client
import Foundation
import Wire

let args = CommandLine.arguments
if args.count == 5, args[1] == "inflight", let tasks = Int(args[4]) {
    let client = try ClusterClient(coordinator: args[2], clusterID: "sluice", secret: ClusterSecret(file: args[3]))
    let before = try client.status().coordinatorRssBytes
    let id = try client.submit(JobSpec(name: "bench-inflight", stages: [StageSpec(tasks: UInt32(tasks), spec: TaskSpec(
        kind: .builtin, payload: BuiltinSpec(action: "sleep:600000").encoded()))])).jobID
    var inFlight: UInt32 = 0
    var s = try client.status()
    while inFlight < UInt32(tasks) {
        Thread.sleep(forTimeInterval: 0.2)
        s = try client.status()
        inFlight = s.leasedTasks + s.runningTasks
    }
    Thread.sleep(forTimeInterval: 1)
    s = try client.status()
    _ = try client.cancel(id)
    let result: [String: Double] = [
        "in_flight": Double(s.leasedTasks + s.runningTasks),
        "rss_before_mib": Double(before) / 1_048_576,
        "rss_in_flight_mib": Double(s.coordinatorRssBytes) / 1_048_576,
        "kib_per_1000_in_flight": Double(Int64(s.coordinatorRssBytes) - Int64(before)) / 1024 / Double(tasks) * 1000,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
    exit(0)
}
guard args.count == 5, let tasks = Int(args[3]), let rounds = Int(args[4]) else {
    FileHandle.standardError.write(Data("usage: SchedulerBenchmark COORDINATOR SECRET_FILE TASKS LATENCY_ROUNDS | inflight COORDINATOR SECRET_FILE TASKS\n".utf8))
    exit(2)
}
let client = try ClusterClient(coordinator: args[1], clusterID: "sluice", secret: ClusterSecret(file: args[2]))

func noopJob(_ n: Int) -> JobSpec {
    JobSpec(name: "bench-noop", stages: [StageSpec(tasks: UInt32(n), spec: TaskSpec(kind: .builtin, payload: BuiltinSpec(action: "noop").encoded()))])
}

func run(_ n: Int) throws -> (seconds: Double, firstStartMs: Double) {
    let sent = Date()
    let id = try client.submit(noopJob(n)).jobID
    let summary = try client.wait(for: id, poll: .milliseconds(2))
    let end = Date()
    guard summary.state == "succeeded" else { throw ClientError("benchmark job \(id) \(summary.state): \(summary.reason)") }
    let detail = try client.job(id, page: 1)
    let firstStart = detail.stages.flatMap(\.tasks).flatMap(\.attempts).map(\.startedAtUs).filter { $0 > 0 }.min() ?? 0
    return (end.timeIntervalSince(sent), Double(firstStart - sent.unixMicroseconds) / 1000)
}

_ = try run(1000)  // warm up
let throughput = try run(tasks)
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
]
print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
