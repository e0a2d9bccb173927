import Foundation
import Platform
import Testing
import Wire

/// The ssh autoscale provider against a real `sshd` the test starts itself:
/// workers started through `deploy/sluice-run` on "another host" (loopback),
/// drained with SIGTERM, found again by a restarted coordinator, and hosts
/// that cannot take a worker reported as such.
@Suite(.serialized)
struct SSHAutoscaleTests {
    func policy(hosts: String, envFile: String, knownHosts: String, min: Int = 1) -> String {
        """
        min: \(min)
        max: 3
        slots_per_worker: 1
        up_window: 1s
        idle_timeout: 3s
        up_cooldown: 1s
        down_cooldown: 2s
        consecutive: 1
        provider:
          ssh:
            run: \(repoRoot)/deploy/sluice-run
            env_file: \(envFile)
            known_hosts: \(knownHosts)
            hosts:
        \(hosts)
        """
    }

    func host(_ server: SSHServer, port: Int? = nil, dataDir: String) -> String {
        "      - { address: 127.0.0.1, port: \(port ?? server.port), user: \(server.user), identity_file: \(server.identityFile), data_dir: \(dataDir) }"
    }

    /// The environment file "the host" has, as deploy/install would write it.
    func envFile(_ c: TestCluster, bin: String = TestCluster.binary, secret: Bool = true) throws -> String {
        let path = c.dir + "/host.env"
        try ("SLUICE_BIN=\(bin)\n" + (secret ? "SLUICE_SECRET_FILE=\(c.secretFile)\n" : "")).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The workers started on a host's data dir, by their pid files, that still run.
    func hostWorkers(_ dataDir: String) -> [String: Int32] {
        var out: [String: Int32] = [:]
        for f in (try? FileManager.default.contentsOfDirectory(atPath: dataDir)) ?? [] where f.hasPrefix("worker-") && f.hasSuffix(".pid") {
            guard let t = try? String(contentsOfFile: dataDir + "/" + f, encoding: .utf8), let pid = Int32(t.trimmingCharacters(in: .whitespacesAndNewlines)),
                  ProcFS.isRunning(pid) else { continue }
            out[String(f.dropFirst("worker-".count).dropLast(".pid".count))] = pid
        }
        return out
    }

    /// Kills whatever still runs from this test's directory (workers sshd started are not this process's children).
    func killLeftovers(_ dir: String) {
        for p in ProcFS.all() where ProcFS.commandLine(p.pid).contains(where: { $0.contains(dir) }) { kill(p.pid, SIGKILL) }
    }

    @Test func sshWorkersFollowABackfillUpAndDownAndSurviveACoordinatorRestart() throws {
        let c = try TestCluster()
        let hostDir = c.dir + "/host-a"
        defer { killLeftovers(c.dir); c.shutdown() }
        let server = try SSHServer(dir: c.dir + "/sshd")
        defer { server.stop() }
        try c.exampleLake(days: 42, perDay: 6)
        // The first host refuses connections (nothing listens there): it is skipped and the second takes its share.
        let closed = freePort()
        try policy(hosts: host(server, port: closed, dataDir: c.dir + "/host-b") + "\n" + host(server, dataDir: hostDir),
                   envFile: try envFile(c), knownHosts: server.knownHosts).write(toFile: c.dir + "/scale.yaml", atomically: true, encoding: .utf8)
        let start = { try c.startCoordinator(["--sql-root", c.dir, "--autoscale", c.dir + "/scale.yaml"]) }
        try start()
        try c.waitForWorkers(1)
        let prefix = "ssh-127.0.0.1-p\(server.port)-"
        let ids = try c.aliveWorkers().map(\.workerID)
        #expect(ids.allSatisfy { $0.hasPrefix(prefix) }, "\(ids)")
        // The decision is journaled once the provider's call returns, which may be after the worker registered.
        try c.eventually("the first decision journaled") { try !c.client().call(AutoscalerHistory(limit: 10)).decisions.isEmpty }
        let first = try #require(try c.client().call(AutoscalerHistory(limit: 10)).decisions.last)
        #expect(first.acted && first.workers == [prefix + "1"] && first.error.contains("127.0.0.1") && first.error.contains("Connection refused"), "\(first)")

        let id = try c.startBackfill(from: "2026-09-01", to: "2026-10-10", maxActiveRuns: 8)
        func backfill() throws -> BackfillInfo { try c.backfill(id) }
        var peak = 0
        try c.eventually("the backfill to end with more workers", timeout: 240) {
            peak = max(peak, try c.aliveWorkers().count)
            return try backfill().state != "running"
        }
        let end = try backfill()
        #expect(end.state == "succeeded" && end.done == 40 && end.failed == 0, "\(end)")
        let decided = try c.client().call(AutoscalerHistory(limit: 100)).decisions.map { "\($0.direction) \($0.count) \($0.acted) \($0.error) \($0.reason)" }
        #expect(peak >= 2, "the pool never grew: \(decided)")
        // Drained back to one: the released workers' processes on the host have exited (SIGTERM, drain, leave).
        func members() throws -> [String] { try c.client().status().workers.filter { ["alive", "suspect", "draining"].contains($0.state) }.map(\.workerID) }
        try c.eventually("the pool back to one worker", timeout: 90) { try members().count == 1 && hostWorkers(hostDir).count == 1 }
        let history = try c.client().call(AutoscalerHistory(limit: 100)).decisions
        let released = history.filter { $0.direction == "down" && $0.acted }.flatMap(\.workers)
        #expect(!released.isEmpty && released.allSatisfy { $0.hasPrefix(prefix) }, "\(history.map { "\($0.direction) \($0.workers) \($0.acted) \($0.error)" })")
        if let first = released.first {
            let log = try String(contentsOfFile: hostDir + "/worker-\(first).log", encoding: .utf8)
            #expect(log.contains("drain"), "\(log.suffix(2000))")
        }

        // kill -9 of the coordinator: its successor finds the host's worker over ssh and starts none for the minimum.
        let survivor = try #require(hostWorkers(hostDir).first)
        c.kill9(c.coordinator!)
        try start()
        try c.eventually("the worker re-registered") { try members() == [survivor.key] }
        Thread.sleep(forTimeInterval: 4)
        #expect(try members() == [survivor.key] && hostWorkers(hostDir) == [survivor.key: survivor.value])
        let after = try c.client().call(AutoscalerHistory(limit: 100)).decisions
        #expect(after.filter { $0.reason.contains("below the minimum") }.count == 1, "\(after.map(\.reason))")
        #expect(try c.cli(["status"]).out.contains("autoscaler (ssh): "))
    }

    @Test func hostsThatCannotTakeAWorkerAreClearErrors() throws {
        let server = try SSHServer(dir: FileManager.default.temporaryDirectory.appendingPathComponent("sluice-sshd-\(UUID().uuidString.prefix(8))").path)
        defer { server.stop(); try? FileManager.default.removeItem(atPath: server.dir) }
        let fake = server.dir + "/old-sluice"
        try "#!/bin/sh\necho 'sluice 0.0.1 (protocol 1...1, release build)'\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let otherKey = try runProcess("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", server.dir + "/other_key"])
        try #require(otherKey.status == 0)
        let other = try String(contentsOfFile: server.dir + "/other_key.pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        try "[127.0.0.1]:\(server.port) \(other)\n".write(toFile: server.dir + "/wrong_known_hosts", atomically: true, encoding: .utf8)

        struct Case { var name: String; var port: Int?; var bin: String?; var secret = true; var knownHosts: String?; var expected: [String] }
        let cases = [
            Case(name: "refused", port: freePort(), expected: ["ssh failed: ", "Connection refused"]),
            Case(name: "unknown host key", knownHosts: server.dir + "/wrong_known_hosts", expected: ["ssh failed: ", "Host key verification failed"]),
            Case(name: "another release", bin: fake, expected: ["this host runs 'sluice 0.0.1', the coordinator runs 'sluice "]),
            Case(name: "no secret file", secret: false, expected: ["exited at once: ", "SLUICE_SECRET_FILE must name the cluster secret file"]),
        ]
        for k in cases {
            let c = try TestCluster(name: "ssh-" + k.name)
            defer { killLeftovers(c.dir); c.shutdown() }
            try policy(hosts: host(server, port: k.port, dataDir: c.dir + "/host"), envFile: try envFile(c, bin: k.bin ?? TestCluster.binary, secret: k.secret),
                       knownHosts: k.knownHosts ?? server.knownHosts).write(toFile: c.dir + "/scale.yaml", atomically: true, encoding: .utf8)
            try c.startCoordinator(["--autoscale", c.dir + "/scale.yaml"])
            try c.eventually("a decision for \(k.name)") { try c.client().call(AutoscalerHistory(limit: 10)).decisions.contains { !$0.error.isEmpty } }
            let d = try #require(try c.client().call(AutoscalerHistory(limit: 10)).decisions.first { !$0.error.isEmpty })
            #expect(!d.acted && d.direction == "up" && d.error.hasPrefix("no ssh host could start a worker: 127.0.0.1"), "\(k.name): \(d.error)")
            for e in k.expected { #expect(d.error.contains(e), "\(k.name): \(d.error)") }
            #expect(try c.client().status().workers.isEmpty, "\(k.name)")
        }
    }
}
