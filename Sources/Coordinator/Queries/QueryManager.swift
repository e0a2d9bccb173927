import Datasets
import Execution
import Foundation
import Logging
import Scheduler
import Synchronization
import Transport
import Wire

/// What a query thread needs of the coordinator. Everything that touches
/// the scheduler goes through the loop's mailbox; fetching a result block
/// goes straight to the worker.
final class QueryServices: Sendable {
    let fileRoots: [String]
    /// The catalog's datasets, by name in every query.
    let datasets: CatalogTables
    /// Records (true) and forgets (false) a write's staging directory.
    let staging: @Sendable (String, Bool) -> Void
    private let post: @Sendable (CoordinatorInput) -> Void
    private let blocks: BlockClient
    private let logger: Logger
    let progressByJob = Mutex<[JobID: QueryProgress]>([:])
    /// Jobs with a task that ran on several threads: a rerun of it may write
    /// its rows in another order, so a result cannot resume by row count.
    private let threaded = Mutex<Set<JobID>>([])

    init(fileRoots: [String], datasets: CatalogTables, staging: @escaping @Sendable (String, Bool) -> Void, sealer: Sealer, logger: Logger,
         post: @escaping @Sendable (CoordinatorInput) -> Void) {
        self.fileRoots = fileRoots
        self.datasets = datasets
        self.staging = staging
        blocks = BlockClient(sealer: sealer, timeout: .seconds(5))
        self.logger = logger
        self.post = post
    }

    /// Submits a job through the loop and waits for its id.
    func submit(_ spec: JobSpec, query: String, adapter: StageAdapter?) -> JobID {
        let done = DispatchSemaphore(value: 0)
        let id = Mutex<JobID?>(nil)
        post(.submitQueryJob(spec, query: query, adapter, { job in id.withLock { $0 = job }; done.signal() }))
        done.wait()
        return id.withLock { $0! }
    }

    func cancelJob(_ job: JobID, _ reason: String) { post(.cancelQueryJob(job, reason)) }
    func delivered(_ job: JobID) { post(.resultDelivered(job)) }
    func noteThreaded(_ job: JobID) { threaded.withLock { _ = $0.insert(job) } }
    func ranOnThreads(_ job: JobID) -> Bool { threaded.withLock { $0.contains(job) } }
    func forget(_ job: JobID) {
        progressByJob.withLock { $0[job] = nil }
        threaded.withLock { _ = $0.remove(job) }
    }
    func progress(_ job: JobID?) -> QueryProgress? { job.flatMap { j in progressByJob.withLock { $0[j] } } }
    func log(_ message: String, _ metadata: [String: String]) {
        logger.warning("\(message)", metadata: metadata.mapValues { .string($0) })
    }

    /// A chunk of the result's bucket, and its size.
    func fetch(_ at: ClusterQuery.ResultLocation, job: JobID, offset: Int, max: Int) throws -> (data: ArraySlice<UInt8>, total: Int) {
        try blocks.read(address: at.address, job: job.rawValue, attempt: at.attempt, bucket: 0, offset: offset, chunk: max)
    }
}

/// How a query's stages that read a hash shuffle are re-planned when their
/// inputs are done (adaptive execution): `stages` are the ones to ask about;
/// `adapt` gets a stage and, per input stage, the bytes each producer task
/// wrote into each bucket, and answers the stage's new payload, task count and
/// what changed, or nil to run it as planned. Called on the loop thread: pure
/// and quick (`AdaptivePlanner`).
struct StageAdapter: Sendable {
    let stages: Set<Int>
    let adapt: @Sendable (Int, [Int: [[UInt64]]]) -> (payload: [UInt8], tasks: Int, changes: [String])?
}

/// The queries the coordinator runs (`SubmitQuery`), each on a thread of its
/// own, and the routing of scheduler news to them. Shared by the loop and the
/// query threads; a ticker answers long polls that waited long enough and
/// cancels queries whose client stopped asking.
final class QueryManager: Sendable {
    let services: QueryServices
    let epoch: UInt64
    private let queries = Mutex<[String: ClusterQuery]>([:])
    private let byJob = Mutex<[JobID: String]>([:])
    private let next = Atomic<UInt64>(1)
    private let stopping = Atomic<Bool>(false)
    /// A query whose client has not asked for anything this long is cancelled.
    static let abandonedAfter: TimeInterval = 60
    /// Queries that may run at once.
    static let maxQueries = 64

    init(services: QueryServices, epoch: UInt64) {
        self.services = services
        self.epoch = epoch
        let ticker = Thread { [self] in tick() }
        ticker.name = "sluice-queries"
        ticker.start()
    }

