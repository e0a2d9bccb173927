import Scheduler
import Wire

/// Everything a coordinator needs to start; the CLI fills it from flags.
public struct CoordinatorConfig: Sendable {
    /// nng address to listen on, e.g. tcp://0.0.0.0:7070.
    public var listen: String
    public var dataDir: String
    public var clusterID: String
    public var secret: ClusterSecret
    public var scheduler = SchedulerConfig()
    /// Requests older or newer than this (by the sender's clock) are refused.
    public var freshnessWindowMs: Int64 = 30_000
    /// fsync the journal on every commit (survives power loss, not only kill -9).
    public var fullSync = false
    /// Honour INJECT_FAULT requests (tests only).
    public var faultHooks = false
    public var maxMessageSize = 16 << 20
    /// How often the watchdog checks that the listener still completes handshakes.
    public var listenerCheckInterval: Duration = .seconds(2)
    /// How long a worker's lease poll may be held when there is no work.
    public var maxPollWaitMs: Int64 = 1000
    /// Finished jobs older than this leave the journal, and their task logs the workers.
    public var retainMs: Int64 = 30 * 86_400_000
    /// Directories queries on the cluster may read and write (`--sql-root`); empty: the data dir alone.
    public var sqlRoots: [String] = []
    /// Where CREATE TABLE AS puts new datasets (`--warehouse`); empty: `warehouse/` in the data dir.
    public var warehouse = ""
    public var warehouseDir: String { warehouse.isEmpty ? dataDir + "/warehouse" : warehouse }
    /// How long files a dataset write replaced stay on disk for queries already reading them.
    public var replacedFilesGraceMs: Int64 = 60_000
    /// Where the read-only HTTP endpoints listen (`--http`: health, metrics, status page); nil: off.
    public var httpListen: String?
    /// When set, every HTTP path but `/healthz` needs `Authorization: Bearer TOKEN`.
    public var httpToken: String?
    /// Alert rules (`--alerts FILE`).
    public var alertRules: [AlertRule] = []
    /// `--autoscale FILE`: the policy and the provider; nil: a fixed pool.
    public var autoscale: AutoscaleConfig?
    /// The secret's file, when it came from one: what workers a provider starts are given.
    public var secretFile: String?
    /// Where workers a provider starts reach this coordinator (default: `listen`, a wildcard host as 127.0.0.1).
    public var workerAddress: String {
        listen.replacingOccurrences(of: "://0.0.0.0:", with: "://127.0.0.1:").replacingOccurrences(of: "://*:", with: "://127.0.0.1:")
    }

    public init(listen: String, dataDir: String, clusterID: String, secret: ClusterSecret) {
        self.listen = listen
        self.dataDir = dataDir
        self.clusterID = clusterID
        self.secret = secret
    }
}

/// The one error type of the Coordinator module: a sentence a person can act on.
public struct CoordinatorError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}
