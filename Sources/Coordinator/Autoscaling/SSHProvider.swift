import Foundation
import Wire

/// `provider: { ssh: { hosts: [...] } }`: `sluice worker` processes on
/// other machines, started over ssh through the same `deploy/sluice-run`
/// wrapper and environment file the systemd units use. Each start first
/// checks that the host's binary is this release. A worker is named
/// `ssh-<host>-<n>` and leaves `worker-<id>.pid` and `.log` in the host's
/// data dir, so a restarted coordinator finds the workers its predecessor
/// started and a remove stops exactly that process (SIGTERM: it drains).
///
/// A host that cannot be reached, refuses the key or runs another release is
/// skipped for `skipMs`, and the start goes to the next host; when no host
/// can take it, the error names every host and why.
final class SSHProvider: WorkerProvider, @unchecked Sendable {
    let settings: AutoscaleConfig.SSHSettings
    let version: String
    let ssh: String
    let timeoutMs: Int64
    let skipMs: Int64
    private let lock = NSLock()
    /// Guarded by `lock`: hosts skipped until then (ms since 1970), and why.
    private var skipped: [Int: (untilMs: Int64, why: String)] = [:]
    /// Guarded by `lock`: the workers started (or found) on each host.
    private var placed: [String: Int] = [:]

    init(settings: AutoscaleConfig.SSHSettings, version: String = SluiceVersion.string, ssh: String? = nil, timeoutMs: Int64 = 30_000, skipMs: Int64 = 60_000) throws {
        self.settings = settings
        self.version = version
        guard let path = ssh ?? Self.onPath("ssh") else { throw ProviderError("the ssh autoscale provider needs the ssh client (Debian: openssh-client)") }
        self.ssh = path
        self.timeoutMs = timeoutMs
        self.skipMs = skipMs
    }

