@testable import Coordinator
import Scheduler
import Testing

/// `--autoscale FILE`: the policy and the provider, every error with its line.
@Suite struct AutoscaleFileTests {
    func parse(_ text: String) throws -> AutoscaleConfig { try AutoscaleConfig.parse(text, file: "a.yaml") }
    func error(_ text: String) -> String {
        do { _ = try parse(text); return "" } catch { return "\(error)" }
    }

    @Test func everySettingAndEachProvider() throws {
        let c = try parse("""
            min: 2
            max: 6
            slots_per_worker: 4
            up_window: 5s
            idle_timeout: 2m
            up_cooldown: 15s
            down_cooldown: 90s
            consecutive: 2
            dry_run: true
            provider:
              command: { run: /opt/scale, timeout: 30s }
            """)
        var p = AutoscalePolicy()
        (p.minWorkers, p.maxWorkers, p.slotsPerWorker, p.upWindowMs, p.idleTimeoutMs, p.upCooldownMs, p.downCooldownMs, p.consecutive) =
            (2, 6, 4, 5000, 120_000, 15_000, 90_000, 2)
        #expect(c == AutoscaleConfig(policy: p, dryRun: true, provider: .command(run: "/opt/scale", timeoutMs: 30_000)))
        #expect(try parse("provider: local").provider == .local(slots: nil))
        #expect(try parse("provider: { local: { slots: 3 } }").provider == .local(slots: 3))
        let ssh = try parse("provider:\n  ssh:\n    hosts:\n      - 10.0.0.5\n      - { address: 10.0.0.6, user: sluice, identity_file: /k, data_dir: /d, port: 2222 }\n")
        #expect(ssh.provider == .ssh(.init(hosts: [.init(address: "10.0.0.5"), .init(address: "10.0.0.6", user: "sluice", identityFile: "/k", dataDir: "/d", port: 2222)])))
        let full = try parse("provider:\n  ssh: { hosts: [h1], run: /opt/sluice-run, env_file: /e, known_hosts: /kh, port: 2200 }\n")
        #expect(full.provider == .ssh(.init(hosts: [.init(address: "h1")], run: "/opt/sluice-run", envFile: "/e", knownHosts: "/kh", port: 2200)))
        #expect(try parse("provider: local").policy == AutoscalePolicy())
    }

    @Test func badFilesSayWhereAndWhat() {
        #expect(error("max: 0\nprovider: local\n") == "a.yaml:1: `max` is a whole number from 1 to 10000")
        #expect(error("min: 5\nmax: 2\nprovider: local\n") == "a.yaml:2: max must be at least 1 and at least min")
        #expect(error("up_window: soon\nprovider: local\n") == "a.yaml:1: `up_window` is a duration such as 10s, 5m or 1h (at most 1d)")
        #expect(error("max: 3\n") == "a.yaml:1: the autoscale file needs a `provider`: local, ssh or command")
        #expect(error("provider: { cloud: {} }\n") == "a.yaml:1: unknown provider 'cloud' (local, ssh, command)")
        #expect(error("provider: { ssh: { hosts: [] } }\n").contains("the ssh provider needs `hosts`"))
        #expect(error("provider: { ssh: { hosts: [-oProxyCommand=x] } }\n") == "a.yaml:1: '-oProxyCommand=x' is not a host address")
        #expect(error("provider: { ssh: { hosts: [h], port: 70000 } }\n") == "a.yaml:1: `port` is 1 to 65535")
        #expect(error("provider: { command: { timeout: 5s } }\n").contains("the command provider needs `run`"))
        #expect(error("maximum: 3\nprovider: local\n").hasPrefix("a.yaml:1: unknown key 'maximum'"))
        #expect(error("provider: [local\n").contains("not valid YAML"))
    }
}
