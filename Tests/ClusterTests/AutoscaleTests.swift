import Foundation
import Platform
import Testing
import Wire

/// The autoscaler on a real cluster: a coordinator with `--autoscale` and no
/// fixed workers, its local provider starting and releasing `sluice worker`
/// processes as a backfill's queue grows and drains.
@Suite(.serialized)
struct AutoscaleTests {
    static let policy = """
        min: 1
        max: 4
        slots_per_worker: 1
        up_window: 1s
        idle_timeout: 3s
        up_cooldown: 1s
        down_cooldown: 2s
        consecutive: 2
        provider: local
        """

    func start(_ c: TestCluster, extra: [String] = []) throws {
        try Self.policy.write(toFile: c.dir + "/scale.yaml", atomically: true, encoding: .utf8)
        try c.startCoordinator(["--sql-root", c.dir, "--autoscale", c.dir + "/scale.yaml"] + extra)
    }

    /// Processes the local provider started, by their pid files.
    func providerWorkers(_ c: TestCluster) -> [String: Int32] {
        let root = c.dir + "/coordinator/autoscale"
        var out: [String: Int32] = [:]
        for id in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            if let t = try? String(contentsOfFile: root + "/\(id)/pid", encoding: .utf8), let pid = Int32(t.trimmingCharacters(in: .whitespacesAndNewlines)),
               ProcFS.isRunning(pid) { out[id] = pid }
        }
        return out
    }

    func stopProviderWorkers(_ c: TestCluster) {
        for (_, pid) in providerWorkers(c) { kill(pid, SIGKILL) }
    }

    @Test func theLocalProviderFollowsABackfillUpAndDownThroughKills() throws {
        let c = try TestCluster()
        defer { stopProviderWorkers(c); c.shutdown() }
        try c.exampleLake(days: 62, perDay: 6)
        try start(c)
        // The minimum comes at once.
        try c.waitForWorkers(1)
        let id = try c.startBackfill(from: "2026-09-01", to: "2026-10-30", maxActiveRuns: 8)
        func backfill() throws -> BackfillInfo { try c.backfill(id) }
        // The queue is deep: the count rises above one.
        var peak = 0
        try c.eventually("more workers", timeout: 60) {
            peak = max(peak, try c.aliveWorkers().count)
            return peak >= 2
        }
        // kill -9 of a worker the autoscaler started, then of the coordinator, mid-backfill.
        let victim = try #require(providerWorkers(c).sorted { $0.key < $1.key }.last)
        kill(victim.value, SIGKILL)
        try c.eventually("10 runs done", timeout: 120) { try backfill().done >= 10 }
        c.kill9(c.coordinator!)
        let before = Set(providerWorkers(c).keys)
        try start(c)
        try c.eventually("the backfill to end", timeout: 240) {
            peak = max(peak, try c.aliveWorkers().count)
            return try backfill().state != "running"
        }
        let end = try backfill()
        // Members: alive, or suspect under a loaded machine's late heartbeats, or draining; not dead or gone.
        func members() throws -> Int { try c.client().status().workers.filter { ["alive", "suspect", "draining"].contains($0.state) }.count }
        let countAtEnd = try members()
        #expect(end.state == "succeeded" && end.done == 60 && end.failed == 0, "\(end)")
        // The provider's workers came back to the new coordinator: none started twice under one id, none started for nothing.
        let status = try c.client().status()
        #expect(status.autoscaler.enabled && status.autoscaler.provider == "local")
        #expect(Set(providerWorkers(c).keys).isSuperset(of: before.subtracting([victim.key])))
        let parts = try c.cli(["catalog", "show", "gold_revenue", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(parts.out.utf8)) as? [String: Any]
        let partitions = (json?["partitions"] as? [[String: Any]]) ?? []
        #expect(partitions.count == 60 && partitions.allSatisfy { ($0["files"] as? Int) == 1 }, "\(partitions.count)")
        // The queue drained: the count falls back to the minimum.
        try c.eventually("the pool back to one worker", timeout: 90) { try members() == 1 }
        #expect(peak >= 2)
        let history = try c.client().call(AutoscalerHistory(limit: 100)).decisions
        // The minimum was started once: after the restart the provider's running workers counted until they re-registered.
        #expect(history.filter { $0.reason.contains("below the minimum") }.count == 1, "\(history.map(\.reason))")
        #expect(history.contains { $0.direction == "up" && $0.acted && $0.reason.contains("demand") }, "\(history)")
        if countAtEnd > 1 {
            // More than the minimum when the queue drained: the autoscaler released the rest, one idle worker at a time.
            #expect(history.contains { $0.direction == "down" && $0.acted && $0.reason.contains("idle for") },
                    "\(history.map { "\($0.direction) \($0.count) \($0.workers) \($0.acted) \($0.error) \($0.reason)" })")
        }
        let shown = try c.cli(["autoscaler", "history"])
        #expect(shown.status == 0 && shown.out.contains("DIRECTION"))
        #expect(try c.cli(["status"]).out.contains("autoscaler (local): "))
    }

    /// What the local provider's workers do when `sluice local` is killed with -9: they do not wait for it forever.
    @Test func aWorkerWithAnOrphanTimeoutLeavesWhenItsCoordinatorIsGone() throws {
        let c = try TestCluster()
        defer { c.shutdown() }
        try c.startCoordinator()
        let w = try c.startWorker("w1", extraArgs: ["--orphan-timeout", "2s"])
        try c.waitForWorkers(1)
        c.kill9(c.coordinator!)
        try c.eventually("the worker gone", timeout: 30) { !w.isRunning }
        #expect(w.terminationStatus == 0 && c.log("w1").contains("has not answered for"), "\(c.log("w1").suffix(1500))")
        let bad = try runSluice(["worker", "--coordinator", c.address, "--data-dir", c.dir + "/w2", "--orphan-timeout", "0s"])
        #expect(bad.status != 0 && bad.err.contains("--orphan-timeout"), "\(bad.err)")
    }

    @Test func aDryRunDecidesButStartsNothing() throws {
        let c = try TestCluster()
        defer { stopProviderWorkers(c); c.shutdown() }
        try Self.policy.write(toFile: c.dir + "/scale.yaml", atomically: true, encoding: .utf8)
        let http = freePort()
        try c.startCoordinator(["--autoscale", c.dir + "/scale.yaml", "--autoscale-dry-run", "--http", "\(http)"])
        try c.eventually("the minimum decided") { try c.client().call(AutoscalerHistory(limit: 10)).decisions.count >= 1 }
        let d = try c.client().call(AutoscalerHistory(limit: 10)).decisions
        #expect(d.first?.direction == "up" && d.first?.acted == false && d.first?.error == "")
        Thread.sleep(forTimeInterval: 2)
        #expect(try c.client().status().workers.isEmpty && providerWorkers(c).isEmpty)
        // /metrics has every autoscaler series the Grafana dashboard draws, and the status page shows the autoscaler.
        let s = try MonitoringTests().get("http://127.0.0.1:\(http)/metrics").samples
        #expect(s["sluice_autoscaler_desired_workers{}"] == 1 && s["sluice_autoscaler_workers{}"] == 0, "\(s.filter { $0.key.contains("autoscaler") })")
        #expect((s["sluice_autoscaler_decisions_total{direction=up}"] ?? 0) >= 1)
        for name in try MonitoringTests.dashboardSeries() where name.hasPrefix("sluice_autoscaler_") {
            #expect(s.keys.contains { $0.hasPrefix(name + "{") }, "the dashboard draws \(name), which /metrics lacks")
        }
        #expect(try MonitoringTests().get("http://127.0.0.1:\(http)/").body.contains("id=\"autoscaler-section\""))
        let bad = try runSluice(["coordinator", "--listen", "tcp://127.0.0.1:\(freePort())", "--data-dir", c.dir + "/other", "--secret-file", c.secretFile,
                                 "--autoscale", c.dir + "/missing.yaml"])
        #expect(bad.status != 0 && bad.err.contains("cannot read the autoscale file"), "\(bad.err)")
        let alone = try runSluice(["coordinator", "--listen", "tcp://127.0.0.1:\(freePort())", "--data-dir", c.dir + "/other", "--secret-file", c.secretFile,
                                   "--autoscale-dry-run"])
        #expect(alone.status != 0 && alone.err.contains("--autoscale-dry-run goes with --autoscale FILE"), "\(alone.err)")
    }
}
