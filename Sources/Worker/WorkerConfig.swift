import Execution
import Foundation
import Wire

/// Everything a worker needs to start; the CLI fills it from flags.
public struct WorkerConfig: Sendable {
    public var coordinator: String
    public var dataDir: String
    public var clusterID: String
    public var secret: ClusterSecret
    /// The host name or address others use to reach this worker.
    public var advertiseHost: String
    /// Where the worker's service socket (logs, later shuffle) listens; port 0 picks one.
    public var serviceListen = "tcp://0.0.0.0:0"
    public var slots = ProcessInfo.processInfo.activeProcessorCount
    public var labels: [Label] = []
    /// Run `command` tasks (off by default: a worker runs code only when told it may).
    public var allowCommands = false
    /// Run commands as this user (needs root).
    public var runAs: String?
    public var heartbeatInterval: Duration = .seconds(1)
    /// At most this many tasks held beyond the free slots, so the next task is already
    /// here when one ends; how many it actually asks for follows its tasks' durations.
    public var leaseAhead = 1024
    /// How long SIGTERM waits for running tasks before stopping them.
    public var drainTimeout: Duration = .seconds(30)
    /// Stable id across restarts; by default kept in the data dir.
    public var workerID: String?
    /// Bytes of stdout sent back with a result (the whole log stays on the worker).
    public var outputCap = 64 << 10
    /// Where the data socket (shuffle blocks) listens; nil: the service port + 1.
    public var dataListen: String?
    /// Bytes of shuffle output kept in memory before outputs go to files in the data dir.
    public var shuffleMemory = 1 << 30
    /// Threads a `sql` task runs on.
    public var threadsPerTask = 1
    /// The memory budget of the worker's `sql` tasks, split evenly between its slots (so running tasks never
    /// oversubscribe it); beyond its share a task spills to `tempDir`.
    public var memoryLimit = MemoryPool.defaultLimit
    /// Where tasks spill; nil: `DATA_DIR/spill`.
    public var tempDir: String?

    public init(coordinator: String, dataDir: String, clusterID: String, secret: ClusterSecret, advertiseHost: String) {
        self.coordinator = coordinator
        self.dataDir = dataDir
        self.clusterID = clusterID
        self.secret = secret
        self.advertiseHost = advertiseHost
    }
}
