import Foundation
import Logging
import Transport

/// Sends alert notices off the loop: to the log, and as a JSON POST to each
/// rule's webhook, retried with backoff (1 s, doubling, 6 tries) so a
/// receiver that is briefly down still hears of it. One thread, in order.
final class AlertNotifier: @unchecked Sendable {
    private let rules: [String: AlertRule]
    private let logger: Logger
    private let cluster: String
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queue: [AlertBook.Notice] = []
    private var stopped = false
    private var thread: Thread?

    static let tries = 6

    init(rules: [AlertRule], cluster: String, logger: Logger) {
        self.rules = Dictionary(rules.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.cluster = cluster
        self.logger = logger
    }

    func send(_ notices: [AlertBook.Notice]) {
        guard !notices.isEmpty else { return }
        for n in notices where rules[n.rule]?.log == true {
            let meta: Logger.Metadata = ["alert": "\(n.rule)", "subject": "\(n.subject)", "value": "\(n.value)"]
            if n.state == "firing" { logger.warning("alert firing", metadata: meta) } else { logger.info("alert resolved", metadata: meta) }
        }
        let posted = notices.filter { rules[$0.rule]?.webhook != nil }
        guard !posted.isEmpty else { return }
        condition.lock()
        queue += posted
        if thread == nil {
            let t = Thread { [self] in run() }
            t.name = "alert-notifier"
            thread = t
            t.start()
        }
        condition.signal()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while let n = next() {
            guard let url = rules[n.rule]?.webhook else { continue }
            struct Body: Encodable {
                var cluster: String
                var rule: String
                var state: String
                var subject: String
                var value: String
                var atMs: Int64
                var at: String
            }
            let at = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(n.atMs) / 1000))
            let body = (try? JSONEncoder().encode(Body(cluster: cluster, rule: n.rule, state: n.state, subject: n.subject, value: n.value,
                                                        atMs: n.atMs, at: at))) ?? Data()
            var delay = 1.0
            for attempt in 1...Self.tries {
                do {
                    let status = try HTTPClient.post(url, body: [UInt8](body))
                    if (200..<300).contains(status) { break }
                    logger.warning("alert webhook refused", metadata: ["url": "\(url)", "status": "\(status)", "try": "\(attempt)"])
                } catch {
                    logger.warning("alert webhook unreachable", metadata: ["url": "\(url)", "error": "\(error)", "try": "\(attempt)"])
                }
                if attempt == Self.tries || waitUnlessStopped(delay) { break }
                delay *= 2
            }
        }
    }

    private func next() -> AlertBook.Notice? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !stopped { condition.wait() }
        return stopped ? nil : queue.removeFirst()
    }

    /// True when stopped meanwhile.
    private func waitUnlessStopped(_ seconds: Double) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: seconds)
        while !stopped, condition.wait(until: deadline) {}
        return stopped
    }
}
