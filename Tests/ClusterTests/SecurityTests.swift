import Client
import Foundation
import Testing
import Transport
import Synchronization
import Wire

extension ClusterTests {
    @Suite(.serialized) struct Security {
        func otherSecret(_ c: TestCluster) throws -> String {
            let path = c.dir + "/wrong-secret"
            try "an-entirely-different-secret\n".write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        @Test func aWorkerWithTheWrongSecretIsRefused() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator()
            try c.startWorker("good")
            try c.startWorker("intruder", secretFile: try otherSecret(c))
            try c.waitForWorkers(1)
            try c.eventually("the intruder is told why") { c.log("intruder").contains("does not hold the cluster secret") }
            #expect(try !c.client().status().workers.contains { $0.workerID == "intruder" })
            #expect(c.log("coordinator").contains("authentication failed for worker:intruder"))
        }

        @Test func aClientWithTheWrongSecretIsRefusedWithOneClearLine() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator()
            let r = try c.cli(["submit", "--builtin", "noop"], secretFile: try otherSecret(c))
            #expect(r.status != 0)
            #expect(r.err.split(separator: "\n").count == 1)
            #expect(r.err.contains("refused by \(c.address): authentication failed"))
            #expect(try c.client().jobs().isEmpty)
        }

        /// A fake coordinator, without the secret or replaying captured replies, never gets a task run.
        @Test(arguments: [FakeCoordinator.Mode.wrongSecret, .replayedReplies])
        func aForgedCoordinatorCannotMakeAWorkerRunAnything(mode: FakeCoordinator.Mode) throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            let marker = c.dir + "/pwned"
            let fake = try FakeCoordinator(mode: mode, secret: try ClusterSecret(file: c.secretFile), marker: marker)
            defer { fake.close() }
            try c.startWorker("victim", coordinator: fake.address)
            try c.eventually("the worker refuses the forged replies") {
                let log = c.log("victim")
                return mode == .wrongSecret ? log.contains("failed authentication") : log.contains("answers another request")
            }
            Thread.sleep(forTimeInterval: 1)
            #expect(fake.syncs.value.withLock { $0 } > 0 || mode == .wrongSecret)
            #expect(!FileManager.default.fileExists(atPath: marker))
        }

        @Test func hostileInputLeavesTheClusterWorking() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.start(workers: ["w1"])
            let secret = try ClusterSecret(file: c.secretFile)
            let sealer = Sealer(clusterID: "sluice", sender: "client:hostile", secret: secret)
            let raw = try RequestSocket(dialing: c.address, maxMessageSize: 1 << 20)
            defer { raw.close() }
            func errorCode(_ bytes: [UInt8]) throws -> ErrorCode {
                let reply = try Envelope(decoding: try raw.request(bytes, timeout: .seconds(5)))
                #expect(reply.kind == .error)
                return try ErrorReply(decoding: reply.body).code
            }
            // Through a real nng REQ socket.
            #expect(try errorCode((0..<300).map { _ in UInt8.random(in: 0...255) }) == .badRequest)
            let valid = sealer.request(SubmitJob(submissionID: "x", spec: builtinJob("noop", tasks: 1))).encoded()
            #expect(try errorCode(Array(valid.prefix(valid.count / 2))) == .badRequest)
            var garbageBody = sealer.request(GetClusterStatus())
            garbageBody.kind = .submitJob
            garbageBody.body = [0xFF, 0xFF, 0xFF, 0x01]
            #expect(try errorCode(sealer.seal(garbageBody).encoded()) == .badRequest)
            var badVersion = sealer.request(GetClusterStatus())
            badVersion.version = 42
            #expect(try errorCode(sealer.seal(badVersion).encoded()) == .unsupportedVersion)
            let forger = Sealer(clusterID: "sluice", sender: "client:forger", secret: ClusterSecret(Array("not-the-secret-at-all".utf8)))
            #expect(try errorCode(forger.request(SubmitJob(submissionID: "y", spec: builtinJob("noop", tasks: 1))).encoded()) == .unauthenticated)
            #expect(try errorCode(sealer.request(GetClusterStatus(), now: Date(timeIntervalSinceNow: -600)).encoded()) == .staleRequest)
            // A replayed submission gets the original reply and runs once.
            let submit = sealer.request(SubmitJob(submissionID: "replayed", spec: builtinJob("noop", tasks: 1))).encoded()
            let first = try raw.request(submit, timeout: .seconds(5))
            let second = try raw.request(submit, timeout: .seconds(5))
            #expect(first == second)
            #expect(try c.client().jobs().count == 1)
            // An oversized message: the coordinator drops the connection instead of reading it.
            let big = try RequestSocket(dialing: c.address, maxMessageSize: 64 << 20)
            #expect(throws: TransportError.self) { try big.request(Array(repeating: 7, count: 17 << 20), timeout: .seconds(2)) }
            _ = big  // not closed: see TransportTests (nng 1.5.2 close hang)

            // Raw TCP storms on the coordinator's port and on the worker's service port.
            let workerAddress = try c.client().status().workers[0].serviceAddress
            for port in [c.port, Int(workerAddress.split(separator: ":").last!)!] {
                connectionStorm(port: port, connections: 300)
            }

            // Still a working cluster.
            let job = try c.client().submit(builtinJob("noop", tasks: 20)).jobID
            #expect(try c.waitForJob(job).state == "succeeded")
            let logs = try c.client().readLogs(worker: workerAddress, ReadLogs(jobID: job, task: 0, attemptID: 1, maxBytes: 10))
            #expect(logs.finished)
        }

        @Test func theWatchdogRecreatesABrokenListener() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator(["--enable-fault-hooks"])
            try c.startWorker("w1")
            try c.waitForWorkers(1)
            _ = try c.client().call(InjectFault(fault: "break-listener"))
            try c.eventually("the listener to be re-created", timeout: 15) { c.log("coordinator").contains("listener re-created") }
            // A new connection works again.
            c.resetClient()
            let job = try c.client().submit(builtinJob("noop", tasks: 5)).jobID
            #expect(try c.waitForJob(job).state == "succeeded")
        }

        @Test func faultHooksAreOffByDefault() throws {
            let c = try TestCluster()
            defer { c.shutdown() }
            try c.startCoordinator()
            let error = #expect(throws: WireError.self) { try c.client().call(InjectFault(fault: "break-listener")) }
            #expect(error?.code == .remote(.refused))
        }
    }
}

