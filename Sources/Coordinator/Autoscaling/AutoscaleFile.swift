import Foundation
import Pipelines
import Scheduler
import Yams

/// `sluice coordinator --autoscale FILE` (YAML): the policy's limits,
/// windows and cooldowns, and the one provider that adds and removes
/// workers. Every error names the file and the line.
///
///     min: 1
///     max: 4
///     slots_per_worker: 2
///     up_window: 10s
///     idle_timeout: 60s
///     up_cooldown: 30s
///     down_cooldown: 60s
///     consecutive: 3
///     dry_run: false
///     provider:
///       local: { slots: 2 }
///       # or ssh: { hosts: [{ address: 10.0.0.5, user: sluice, identity_file: ~/.ssh/id_ed25519, data_dir: /var/lib/sluice }],
///       #           known_hosts: /etc/sluice/known_hosts, env_file: /etc/sluice/sluice.env, run: /usr/local/bin/sluice-run }
///       # or command: { run: /usr/local/bin/my-cloud-scaler, timeout: 120s }
public struct AutoscaleConfig: Sendable, Equatable {
    public var policy = AutoscalePolicy()
    /// Decisions are journaled and shown, not acted on.
    public var dryRun = false
    public var provider: Provider

    public enum Provider: Sendable, Equatable {
        /// Worker processes on the coordinator's host.
        case local(slots: Int?)
        /// `sluice worker` started on these hosts over ssh, through `deploy/sluice-run`.
        case ssh(SSHSettings)
        /// A user's executable: `CMD add N`, `CMD remove ID...`, a JSON description on stdin.
        case command(run: String, timeoutMs: Int64)
    }

    public struct SSHSettings: Sendable, Equatable {
        public var hosts: [SSHHost]
        /// The `deploy/sluice-run` wrapper on the hosts.
        public var run = "/usr/local/bin/sluice-run"
        /// The environment file on the hosts that names the binary and the secret file.
        public var envFile = "/etc/sluice/sluice.env"
        /// The hosts' keys; without it ssh's own known_hosts files, and an unknown key is refused.
        public var knownHosts: String?
        /// The default ssh port of the hosts.
        public var port: Int?
    }

    public struct SSHHost: Sendable, Equatable {
        public var address: String
        public var user: String?
        public var identityFile: String?
        public var dataDir: String?
        public var port: Int?
    }

