import Foundation

/// A real OpenSSH server for a test, not the system's service: `sshd -D -f
/// CONFIG` on a loopback port, with a host key and a user key generated
/// into the test's directory, admitting only that key for the current user.
///
/// It is started through `setsid -f`, not as this process's child:
/// Foundation's Process waits for a child that calls setsid (as sshd does)
/// with a blocking wait4 on its monitoring thread, and every other child's
/// exit then goes unnoticed until sshd ends. It is stopped by its pid file.
final class SSHServer: @unchecked Sendable {
    let dir: String
    let port: Int
    let user: String
    var identityFile: String { dir + "/user_key" }
    var knownHosts: String { dir + "/known_hosts" }
    private var pid: Int32?
    /// /run/sshd (privilege separation, needed when sshd runs as root) if this server made it.
    private var madeRunDir = false

    init(dir: String) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") else {
            throw SSHServerError("no /usr/sbin/sshd: install openssh-server (cluster/setup does)")
        }
        self.dir = dir
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        port = freePort()
        user = String(cString: getpwuid(geteuid()).pointee.pw_name)
        for key in ["host_key", "user_key"] {
            let r = try runProcess("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "sluice-test", "-f", dir + "/" + key])
            guard r.status == 0 else { throw SSHServerError("ssh-keygen: \(r.err)") }
        }
        try FileManager.default.copyItem(atPath: dir + "/user_key.pub", toPath: dir + "/authorized_keys")
        let hostKey = try String(contentsOfFile: dir + "/host_key.pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        try "[127.0.0.1]:\(port) \(hostKey)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        try """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(dir)/host_key
            PidFile \(dir)/sshd.pid
            AuthorizedKeysFile \(dir)/authorized_keys
            AllowUsers \(user)
            StrictModes no
            UsePAM no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            PermitRootLogin prohibit-password
            LogLevel VERBOSE

            """.write(toFile: dir + "/sshd_config", atomically: true, encoding: .utf8)
        if geteuid() == 0, !FileManager.default.fileExists(atPath: "/run/sshd") {
            try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            madeRunDir = true
        }
        let started = try runProcess("/bin/sh", ["-c", "setsid -f /usr/sbin/sshd -D -e -f \"$1/sshd_config\" > \"$1/sshd.log\" 2>&1 < /dev/null", "sh", dir])
        guard started.status == 0 else { throw SSHServerError("cannot start sshd: \(started.err)") }
        // Ready when a login runs a command.
        let deadline = Date().addingTimeInterval(20)
        while true {
            if pid == nil, let t = try? String(contentsOfFile: dir + "/sshd.pid", encoding: .utf8) { pid = Int32(t.trimmingCharacters(in: .whitespacesAndNewlines)) }
            let r = try ssh("true")
            if r.status == 0, pid != nil { break }
            guard Date() < deadline else {
                stop()
                throw SSHServerError("sshd did not take a login: \(r.err) \((try? String(contentsOfFile: dir + "/sshd.log", encoding: .utf8)) ?? "")")
            }
            usleep(100_000)
        }
    }

    /// Runs a command on this server as the test's user.
    func ssh(_ command: String) throws -> (status: Int32, out: String, err: String) {
        try runProcess("/usr/bin/ssh", ["-o", "BatchMode=yes", "-o", "UserKnownHostsFile=\(knownHosts)", "-o", "StrictHostKeyChecking=yes",
                                        "-i", identityFile, "-o", "IdentitiesOnly=yes", "-p", "\(port)", "-l", user, "127.0.0.1", command])
    }

    func stop() {
        if let pid, pid > 0 {
            kill(pid, SIGTERM)
            // Gone, or a zombie that init reaps.
            for _ in 0..<100 where kill(pid, 0) == 0 && !((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z ") ?? true) { usleep(20_000) }
        }
        pid = nil
        if madeRunDir { try? FileManager.default.removeItem(atPath: "/run/sshd"); madeRunDir = false }
    }

    deinit { stop() }
}

struct SSHServerError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