    /// The id prefix of workers on a host: its address (and port, if one is
    /// set) with anything but letters, digits, dots and dashes made a dash.
    static func prefix(_ host: AutoscaleConfig.SSHHost) -> String {
        "ssh-" + String(host.address.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "-" }) + (host.port.map { "-p\($0)" } ?? "") + "-"
    }

    func dataDir(_ host: AutoscaleConfig.SSHHost) -> String { host.dataDir ?? "/var/lib/sluice" }

    /// Hosts not skipped now, fewest of our workers first (ties in file order).
    private func usable(now: Int64) -> [Int] {
        lock.withLock {
            let counts = placed.values.reduce(into: [Int: Int]()) { $0[$1, default: 0] += 1 }
            return settings.hosts.indices.filter { (skipped[$0]?.untilMs ?? 0) <= now }.sorted { (counts[$0] ?? 0, $0) < (counts[$1] ?? 0, $1) }
        }
    }

    func add(_ count: Int, _ context: ProviderContext) throws -> ProviderStarted {
        let now = Date().unixMilliseconds
        let earlier = lock.withLock {
            skipped.filter { $0.value.untilMs > now }.sorted { $0.key < $1.key }
                .map { "\(settings.hosts[$0.key].address) is skipped for \(($0.value.untilMs - now + 999) / 1000) s more after: \($0.value.why)" }
        }
        var started: [String] = [], problems: [String] = []
        var hosts = usable(now: now)
        // Spread round the usable hosts, fewest workers first; a host that fails is skipped and its share goes to the others.
        while started.count < count, !hosts.isEmpty {
            let remaining = count - started.count
            var share: [Int: Int] = [:]
            for i in 0..<remaining { share[hosts[i % hosts.count], default: 0] += 1 }
            var failed: Set<Int> = []
            for h in hosts {
                guard let n = share[h] else { continue }
                do {
                    let (ids, problem) = try start(n, on: h, context)
                    lock.withLock { for id in ids { placed[id] = h } }
                    started += ids
                    // Some started, some exited at once: the host is not skipped, but the shortfall is said.
                    if let problem { problems.append(problem) }
                } catch {
                    lock.withLock { skipped[h] = (now + skipMs, "\(error)") }
                    problems.append("\(error)")
                    failed.insert(h)
                }
            }
            if failed.isEmpty { break }
            hosts.removeAll { failed.contains($0) }
        }
        if started.isEmpty, count > 0 {
            let why = problems + earlier
            throw ProviderError("no ssh host could start a worker: " + (why.isEmpty ? "the autoscale file lists no hosts" : why.joined(separator: "; ")))
        }
        return ProviderStarted(ids: started, problems: problems)
    }

    func remove(_ ids: [String], _ context: ProviderContext) throws {
        var byHost: [Int: [String]] = [:]
        for id in ids {
            // The host that started it, else the one whose prefix it has (the longest: `ssh-h-p22-` over `ssh-h-`).
            guard let h = lock.withLock({ placed[id] })
                    ?? settings.hosts.indices.filter({ id.hasPrefix(Self.prefix(settings.hosts[$0])) }).max(by: { Self.prefix(settings.hosts[$0]).count < Self.prefix(settings.hosts[$1]).count }) else {
                throw ProviderError("\(id) was not started by the ssh provider (no host of the autoscale file has its prefix)")
            }
            byHost[h, default: []].append(id)
        }
        for (h, list) in byHost.sorted(by: { $0.key < $1.key }) {
            let host = settings.hosts[h]
            let dd = dataDir(host)
            var script = ""
            for id in list {
                script += "if alive \(q(dd + "/worker-" + id + ".pid")) \(q(id)); then kill -TERM \"$pid\"; fi\n"
            }
            let r = try call(h, script)
            guard r.status == 0 else { throw ProviderError("cannot stop \(list.joined(separator: ", ")) on \(host.address): \(describe(r))") }
            lock.withLock { for id in list { placed[id] = nil } }
        }
    }

    /// The workers this provider's predecessor started that still run (a coordinator restart).
    func running() -> [String] {
        var found: [String] = []
        for (h, host) in settings.hosts.enumerated() {
            let dd = dataDir(host), prefix = Self.prefix(host)
            let script = """
                for f in \(q(dd))/worker-\(q(prefix))*.pid; do
                  [ -f "$f" ] || continue
                  id=${f##*/worker-}; id=${id%.pid}
                  if alive "$f" "$id"; then echo "$id"; fi
                done
                """
            guard let r = try? call(h, script), r.status == 0 else { continue }
            let ids = r.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
            lock.withLock { for id in ids { placed[id] = h } }
            found += ids
        }
        return found
    }

    /// Starts `count` workers on one host: checks the release, picks free ids, starts each detached, and sees it still runs.
    /// The ids that run, and what went wrong if some did not.
    private func start(_ count: Int, on h: Int, _ context: ProviderContext) throws -> (ids: [String], problem: String?) {
        let host = settings.hosts[h]
        let dd = dataDir(host), prefix = Self.prefix(host)
        let script = """
            run=\(q(settings.run)); envf=\(q(settings.envFile)); dd=\(q(dd)); started=""
            [ -x "$run" ] || { echo "$run is not an executable on this host (deploy/install puts sluice-run there)" >&2; exit 3; }
            v=$("$run" version "$envf" 2>&1) || { echo "$run version failed: $v" >&2; exit 3; }
            set -- $v
            [ "$1 $2" = \(q("sluice " + version)) ] || { echo "this host runs '$1 $2', the coordinator runs \(q("sluice " + version))" >&2; exit 4; }
            mkdir -p "$dd" || exit 5
            n=0; made=0
            while [ $made -lt \(count) ]; do
              n=$((n+1)); id=\(q(prefix))$n; f="$dd/worker-$id.pid"
              if alive "$f" "$id"; then continue; fi
              env SLUICE_COORDINATOR=\(q(context.coordinator)) SLUICE_CLUSTER=\(q(context.cluster)) SLUICE_SLOTS=\(context.slots) \\
                SLUICE_WORKER_ID="$id" SLUICE_INSTANCE="$id" SLUICE_DATA_DIR="$dd" SLUICE_ADVERTISE=\(q(host.address)) \\
                nohup setsid "$run" worker "$envf" < /dev/null > "$dd/worker-$id.log" 2>&1 &
              echo $! > "$f"; made=$((made+1)); started="$started $id"
            done
            sleep 0.5
            bad=0
            for id in $started; do
              if alive "$dd/worker-$id.pid" "$id"; then echo "$id"; else bad=1; echo "worker $id exited at once: $(tail -n 1 "$dd/worker-$id.log")" >&2; fi
            done
            exit $((bad * 6))
            """
        let r = try call(h, script)
        // The ones that run are returned even when another exited at once: they register, and must stay the provider's to release.
        let ids = r.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
        guard r.status == 0 || !ids.isEmpty else { throw ProviderError("\(host.address): \(describe(r))") }
        return (ids, r.status == 0 ? nil : "\(host.address): \(describe(r))")
    }

    /// `alive PIDFILE ID`: whether the pid in the file is a live process that is
    /// worker ID (sets `pid`). A pid file may outlive its process, pids are
    /// reused, and an exited, unreaped process has an empty command line.
    static let prelude = """
        alive() { pid=$(cat "$1" 2>/dev/null || true); [ -n "$pid" ] && tr '\\000' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--id $2 "; }

        """

    private func describe(_ r: BoundedProcess.Result) -> String {
        // ssh itself exits 255 when it cannot connect or log in; the script's own errors are its last line.
        (r.status == 255 ? "ssh failed: " : "") + (r.lastErrorLine.isEmpty ? "exit code \(r.status)" : r.lastErrorLine)
    }

    /// Runs a POSIX shell script on a host (ssh hands the command to the login shell; `sh -c` makes it sh there).
    private func call(_ h: Int, _ script: String) throws -> BoundedProcess.Result {
        let host = settings.hosts[h]
        var args = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2"]
        if let known = settings.knownHosts { args += ["-o", "UserKnownHostsFile=\(expand(known))", "-o", "StrictHostKeyChecking=yes"] }
        if let key = host.identityFile { args += ["-i", expand(key), "-o", "IdentitiesOnly=yes"] }
        if let port = host.port ?? settings.port { args += ["-p", "\(port)"] }
        if let user = host.user { args += ["-l", user] }
        args += ["--", host.address, "sh -c " + q(Self.prelude + script)]
        do { return try BoundedProcess.run(ssh, args, timeoutMs: timeoutMs) } catch let e as BoundedProcess.Failure {
            switch e {
            case .cannotStart(let why): throw ProviderError("cannot run \(ssh): \(why)")
            case .timedOut: throw ProviderError("\(host.address): ssh did not finish within \(timeoutMs / 1000) s; killed")
            }
        }
    }

    private func expand(_ path: String) -> String { (path as NSString).expandingTildeInPath }

    /// One POSIX shell word.
    private func q(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    static func onPath(_ name: String) -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init) + ["/usr/bin"]
        return dirs.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
