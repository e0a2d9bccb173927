import Foundation
import Testing
import Wire

/// The coordinator's HTTP endpoints on a live cluster of separate processes:
/// health and readiness (and a stuck loop made not ready), the bearer token,
/// `/metrics` read by prometheus_client's own parser with values checked
/// against what the test ran, and `/api/status` as `sluice status --json`.
@Suite(.serialized, .timeLimit(.minutes(3))) struct MonitoringTests {
    /// Status, body and parsed samples of one GET (scrape.py, in the test-oracle virtualenv).
    struct Scrape: Decodable {
        let status: Int
        let body: String
        let samples: [String: Double]
    }

    static let venvPython: String = {
        let r = try? runProcess(repoRoot + "/Benchmarks/tpch/venv", [])
        return (r?.out.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") + "/bin/python"
    }()

    /// The series deploy/'s Grafana dashboard draws.
    static func dashboardSeries() throws -> Set<String> {
        let dashboard = try String(contentsOfFile: repoRoot + "/deploy/grafana-dashboard.json", encoding: .utf8)
        return Set(dashboard.matches(of: #/sluice_[a-z_]+/#).map { String($0.output) })
    }

    func get(_ url: String, token: String? = nil) throws -> Scrape {
        let r = try runProcess(Self.venvPython, [repoRoot + "/Tests/ClusterTests/Fixtures/scrape.py", url, token ?? ""])
        try #require(r.status == 0, "scrape.py: \(r.err)")
        return try JSONDecoder().decode(Scrape.self, from: Data(r.out.utf8))
    }

    @Test func healthMetricsStatusAndToken() throws {
        let c = try TestCluster(name: "monitoring")
        defer { c.shutdown() }
        let token = "t0k-\(UUID().uuidString)"
        try "\(token)\n".write(toFile: c.dir + "/http-token", atomically: true, encoding: .utf8)
        let port = freePort()
        let base = "http://127.0.0.1:\(port)"
        try c.startCoordinator(["--http", "\(port)", "--http-token-file", c.dir + "/http-token", "--enable-fault-hooks"])
        try c.startWorker("w1", slots: 2)
        try c.startWorker("w2", slots: 3)
        try c.waitForWorkers(2)

        #expect(try get(base + "/healthz").status == 200)
        #expect(try get(base + "/readyz", token: token).status == 200)
        // Without the token, or with another, every path but /healthz is refused.
        #expect(try get(base + "/metrics").status == 401)
        #expect(try get(base + "/api/status", token: "wrong").status == 401)

        let job = try c.client().submit(builtinJob("sleep:10", tasks: 7)).jobID
        #expect(try c.waitForJob(job).state == "succeeded")
        let failing = try c.client().submit(commandJob(["false"], tasks: 1, retries: 1)).jobID
        _ = try c.waitForJob(failing)

        var m = try get(base + "/metrics", token: token)
        try #require(m.status == 200, "\(m.body)")
        try c.eventually("both workers' figures in /metrics") {
            m = try get(base + "/metrics", token: token)
            return m.samples.keys.filter { $0.hasPrefix("sluice_worker_memory_bytes{") }.count == 2
        }
        let s = m.samples
        #expect(s["sluice_workers{state=alive}"] == 2)
        #expect(s["sluice_slots_total{}"] == 5)
        #expect(s["sluice_tasks_succeeded_total{kind=builtin}"] == 7)
        #expect(s["sluice_tasks_started_total{kind=builtin}"] == 7)
        #expect(s["sluice_tasks_failed_total{kind=command}"] == 2)
        #expect(s["sluice_tasks_retried_total{kind=command}"] == 1)
        #expect(s["sluice_task_duration_seconds_count{kind=builtin}"] == 7)
        #expect(s["sluice_auth_refusals_total{via=http}"] == 2)
        #expect((s["sluice_requests_total{kind=submitJob,outcome=ok}"] ?? 0) >= 2)
        #expect((s["sluice_job_submit_to_first_task_seconds_count{}"] ?? 0) >= 2)
        #expect((s["sluice_journal_commit_seconds_count{}"] ?? 0) > 0)
        #expect((s["sluice_coordinator_resident_memory_bytes{}"] ?? 0) > 1_000_000)
        #expect((s["sluice_coordinator_open_fds{}"] ?? 0) > 3)
        #expect(s["sluice_tasks_pending{}"] == 0)

        // Every series deploy/'s Grafana dashboard draws is one the coordinator exports
        // (the autoscaler's only with --autoscale: AutoscaleTests checks those).
        let drawn = try Self.dashboardSeries()
        for name in drawn where !name.hasPrefix("sluice_autoscaler_") {
            let base = name.hasSuffix("_bucket") ? String(name.dropLast(7)) : name
            #expect(s.keys.contains { $0.hasPrefix(base + "{") || $0.hasPrefix(base + "_") }, "the dashboard draws \(name), which /metrics lacks")
        }
        #expect(drawn.count > 15)

        let status = try get(base + "/api/status", token: token)
        let decoded = try JSONDecoder().decode(ClusterStatus.self, from: Data(status.body.utf8))
        #expect(Set(decoded.workers.map(\.workerID)) == ["w1", "w2"])
        #expect(try get(base + "/nowhere", token: token).status == 404)

        // A loop that does not answer is not ready; the process still answers /healthz.
        _ = try c.client().call(InjectFault(fault: "stall-loop"))
        #expect(try get(base + "/readyz", token: token).status == 503)
        #expect(try get(base + "/healthz").status == 200)
        try c.eventually("ready again") { try get(base + "/readyz", token: token).status == 200 }
    }

    /// A webhook receiver (a Python process) hears `worker_lost` when a worker
    /// is killed and its resolve when the worker comes back; `sluice alerts`
    /// and `/metrics` show it firing meanwhile.
    @Test func aKilledWorkerFiresAnAlertAndItsReturnResolvesIt() throws {
        let c = try TestCluster(name: "alerts")
        defer { c.shutdown() }
        let hookPort = freePort(), received = c.dir + "/received.jsonl"
        let receiver = Process()
        receiver.executableURL = URL(fileURLWithPath: Self.venvPython)
        receiver.arguments = [repoRoot + "/Tests/ClusterTests/Fixtures/receiver.py", "\(hookPort)", received]
        try receiver.run()
        // SIGKILL: a child inherits the test process's blocked signals, SIGTERM among them.
        defer { kill(receiver.processIdentifier, SIGKILL); receiver.waitUntilExit() }
        let rules = """
            rules:
              - name: worker-down
                when: worker_lost
                notify:
                  webhook: http://127.0.0.1:\(hookPort)/hook
                  log: true
              - name: backlog
                when: {queue_depth_above: 100000}
                for: 1m
                notify: {log: true}
            """
        try rules.write(toFile: c.dir + "/alerts.yaml", atomically: true, encoding: .utf8)
        let httpPort = freePort()
        try c.startCoordinator(["--alerts", c.dir + "/alerts.yaml", "--http", "\(httpPort)"])
        let w1 = try c.startWorker("w1")
        try c.startWorker("w2")
        try c.waitForWorkers(2)
        c.kill9(w1)
        func notices() -> [[String: String]] {
            let text = (try? String(contentsOfFile: received, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }.map { $0.mapValues { "\($0)" } }
        }
        try c.eventually("the worker_lost alert posted", timeout: 30) {
            notices().contains { $0["rule"] == "worker-down" && $0["state"] == "firing" && $0["subject"] == "w1" }
        }
        let listed = try c.cli(["alerts"])
        #expect(listed.out.contains("worker-down") && listed.out.contains("w1"), "\(listed.out)\(listed.err)")
        let metrics = try get("http://127.0.0.1:\(httpPort)/metrics")
        #expect(metrics.samples["sluice_alerts_firing{}"] == 1)
        try c.startWorker("w1")
        try c.eventually("the resolve posted", timeout: 30) {
            notices().contains { $0["rule"] == "worker-down" && $0["state"] == "resolved" && $0["subject"] == "w1" }
        }
        #expect(notices().allSatisfy { $0["cluster"] == "sluice" && ($0["at"] ?? "").hasSuffix("Z") })
        #expect(try c.cli(["alerts"]).out.contains("no alert fires"))
        // status --watch, not on a terminal: frame after frame, no cursor codes.
        let watch = try c.launchCLI(["status", "--watch", "--interval", "100ms"])
        Thread.sleep(forTimeInterval: 1.5)
        kill(watch.processIdentifier, SIGKILL)
        watch.waitUntilExit()
        let frames = c.log("cli").components(separatedBy: "queue depth").count - 1
        #expect(frames >= 2 && !c.log("cli").contains("\u{1B}["), "\(frames) frames")
        #expect(c.log("coordinator").contains("alert firing"))
    }

    /// A bad rules file stops the coordinator at start, naming the line.
    @Test func aBadAlertsFileIsRefusedWithItsLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-alerts-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases = [
            ("- name: a\n  when: worker_lost\n  notify: {log: true}\n- name: b\n  when: disk_full\n  notify: {log: true}\n", ":5:", "unknown trigger"),
            ("- name: a\n  when: {queue_depth_above: -3}\n  notify: {log: true}\n", ":2:", "whole number"),
            ("- name: a\n  when: job_failed\n  for: soon\n  notify: {log: true}\n", ":3:", "duration"),
            ("- name: a\n  when: job_failed\n  notify: {webhook: ftp://x}\n", ":3:", "http://"),
            ("- name: a\n  when: job_failed\n   notify: [\n", "", "not valid YAML"),
        ]
        for (i, (text, line, words)) in cases.enumerated() {
            let file = dir + "/alerts-\(i).yaml"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let r = try runSluice(["coordinator", "--data-dir", dir + "/data-\(i)", "--listen", "tcp://127.0.0.1:0", "--alerts", file])
            #expect(r.status != 0 && r.err.contains(file + line) && r.err.contains(words), "case \(i): \(r.err)")
        }
    }

    /// The status page in headless Chromium, on a live `sluice local`: it
    /// loads without console errors, lists the workers, and after a worker is
    /// killed shows it dead and its replacement alive, without a reload.
    @Test func theStatusPageFollowsALocalClusterInABrowser() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"), "cluster/setup installs chromium and chromium-driver")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-dashboard-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = freePort(), httpPort = freePort()
        let local = Process()
        local.executableURL = URL(fileURLWithPath: TestCluster.binary)
        local.arguments = ["local", "--workers", "2", "--slots", "1", "--port", "\(port)", "--data-dir", dir + "/cluster", "--http", "\(httpPort)"]
        local.standardError = FileHandle.nullDevice
        try local.run()
        defer { kill(local.processIdentifier, SIGKILL); local.waitUntilExit() }   // its daemons die with it
        let check = Process()
        check.executableURL = URL(fileURLWithPath: Self.venvPython)
        check.arguments = [repoRoot + "/Tests/ClusterTests/Fixtures/dashboard_check.py", "http://127.0.0.1:\(httpPort)/", "2", "local-1"]
        let toCheck = Pipe(), fromCheck = Pipe(), errors = Pipe()
        check.standardInput = toCheck
        check.standardOutput = fromCheck
        check.standardError = errors
        try check.run()
        defer { if check.isRunning { kill(check.processIdentifier, SIGKILL) }; check.waitUntilExit() }
        let lines = LineReader(fromCheck.fileHandleForReading)
        try #require(lines.next() == "READY", "\(String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self))")
        // Kill worker local-1 (the supervisor starts a new incarnation of it).
        let victim = processTable().first { $0.args.contains("--id local-1") && $0.args.contains(dir) }
        try #require(victim != nil, "no local-1 process")
        kill(victim!.pid, SIGKILL)
        toCheck.fileHandleForWriting.write(Data("killed\n".utf8))
        let outcome = lines.next() ?? ""
        let seen = try JSONSerialization.jsonObject(with: Data(outcome.utf8)) as? [String: Any] ?? [:]
        #expect(seen["ready"] as? Bool == true && seen["dead"] as? Bool == true && seen["replaced"] as? Bool == true, "\(outcome)")
        #expect((seen["errors"] as? [String])?.isEmpty == true, "\(outcome)")
    }

    @Test func httpFlagsAreChecked() throws {
        let bad = try runSluice(["coordinator", "--data-dir", "/nonexistent-sluice", "--http-token-file", "/nonexistent-token"])
        #expect(bad.status != 0 && bad.err.contains("--http-token-file needs --http"), "\(bad.err)")
    }
}

/// Lines of a pipe, one at a time (blocking).
final class LineReader {
    private let handle: FileHandle
    private var buffer = Data()

    init(_ handle: FileHandle) { self.handle = handle }

    func next() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                return line
            }
            let more = handle.availableData
            if more.isEmpty { return buffer.isEmpty ? nil : String(decoding: buffer, as: UTF8.self) }
            buffer.append(more)
        }
    }
}
