import Foundation
import Synchronization
import Transport
import Wire

/// Where a client finds its cluster when nothing is said: the local cluster
/// that `sluice local` runs, with its secret in its data dir.
public enum LocalDefaults {
    public static let port = 7070
    public static var coordinator: String { "tcp://127.0.0.1:\(port)" }
    public static var clusterID: String { "sluice" }

    /// `$SLUICE_HOME`, else `~/.sluice`.
    public static var home: String {
        if let h = ProcessInfo.processInfo.environment["SLUICE_HOME"], !h.isEmpty { return h }
        return FileManager.default.homeDirectoryForCurrentUser.path + "/.sluice"
    }

    public static var dataDir: String { home + "/local" }
    public static var secretFile: String { dataDir + "/secret" }
}

/// A client of one coordinator: typed calls with the retries a person would
/// otherwise do by hand. Submissions carry a submission id, so retrying one
/// (after a timeout, or across a coordinator restart) never runs it twice.
public final class ClusterClient: Sendable {
    public let channel: SecureChannel
    private let sealer: Sealer
    /// Set once any request got an answer: from then on, failures are outages, not a wrong address.
    private let reached = Atomic<Bool>(false)

    public init(coordinator: String, clusterID: String, secret: ClusterSecret) throws {
        let user = ProcessInfo.processInfo.environment["USER"] ?? "unknown"
        sealer = Sealer(clusterID: clusterID, sender: "client:\(user)@\(ProcessInfo.processInfo.hostName)", secret: secret)
        channel = try SecureChannel(address: NNGAddress.normalize(coordinator), sealer: sealer)
    }

    public var address: String { channel.address }

    /// Before the first request: when nothing listens at the address, or its
    /// host does not resolve, say so now rather than after a request timeout.
    /// A peer that stays silent is left to the request's own timeout.
    private func checkReachable() throws {
        guard !reached.load(ordering: .relaxed) else { return }
        switch Reachability.probe(address) {
        case .refused:
            throw ClientError("nothing listens at \(address) (is the coordinator running? start one with `sluice local` or `sluice coordinator`)")
        case .unresolvable(let why):
            throw ClientError("cannot resolve the host of \(address): \(why)")
        case .answers, .silent, .unknown:
            break
        }
    }

    /// One call; a stale refusal (a resend after a long outage) is retried with a fresh request.
    public func call<R: RequestMessage>(_ request: R, timeout: Duration = .seconds(10)) throws -> R.Reply {
        try checkReachable()
        do {
            let reply: R.Reply
            do {
                reply = try channel.call(request, timeout: timeout)
            } catch let e as WireError where e.code == .remote(.staleRequest) {
                reply = try channel.call(request, timeout: timeout)
            }
            reached.store(true, ordering: .relaxed)
            return reply
        } catch let e as TransportError where e.code == .timedOut {
            throw ClientError("no answer from the coordinator at \(address) within \(timeout) (is it running, and reachable from here?)")
        }
    }

    /// Submits a job, retrying for up to `patience` while a coordinator that
    /// was reached does not answer; the submission id makes the retries safe.
    public func submit(_ spec: JobSpec, submissionID: String = UUID().uuidString, patience: Duration = .seconds(30)) throws -> SubmitReply {
        try checkReachable()
        let deadline = ContinuousClock.now + patience
        while true {
            do {
                let reply = try channel.call(SubmitJob(submissionID: submissionID, spec: spec), timeout: .seconds(5))
                reached.store(true, ordering: .relaxed)
                return reply
            } catch let e as TransportError where e.code == .timedOut && ContinuousClock.now < deadline {
                continue
            } catch let e as WireError where e.code == .remote(.staleRequest) && ContinuousClock.now < deadline {
                continue
            } catch let e as TransportError where e.code == .timedOut {
                throw ClientError("no answer from the coordinator at \(address) within \(patience); the job was not submitted (or, if the coordinator comes back, it runs once: submission \(submissionID))")
            }
        }
    }

    /// Page 0: the summary with the failed and running tasks; page N >= 1: every
    /// task that has run, `pageSize` at a time (0: the coordinator's default);
    /// `state` keeps only tasks in that state.
    public func job(_ id: String, page: Int = 0, state: String = "", pageSize: Int = 0, includeOutput: Bool = false) throws -> JobDetail {
        try call(GetJob(jobID: id, includeOutput: includeOutput, page: UInt32(clamping: page), state: state,
                        pageSize: UInt32(clamping: pageSize)), timeout: .seconds(60))
    }

    /// Every task that has run, page after page, in stage and task order.
    public func allTasks(_ id: String, state: String = "", includeOutput: Bool = false, visit: (StageDetail, TaskDetail) throws -> Void) throws {
        var page = 1
        while true {
            let d = try job(id, page: page, state: state, includeOutput: includeOutput)
            for stage in d.stages { for task in stage.tasks { try visit(stage, task) } }
            guard d.more else { return }
            page += 1
        }
    }

    public func jobs(limit: Int = 50) throws -> [JobSummary] {
        try call(ListJobs(limit: UInt32(limit))).jobs
    }

    public func cancel(_ id: String) throws -> String {
        try call(CancelJob(jobID: id)).state
    }

    public func status() throws -> ClusterStatus {
        try call(GetClusterStatus())
    }

    /// Polls until the job ends, calling `progress` with each summary.
    public func wait(for id: String, poll: Duration = .milliseconds(100), progress: (JobSummary) -> Void = { _ in }) throws -> JobSummary {
        while true {
            let s = try call(GetJob(jobID: id, summaryOnly: true), timeout: .seconds(30)).summary
            progress(s)
            if s.state != "running" { return s }
            Thread.sleep(forTimeInterval: Double(poll.milliseconds) / 1000)
        }
    }

    /// Reads a chunk of an attempt's logs from the worker that ran it.
    public func readLogs(worker address: String, _ request: ReadLogs) throws -> Logs {
        let ch = try SecureChannel(address: address, sealer: sealer, maxMessageSize: 2 << 20)
        defer { ch.socket.close() }
        do {
            return try ch.call(request, timeout: .seconds(5))
        } catch let e as TransportError where e.code == .timedOut {
            throw ClientError("the worker at \(address) does not answer (it may have died; its logs went with it)")
        }
    }
}

/// The one error type of the Client module: a sentence for the person at the terminal.
public struct ClientError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
