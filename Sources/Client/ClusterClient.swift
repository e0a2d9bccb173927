import Foundation
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

    public init(coordinator: String, clusterID: String, secret: ClusterSecret) throws {
        let user = ProcessInfo.processInfo.environment["USER"] ?? "unknown"
        sealer = Sealer(clusterID: clusterID, sender: "client:\(user)@\(ProcessInfo.processInfo.hostName)", secret: secret)
        channel = try SecureChannel(address: coordinator, sealer: sealer)
    }

    public var address: String { channel.address }

    /// One call; a stale refusal (a resend after a long outage) is retried with a fresh request.
    public func call<R: RequestMessage>(_ request: R, timeout: Duration = .seconds(10)) throws -> R.Reply {
        do {
            return try channel.call(request, timeout: timeout)
        } catch let e as WireError where e.code == .remote(.staleRequest) {
            return try channel.call(request, timeout: timeout)
        } catch let e as TransportError where e.code == .timedOut {
            throw ClientError("no answer from the coordinator at \(address) within \(timeout) (is it running? start one with `sluice local` or `sluice coordinator`)")
        }
    }

    /// Submits a job, retrying for up to `patience` while the coordinator is
    /// unreachable; the submission id makes the retries safe.
    public func submit(_ spec: JobSpec, submissionID: String = UUID().uuidString, patience: Duration = .seconds(30)) throws -> SubmitReply {
        let deadline = ContinuousClock.now + patience
        while true {
            do {
                return try channel.call(SubmitJob(submissionID: submissionID, spec: spec), timeout: .seconds(5))
            } catch let e as TransportError where e.code == .timedOut && ContinuousClock.now < deadline {
                continue
            } catch let e as WireError where e.code == .remote(.staleRequest) && ContinuousClock.now < deadline {
                continue
            } catch let e as TransportError where e.code == .timedOut {
                throw ClientError("no answer from the coordinator at \(address) within \(patience); the job was not submitted (or, if the coordinator comes back, it runs once: submission \(submissionID))")
            }
        }
    }

    public func job(_ id: String, includeOutput: Bool = false) throws -> JobDetail {
        try call(GetJob(jobID: id, includeOutput: includeOutput), timeout: .seconds(30))
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