    /// Starts a query; its id, or why not.
    func start(_ request: SubmitQuery, partitions: Int, scanTasks: Int) -> Result<String, CoordinatorError> {
        // Finished queries wait a little for a client's last read, and the pipelines' own are bounded elsewhere: neither counts.
        let running = queries.withLock { $0.values.filter { $0.detached == nil && !$0.isFinished }.count }
        guard running < Self.maxQueries else {
            return .failure(CoordinatorError("\(running) queries are running, the most this coordinator runs at once; try again"))
        }
        let id = "query-\(epoch)-\(next.wrappingAdd(1, ordering: .relaxed).oldValue)"
        let q = ClusterQuery(id: id, request: request, partitions: partitions, scanTasks: scanTasks, services: services)
        queries.withLock { $0[id] = q }
        let t = Thread { q.run() }
        t.name = "sluice-\(id)"
        t.stackSize = 8 << 20
        t.start()
        return .success(id)
    }

    /// Runs `detached` in a cluster session of its own (a pipeline's model),
    /// sized by the slots the loop last saw; its id. Not bounded by `maxQueries`:
    /// the pipeline machine bounds its runs.
    func startDetached(_ detached: ClusterQuery.Detached) -> String {
        let slots = max(1, sqlSlots.load(ordering: .relaxed))
        let id = "query-\(epoch)-\(next.wrappingAdd(1, ordering: .relaxed).oldValue)"
        let q = ClusterQuery(id: id, request: SubmitQuery(), partitions: max(1, min(2 * slots, 256)), scanTasks: slots, services: services,
                             detached: detached)
        queries.withLock { $0[id] = q }
        let t = Thread { q.run() }
        t.name = "sluice-\(id)"
        t.stackSize = 8 << 20
        t.start()
        return id
    }

    /// Slots of the live workers that run `sql` tasks, as the loop last counted them.
    let sqlSlots = Atomic<Int>(0)

    func query(_ id: String) -> ClusterQuery? { queries.withLock { $0[id] } }

    /// Why a query id is not known here.
    func unknown(_ id: String) -> String {
        let parts = id.split(separator: "-")
        if parts.count == 3, parts[0] == "query", let e = UInt64(parts[1]), e != epoch {
            return "query \(id) was interrupted by a coordinator restart; nothing was written"
        }
        return "no query \(id) here (finished queries are forgotten once their result was read)"
    }

    func jobStarted(_ job: JobID, query: String) {
        byJob.withLock { $0[job] = query }
        self.query(query)?.begin(job)
    }

    func resultReady(_ job: JobID, at: ClusterQuery.ResultLocation) {
        guard let q = byJob.withLock({ $0[job] }).flatMap(query) else { return }
        q.resultReady(at, job: job)
    }

    func jobEnded(_ job: JobID, state: JobState, reason: String, figures: [StageFigures]) {
        guard let id = byJob.withLock({ $0.removeValue(forKey: job) }) else { return }
        services.forget(job)
        query(id)?.jobEnded(job, state: state, reason: reason, figures: figures)
    }

    func isQueryJob(_ job: JobID) -> Bool { byJob.withLock { $0[job] != nil } }
    /// Queries whose job is running.
    var runningCount: Int { byJob.withLock { $0.count } }

    /// The jobs of running queries.
    var jobs: [JobID] { byJob.withLock { Array($0.keys) } }

    func cancel(_ id: String, reason: String) -> Bool {
        guard let q = query(id) else { return false }
        q.stop(reason)
        return true
    }

    private func tick() {
        while !stopping.load(ordering: .relaxed) {
            Thread.sleep(forTimeInterval: 0.05)
            let now = Date()
            for (id, q) in queries.withLock({ $0 }) {
                if q.expire(now: now) {
                    queries.withLock { $0[id] = nil }
                } else if q.detached == nil, now.timeIntervalSince(q.lastHeard) > Self.abandonedAfter {
                    q.stop("the client stopped reading the result of \(id) for \(Int(Self.abandonedAfter)) s")
                    queries.withLock { $0[id] = nil }
                } else if q.request.timeoutMs > 0, now.timeIntervalSince(q.startedAt) * 1000 > Double(q.request.timeoutMs) {
                    q.stop("query \(id) timed out after \(q.request.timeoutMs) ms")
                }
            }
        }
    }

    func stopAll() {
        stopping.store(true, ordering: .relaxed)
        for (_, q) in queries.withLock({ $0 }) { q.stop("the coordinator is shutting down") }
    }
}