/// Connections that misbehave at every step of nng's handshake.
func connectionStorm(port: Int, connections: Int) {
    for i in 0..<connections {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { continue }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if ok == 0 {
            let payloads: [[UInt8]] = [
                [],                                                    // close at once
                [0x00, 0x53],                                          // half an SP header
                Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),        // another protocol
                [0x00, 0x53, 0x50, 0x00, 0x00, 0x30, 0x00, 0x00,       // a REQ header, then a 2 GiB frame
                 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 1, 2, 3],
                (0..<64).map { _ in UInt8.random(in: 0...255) },       // noise
            ]
            let p = payloads[i % payloads.count]
            if !p.isEmpty { _ = p.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
            if i % 3 == 0 {
                // Reset instead of a clean close.
                var l = linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
            }
        }
        close(fd)
    }
}

/// Poses as a coordinator: either without the secret, or with it but
/// answering every request for work with a reply captured for another request.
final class FakeCoordinator: Sendable {
    enum Mode: Sendable, CustomTestStringConvertible {
        case wrongSecret, replayedReplies
        var testDescription: String { self == .wrongSecret ? "without the secret" : "replaying captured replies" }
    }

    final class Counter: Sendable {
        let value = Mutex(0)
    }

    let server: ReplyServer
    let syncs = Counter()
    var address: String { server.boundAddress }

    init(mode: Mode, secret: ClusterSecret, marker: String) throws {
        let sealer = Sealer(clusterID: "sluice", sender: "coordinator:fake",
                            secret: mode == .wrongSecret ? ClusterSecret(Array("guessed-secret-value".utf8)) : secret)
        let lease = SyncReply(leases: [Lease(jobID: "job-1", spec: TaskSpec(kind: .command, payload: CommandSpec(argv: ["touch", marker]).encoded()),
                                             tasks: [TaskAssignment(attemptID: 1, task: 0, attempt: 1)])])
        let captured = sealer.request(Sync(workerID: "someone-else"))
        let syncs = self.syncs
        server = try ReplyServer(listening: "tcp://127.0.0.1:0", contexts: 8) { request in
            guard let env = try? Envelope(decoding: request.body) else { return request.drop() }
            switch env.kind {
            case .registerWorker:
                request.reply(sealer.reply(RegisterReply(version: 1, coordinatorID: "fake", heartbeatMs: 1000), to: env).encoded())
            case .heartbeat:
                request.reply(sealer.reply(HeartbeatReply(), to: env).encoded())
            case .sync:
                syncs.value.withLock { $0 += 1 }
                let target = mode == .wrongSecret ? env : captured
                request.reply(sealer.reply(lease, to: target).encoded())
            default:
                request.reply(sealer.reply(ErrorReply(code: .badRequest, message: "fake"), to: env).encoded())
            }
        }
    }

    func close() { server.close() }
}
