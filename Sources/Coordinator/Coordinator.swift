import Foundation
import Logging
import Platform
import Synchronization
import Transport
import Wire

/// The coordinator process: a REP server feeding one loop thread, which owns
/// the scheduler and the journal (`CoordinatorCore`); a journal reader that
/// answers views off that thread; and a watchdog that re-creates the
/// listener if it stops completing handshakes.
public final class Coordinator: Sendable {
    public let config: CoordinatorConfig
    private let logger: Logger
    private let mailbox = Mailbox<CoordinatorInput>()
    private let server: ReplyServer
    private let lock: DataDirLock
    private let threads = ThreadGroup()
    private let stopping = Atomic<Bool>(false)
    private let metrics = ClusterMetrics()
    private let http: HTTPServer?

    public init(config: CoordinatorConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        // Before anything touches the journal: one coordinator per data dir.
        lock = try DataDirLock(dataDir: config.dataDir, role: "coordinator")
        let mailbox = self.mailbox
        server = try ReplyServer(listening: config.listen, maxMessageSize: config.maxMessageSize, contexts: 1024) { request in
            mailbox.put(.request(request))
        }
        if let address = config.httpListen {
            let front = HTTPFront(token: config.httpToken, metrics: metrics, post: { mailbox.put($0) })
            http = try HTTPServer(listening: address) { front.handle($0) }
        } else {
            http = nil
        }
    }

    /// Where the HTTP endpoints listen, as http://HOST:PORT (nil: off).
    public var httpAddress: String? { http.map { "http://\($0.host.contains(":") ? "[\($0.host)]" : $0.host):\($0.port)" } }

    /// Where the coordinator actually listens (port 0 resolved).
    public var boundAddress: String { server.boundAddress }

    /// Runs the loop on the calling thread until `stop()`, then stops and
    /// joins every thread it started.
    public func run() throws {
        let mailbox = self.mailbox
        let core = try CoordinatorCore(config: config, server: server, logger: logger, metrics: metrics) { mailbox.put($0) }
        logger.info("coordinator listening", metadata: [
            "address": "\(server.boundAddress)", "epoch": "\(core.epoch)", "cluster": "\(config.clusterID)",
            "data.dir": "\(config.dataDir)", "version": "\(SluiceVersion.string)", "http": "\(httpAddress ?? "off")",
        ])
        threads.spawn("listener-watchdog") { [self] in watchListener() }
        while !stopping.load(ordering: .acquiring) {
            let batch = mailbox.takeAll(timeout: 0.05)
            core.turn(batch)
        }
        core.pipelines.stop()
        core.queries.stopAll()
        core.reader.stop()
        core.releaseParked()
        core.notifier.stop()
        http?.stop()
        server.close()
        let stuck = threads.join(timeout: 5)
        if !stuck.isEmpty { logger.warning("threads still running at shutdown", metadata: ["threads": "\(stuck)"]) }
        lock.release()
        logger.info("coordinator stopped")
    }

    public func stop() {
        stopping.store(true, ordering: .releasing)
        mailbox.wake()
    }

    /// nng 1.5.2 can lose a listener to peers that drop mid-handshake: probe it
    /// from outside and re-create it when it no longer answers.
    private func watchListener() {
        while !stopping.load(ordering: .acquiring) {
            if sleepUnlessStopping(Double(config.listenerCheckInterval.milliseconds) / 1000) { return }
            guard let port = server.boundPort else { continue }
            let host = Self.probeHost(server.boundAddress)
            if ListenerProbe.answersHandshake(host: host, port: port) { continue }
            // One miss can be load; two in a row is a dead listener.
            if sleepUnlessStopping(0.2) { return }
            if ListenerProbe.answersHandshake(host: host, port: port) { continue }
            logger.warning("listener does not complete handshakes; re-creating it", metadata: ["address": "\(server.boundAddress)"])
            do {
                try server.relisten()
                logger.info("listener re-created", metadata: ["address": "\(server.boundAddress)"])
            } catch {
                logger.error("could not re-create the listener", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Sleeps in short steps; true when a stop was asked for meanwhile.
    private func sleepUnlessStopping(_ seconds: TimeInterval) -> Bool {
        let end = Date(timeIntervalSinceNow: seconds)
        while Date() < end {
            if stopping.load(ordering: .acquiring) { return true }
            Thread.sleep(forTimeInterval: min(0.05, max(0, end.timeIntervalSinceNow)))
        }
        return stopping.load(ordering: .acquiring)
    }

    static func probeHost(_ address: String) -> String {
        guard let start = address.range(of: "://")?.upperBound, let colon = address.lastIndex(of: ":") else { return "127.0.0.1" }
        var host = String(address[start..<colon])
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty || host == "0.0.0.0" || host == "*" { return "127.0.0.1" }
        if host == "::" { return "::1" }
        return host
    }
}
