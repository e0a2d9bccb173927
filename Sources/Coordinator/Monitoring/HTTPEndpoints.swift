import Foundation
import Transport
import Wire

/// The coordinator's read-only HTTP paths (`--http`). `/healthz` and the
/// token are answered on the HTTP thread (`HTTPFront`); the rest here, on the
/// loop, from the state it owns.
extension CoordinatorCore {
    func answer(_ r: HTTPServer.Request, now: Int64) -> HTTPServer.Response {
        switch r.path {
        case "/readyz":
            // The loop answered, so the journal is open; the listener is probed from outside, as the watchdog does.
            guard let port = server.boundPort,
                  ListenerProbe.answersHandshake(host: Coordinator.probeHost(server.boundAddress), port: port) else {
                return .init(status: 503, text: "not ready: the listener does not complete handshakes\n")
            }
            return .init(text: "ready\n")
        case "/metrics":
            return .init(contentType: "text/plain; version=0.0.4; charset=utf-8",
                         body: metrics.render(clusterStatus(now: now), queriesRunning: queries.runningCount, firingAlerts: alerts.firing.count))
        case "/api/status":
            return Self.json(clusterStatus(now: now))
        case "/api/recent":
            struct Body: Encodable {
                var history: [Recent.Sample]
                var failures: [Recent.Failure]
            }
            return Self.json(Body(history: recent.history, failures: recent.failures))
        case "/api/alerts":
            return Self.json(alerts.firingList)
        case "/", "/index.html":
            return .init(contentType: "text/html; charset=utf-8", text: Dashboard.html)
        default:
            return .init(status: 404, text: "no such path: \(r.path) (try /, /healthz, /readyz, /metrics, /api/status, /api/recent, /api/alerts)\n")
        }
    }

    static func json<T: Encodable>(_ value: T) -> HTTPServer.Response {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        guard let data = try? e.encode(value) else { return .init(status: 500, text: "could not encode the answer\n") }
        return .init(contentType: "application/json", body: [UInt8](data))
    }
}

/// What answers HTTP before the loop: `/healthz`, methods, the bearer token;
/// then hands the request to the loop and waits for its answer.
struct HTTPFront: Sendable {
    let token: String?
    let metrics: ClusterMetrics
    let post: @Sendable (CoordinatorInput) -> Void
    /// How long a request waits for the loop (a busy or stuck loop is not ready).
    var loopTimeout: TimeInterval = 2

    func handle(_ r: HTTPServer.Request) -> HTTPServer.Response {
        guard r.method == "GET" || r.method == "HEAD" else { return .init(status: 405, text: "read-only: GET only\n") }
        if r.path == "/healthz" { return .init(text: "ok\n") }
        if let token, !Self.bearer(r.authorization, matches: token) {
            metrics.authRefused(via: "http")
            var res = HTTPServer.Response(status: 401, text: "this path needs Authorization: Bearer TOKEN (the coordinator's --http-token-file)\n")
            res.headers = [("WWW-Authenticate", "Bearer")]
            return res
        }
        let box = AnswerBox()
        post(.http(r, { box.set($0) }))
        return box.wait(loopTimeout) ?? .init(status: 503, text: "not ready: the coordinator's loop did not answer within \(Int(loopTimeout)) s\n")
    }

    /// Compares in time independent of where the first difference is.
    static func bearer(_ header: String?, matches token: String) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.dropFirst(7).utf8), wanted = Array(token.utf8)
        guard given.count == wanted.count else { return false }
        return zip(given, wanted).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// One answer handed from the loop to a waiting HTTP thread.
private final class AnswerBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: HTTPServer.Response?

    func set(_ v: HTTPServer.Response) {
        condition.lock()
        value = v
        condition.broadcast()
        condition.unlock()
    }

    func wait(_ seconds: TimeInterval) -> HTTPServer.Response? {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while value == nil, condition.wait(until: deadline) {}
        return value
    }
}
