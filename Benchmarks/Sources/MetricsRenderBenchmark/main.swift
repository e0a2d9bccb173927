// The cost of a /metrics scrape: the coordinator's ClusterMetrics rendering
// the status of WORKERS registered workers (what the loop's state machine
// would report: each alive, busy, with heartbeat figures) after a history of
// task events, ROUNDS times. Prints JSON: median render time and bytes.
//   MetricsRenderBenchmark WORKERS ROUNDS
import Coordinator
import Foundation
import Scheduler
import Wire

let args = CommandLine.arguments
let workers = args.count > 1 ? Int(args[1]) ?? 100 : 100
let rounds = args.count > 2 ? Int(args[2]) ?? 200 : 200

let metrics = ClusterMetrics()
// A history: tasks of three kinds started, ended every way, timed.
for i in 0..<100_000 {
    let kind = ["sql", "command", "builtin"][i % 3]
    metrics.leased(kind: kind, retry: i % 50 == 0, queueWaitNanos: Int64(i % 1000) * 1_000_000)
    metrics.ended(kind: kind, state: i % 97 == 0 ? .failed : .succeeded, runNanos: Int64(i % 5000) * 1_000_000)
}
var status = ClusterStatus(coordinatorID: "bench", coordinatorEpoch: 1, queueDepth: 5000, runningTasks: UInt32(workers * 4),
                           leasedTasks: UInt32(workers * 4), coordinatorVersion: "bench", uptimeMs: 3_600_000,
                           coordinatorRssBytes: 200 << 20, journalBytes: 1 << 30, jobsInMemory: 20)
for w in 0..<workers {
    var stats = ResourceStats()
    stats.treeCpuPercent = Double(w % 400)
    stats.treeRssBytes = UInt64(w) << 24
    stats.shuffleBytes = UInt64(w) << 20
    status.workers.append(WorkerStatus(workerID: "w\(w)", incarnation: 1, host: "host-\(w / 8)", state: "alive", slots: 8, slotsUsed: 8,
                                       stats: stats, lastHeartbeatAgeMs: 800, tasksLeased: 4, tasksRunning: 8))
}
var times: [Double] = []
var bytes = 0
for _ in 0..<rounds {
    let start = DispatchTime.now().uptimeNanoseconds
    let out = metrics.render(status, queriesRunning: 3, firingAlerts: 1)
    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    bytes = out.count
}
times.sort()
print("{\"workers\": \(workers), \"median_ms\": \(times[times.count / 2]), \"p99_ms\": \(times[times.count * 99 / 100]), \"bytes\": \(bytes)}")