    public struct FileError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func load(_ path: String) throws -> AutoscaleConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw FileError(description: "cannot read the autoscale file \(path)") }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> AutoscaleConfig {
        func fail(_ node: Node?, _ message: String) -> FileError {
            FileError(description: "\(file)" + (node?.mark.map { ":\($0.line)" } ?? "") + ": \(message)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let e as YamlError {
            throw FileError(description: "\(file): not valid YAML: \(e)")
        }
        guard let root, let m = root.mapping else { throw fail(root, "an autoscale file is a map with min, max, the windows and a provider") }
        let keys = ["min", "max", "slots_per_worker", "up_window", "idle_timeout", "up_cooldown", "down_cooldown", "consecutive", "dry_run", "provider"]
        for k in m.keys where !keys.contains(k.string ?? "") {
            throw fail(k, "unknown key '\(k.string ?? "?")' (\(keys.joined(separator: ", ")))")
        }
        func count(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let n = m[key] else { return nil }
            guard let i = n.int, range.contains(i) else { throw fail(n, "`\(key)` is a whole number from \(range.lowerBound) to \(range.upperBound)") }
            return i
        }
        func duration(_ key: String) throws -> Int64? {
            guard let n = m[key] else { return nil }
            guard let s = n.string, let ms = Durations.milliseconds(s), ms <= 86_400_000 else { throw fail(n, "`\(key)` is a duration such as 10s, 5m or 1h (at most 1d)") }
            return ms
        }
        var p = AutoscalePolicy()
        if let v = try count("min", 0...10_000) { p.minWorkers = v }
        if let v = try count("max", 1...10_000) { p.maxWorkers = v }
        if let v = try count("slots_per_worker", 1...10_000) { p.slotsPerWorker = v }
        if let v = try count("consecutive", 1...100) { p.consecutive = v }
        if let v = try duration("up_window") { p.upWindowMs = v }
        if let v = try duration("idle_timeout") { p.idleTimeoutMs = v }
        if let v = try duration("up_cooldown") { p.upCooldownMs = v }
        if let v = try duration("down_cooldown") { p.downCooldownMs = v }
        if let problem = p.problem { throw fail(m["max"] ?? root, problem) }
        var dryRun = false
        if let d = m["dry_run"] {
            guard let b = d.bool else { throw fail(d, "`dry_run` is true or false") }
            dryRun = b
        }
        guard let providerNode = m["provider"] else { throw fail(root, "the autoscale file needs a `provider`: local, ssh or command") }
        return AutoscaleConfig(policy: p, dryRun: dryRun, provider: try provider(providerNode, fail))
    }

    private static func provider(_ node: Node, _ fail: (Node?, String) -> FileError) throws -> Provider {
        if node.string == "local" { return .local(slots: nil) }
        guard let m = node.mapping, m.count == 1, let (k, v) = m.first, let kind = k.string else {
            throw fail(node, "`provider` is one of local, ssh: {...} or command: {...}")
        }
        let settings = v.mapping
        func allowed(_ keys: [String]) throws {
            for key in Array(settings?.keys ?? Node.Mapping([]).keys) where !keys.contains(key.string ?? "") {
                throw fail(key, "unknown key '\(key.string ?? "?")' for the \(kind) provider (\(keys.joined(separator: ", ")))")
            }
        }
        switch kind {
        case "local":
            try allowed(["slots"])
            var slots: Int?
            if let s = settings?["slots"] {
                guard let n = s.int, (1...10_000).contains(n) else { throw fail(s, "`slots` is a whole number from 1 to 10000") }
                slots = n
            }
            return .local(slots: slots)
        case "ssh":
            try allowed(["hosts", "run", "env_file", "known_hosts", "port"])
            guard let list = settings?["hosts"]?.sequence, !list.isEmpty else { throw fail(v, "the ssh provider needs `hosts`: a list of { address, user, identity_file, data_dir }") }
            func port(_ node: Node?) throws -> Int? {
                guard let node else { return nil }
                guard let n = node.int, (1...65_535).contains(n) else { throw fail(node, "`port` is 1 to 65535") }
                return n
            }
            func path(_ node: Node?, _ key: String) throws -> String? {
                guard let node else { return nil }
                guard let s = node.string, !s.isEmpty, !s.contains("\n") else { throw fail(node, "`\(key)` is a path") }
                return s
            }
            var ssh = SSHSettings(hosts: [])
            for h in list {
                if let address = h.string { ssh.hosts.append(SSHHost(address: address)); continue }
                guard let hm = h.mapping else { throw fail(h, "a host is an address or { address, user, identity_file, data_dir, port }") }
                for key in hm.keys where !["address", "user", "identity_file", "data_dir", "port"].contains(key.string ?? "") {
                    throw fail(key, "unknown host key '\(key.string ?? "?")' (address, user, identity_file, data_dir, port)")
                }
                guard let address = hm["address"]?.string, !address.isEmpty else { throw fail(h, "a host needs an `address`") }
                ssh.hosts.append(SSHHost(address: address, user: hm["user"]?.string, identityFile: try path(hm["identity_file"], "identity_file"),
                                         dataDir: try path(hm["data_dir"], "data_dir"), port: try port(hm["port"])))
            }
            for host in ssh.hosts where host.address.hasPrefix("-") || host.address.contains(where: \.isWhitespace) || (host.user ?? "").hasPrefix("-") {
                throw fail(v, "'\(host.address)' is not a host address")
            }
            ssh.port = try port(settings?["port"])
            if let r = try path(settings?["run"], "run") { ssh.run = r }
            if let e = try path(settings?["env_file"], "env_file") { ssh.envFile = e }
            ssh.knownHosts = try path(settings?["known_hosts"], "known_hosts")
            return .ssh(ssh)
        case "command":
            try allowed(["run", "timeout"])
            guard let run = settings?["run"]?.string, !run.isEmpty else { throw fail(v, "the command provider needs `run`: an executable") }
            var timeout: Int64 = 120_000
            if let t = settings?["timeout"] {
                guard let s = t.string, let ms = Durations.milliseconds(s), ms > 0 else { throw fail(t, "`timeout` is a duration such as 60s") }
                timeout = ms
            }
            return .command(run: run, timeoutMs: timeout)
        default:
            throw fail(k, "unknown provider '\(kind)' (local, ssh, command)")
        }
    }
}
