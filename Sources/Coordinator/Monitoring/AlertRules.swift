import Foundation
import Pipelines
import Yams

/// One rule of `sluice coordinator --alerts FILE`.
public struct AlertRule: Sendable, Equatable {
    public enum Trigger: Sendable, Equatable {
        /// A worker died (not: left on its own); resolved when that worker id is alive again.
        case workerLost
        /// A job or query failed; resolved `eventHoldMs` later.
        case jobFailed
        case queueDepthAbove(Int)
        /// Retried attempts over started ones in the last 5 minutes, 0...1.
        case retryRateAbove(Double)
        /// This coordinator started over a journal an earlier one wrote; resolved `eventHoldMs` later.
        case coordinatorRestarted
        /// A pipeline run failed; resolved `eventHoldMs` later.
        case pipelineFailed
        /// A pipeline run missed its SLA; resolved `eventHoldMs` later.
        case slaMissed
    }

    public var name: String
    public var trigger: Trigger
    /// How long the condition must hold before the rule fires.
    public var forMs: Int64 = 0
    public var webhook: String?
    public var log = false
}

/// Reads an alerts file (YAML, with Yams): a list of rules, or a map with a
/// `rules:` list. Every error names the file and the line.
///
///     - name: worker-down
///       when: worker_lost
///       notify: { webhook: "http://alerts.internal:9000/sluice", log: true }
///     - name: backlog
///       when: { queue_depth_above: 500 }
///       for: 5m
///       notify: { log: true }
public enum AlertRules {
    public struct FileError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func load(_ path: String) throws -> [AlertRule] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw FileError(description: "cannot read the alerts file \(path)") }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> [AlertRule] {
        func fail(_ node: Node?, _ message: String) -> FileError {
            FileError(description: "\(file)" + (node?.mark.map { ":\($0.line)" } ?? "") + ": \(message)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let e as YamlError {
            throw FileError(description: "\(file): not valid YAML: \(e)")
        }
        guard let root else { return [] }
        var list = root
        if let map = root.mapping {
            guard let rules = map["rules"] else { throw fail(root, "expected a list of rules, or `rules:` with one") }
            list = rules
        }
        guard let items = list.sequence else { throw fail(list, "expected a list of rules") }
        var rules: [AlertRule] = []
        for item in items {
            guard let m = item.mapping else { throw fail(item, "a rule is a map with name, when, for and notify") }
            for key in m.keys.compactMap(\.string) where !["name", "when", "for", "notify"].contains(key) {
                throw fail(m.keys.first { $0.string == key }, "unknown key '\(key)' (a rule has name, when, for and notify)")
            }
            guard let name = m["name"]?.string, !name.isEmpty else { throw fail(item, "a rule needs a name") }
            guard !rules.contains(where: { $0.name == name }) else { throw fail(m["name"], "two rules are named '\(name)'") }
            guard let when = m["when"] else { throw fail(item, "rule '\(name)' needs `when`") }
            var rule = AlertRule(name: name, trigger: try trigger(when, fail))
            if let f = m["for"] {
                guard let text = f.string, let ms = Durations.milliseconds(text), ms >= 0, ms <= 7 * 86_400_000 else {
                    throw fail(f, "`for` takes a duration such as 30s, 5m or 1h (at most 7d)")
                }
                rule.forMs = ms
            }
            guard let notify = m["notify"]?.mapping else { throw fail(item, "rule '\(name)' needs `notify:` with a webhook and/or log: true") }
            for (k, v) in notify {
                switch k.string {
                case "webhook":
                    guard let url = v.string, url.hasPrefix("http://"), URL(string: url)?.host != nil else {
                        throw fail(v, "a webhook is an http:// URL")
                    }
                    rule.webhook = url
                case "log":
                    guard let b = v.bool else { throw fail(v, "`log` is true or false") }
                    rule.log = b
                default:
                    throw fail(k, "unknown notify key '\(k.string ?? "?")' (webhook, log)")
                }
            }
            guard rule.webhook != nil || rule.log else { throw fail(m["notify"], "rule '\(name)' notifies nobody: give a webhook or log: true") }
            rules.append(rule)
        }
        return rules
    }

    private static func trigger(_ when: Node, _ fail: (Node?, String) -> FileError) throws -> AlertRule.Trigger {
        let known = "worker_lost, job_failed, pipeline_failed, sla_missed, queue_depth_above: N, retry_rate_above: R, coordinator_restarted"
        if let s = when.string {
            switch s {
            case "worker_lost": return .workerLost
            case "job_failed": return .jobFailed
            case "coordinator_restarted": return .coordinatorRestarted
            case "pipeline_failed": return .pipelineFailed
            case "sla_missed": return .slaMissed
            default: throw fail(when, "unknown trigger '\(s)' (\(known))")
            }
        }
        guard let m = when.mapping, m.count == 1, let (k, v) = m.first, let key = k.string else {
            throw fail(when, "`when` is one of \(known)")
        }
        switch key {
        case "queue_depth_above":
            guard let n = v.int, n >= 0 else { throw fail(v, "queue_depth_above takes a whole number of tasks") }
            return .queueDepthAbove(n)
        case "retry_rate_above":
            guard let r = v.float, r >= 0, r <= 1 else { throw fail(v, "retry_rate_above takes a share of attempts, 0 to 1") }
            return .retryRateAbove(r)
        default:
            throw fail(k, "unknown trigger '\(key)' (\(known))")
        }
    }
}
