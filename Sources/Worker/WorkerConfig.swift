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
    /// Leave (drain and exit) when the coordinator has not answered a heartbeat
    /// for this long; nil: never. Workers an autoscaler started set it, so a
    /// cluster whose coordinator is gone for good does not keep them forever.
    public var orphanTimeout: Duration?
    /// Stable id across restarts; by default kept in the data dir.
    public var workerID: String?
    /// Bytes of stdout sent back with a result (the whole log stays on the worker).
    public var outputCap = 64 << 10
    /// Where the data socket (shuffle blocks) listens; nil: the service port + 1.
    public var dataListen: String?
    /// Bytes of shuffle output kept in memory before outputs go to files in the
    /// data dir; nil: a quarter of `memoryLimit`, at most 1 GiB.
    public var shuffleMemory: Int?
    /// Threads a `sql` task runs on.
    public var threadsPerTask = 1
    /// The worker's memory budget: the shuffle output it keeps in memory, and
    /// the rest split evenly between its slots' `sql` tasks (so running tasks
    /// never oversubscribe it); beyond its share a task spills to `tempDir`.
    public var memoryLimit = MemoryPool.defaultLimit
    /// Where tasks spill; nil: `DATA_DIR/spill`.
    public var tempDir: String?

    /// Shuffle output kept in memory, within the budget.
    public var heldShuffleMemory: Int { min(shuffleMemory ?? min(1 << 30, memoryLimit / 4), memoryLimit / 2) }
    /// One running task's budget.
    public var taskMemory: Int { max(1 << 20, (memoryLimit - heldShuffleMemory) / max(1, slots)) }

    public init(coordinator: String, dataDir: String, clusterID: String, secret: ClusterSecret, advertiseHost: String) {
        self.coordinator = coordinator
        self.dataDir = dataDir
        self.clusterID = clusterID
        self.secret = secret
        self.advertiseHost = advertiseHost
    }
}
