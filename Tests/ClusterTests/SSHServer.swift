import Foundation
import Platform

/// A real OpenSSH server for a test, not the system's service: `sshd -D -f
/// CONFIG` on a loopback port, with a host key and a user key generated
/// into the test's directory, admitting only that key for the current user.
///
/// It is started with Platform's spawn, not Foundation's Process: Process
/// waits for sshd with a blocking wait4 on its monitoring thread, and every
/// other child's exit then goes unnoticed until sshd ends. Stopping it
/// reaps it.
final class SSHServer: @unchecked Sendable {
    let dir: String
    let port: Int
    let user: String
    var identityFile: String { dir + "/user_key" }
    var knownHosts: String { dir + "/known_hosts" }
    private var sshd: ChildProcess?
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
        let log = open(dir + "/sshd.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw SSHServerError("cannot write \(dir)/sshd.log") }
        defer { close(log) }
        sshd = try ChildProcess.spawn(path: "/usr/sbin/sshd", arguments: ["-D", "-e", "-f", dir + "/sshd_config"], environment: environment(with: [:]),
                                      stdout: log, stderr: log, deathSignal: 0)
        // Ready when a login runs a command.
        let deadline = Date().addingTimeInterval(20)
        while true {
            let r = try ssh("true")
            if r.status == 0 { break }
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
        if let sshd {
            sshd.signal(SIGTERM)
            _ = waitForExit(sshd.pid)
        }
        sshd = nil
        if madeRunDir { try? FileManager.default.removeItem(atPath: "/run/sshd"); madeRunDir = false }
    }

    deinit { stop() }
}

struct SSHServerError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
