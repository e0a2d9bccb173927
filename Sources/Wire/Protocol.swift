/// Protocol versions this build speaks. A peer outside [minimum, current] is
/// refused with UNSUPPORTED_VERSION naming both ranges; see docs/protocol.md.
public enum ProtocolVersion {
    public static let current: UInt32 = 1
    public static let minimum: UInt32 = 1

    public static func supports(_ v: UInt32) -> Bool { (minimum...current).contains(v) }
}

/// A message that travels as an envelope body: it knows its `MessageKind`.
public protocol KindedMessage: WireMessage {
    static var kind: MessageKind { get }
}

/// A request, and the message type that answers it.
public protocol RequestMessage: KindedMessage {
    associatedtype Reply: KindedMessage
}

extension ErrorReply: KindedMessage { public static var kind: MessageKind { .error } }
extension RegisterWorker: RequestMessage { public typealias Reply = RegisterReply; public static var kind: MessageKind { .registerWorker } }
extension RegisterReply: KindedMessage { public static var kind: MessageKind { .registerReply } }
extension Heartbeat: RequestMessage { public typealias Reply = HeartbeatReply; public static var kind: MessageKind { .heartbeat } }
extension HeartbeatReply: KindedMessage { public static var kind: MessageKind { .heartbeatReply } }
extension Sync: RequestMessage { public typealias Reply = SyncReply; public static var kind: MessageKind { .sync } }
extension SyncReply: KindedMessage { public static var kind: MessageKind { .syncReply } }
extension Leave: RequestMessage { public typealias Reply = LeaveReply; public static var kind: MessageKind { .leave } }
extension LeaveReply: KindedMessage { public static var kind: MessageKind { .leaveReply } }
extension SubmitJob: RequestMessage { public typealias Reply = SubmitReply; public static var kind: MessageKind { .submitJob } }
extension SubmitReply: KindedMessage { public static var kind: MessageKind { .submitReply } }
extension GetJob: RequestMessage { public typealias Reply = JobDetail; public static var kind: MessageKind { .getJob } }
extension JobDetail: KindedMessage { public static var kind: MessageKind { .jobDetail } }
extension CancelJob: RequestMessage { public typealias Reply = CancelReply; public static var kind: MessageKind { .cancelJob } }
extension CancelReply: KindedMessage { public static var kind: MessageKind { .cancelReply } }
extension ListJobs: RequestMessage { public typealias Reply = JobList; public static var kind: MessageKind { .listJobs } }
extension JobList: KindedMessage { public static var kind: MessageKind { .jobList } }
extension GetClusterStatus: RequestMessage { public typealias Reply = ClusterStatus; public static var kind: MessageKind { .getClusterStatus } }
extension ClusterStatus: KindedMessage { public static var kind: MessageKind { .clusterStatus } }
extension SubmitQuery: RequestMessage { public typealias Reply = QueryAccepted; public static var kind: MessageKind { .submitQuery } }
extension QueryAccepted: KindedMessage { public static var kind: MessageKind { .queryAccepted } }
extension FetchResult: RequestMessage { public typealias Reply = ResultChunk; public static var kind: MessageKind { .fetchResult } }
extension ResultChunk: KindedMessage { public static var kind: MessageKind { .resultChunk } }
extension FetchBlock: RequestMessage { public typealias Reply = Block; public static var kind: MessageKind { .fetchBlock } }
extension Block: KindedMessage { public static var kind: MessageKind { .block } }
extension ReadLogs: RequestMessage { public typealias Reply = Logs; public static var kind: MessageKind { .readLogs } }
extension Logs: KindedMessage { public static var kind: MessageKind { .logs } }
extension CatalogRequest: RequestMessage { public typealias Reply = CatalogReply; public static var kind: MessageKind { .catalogRequest } }
extension CatalogReply: KindedMessage { public static var kind: MessageKind { .catalogReply } }
extension PipelineRequest: RequestMessage { public typealias Reply = PipelineReply; public static var kind: MessageKind { .pipelineRequest } }
extension PipelineReply: KindedMessage { public static var kind: MessageKind { .pipelineReply } }
extension AutoscalerHistory: RequestMessage { public typealias Reply = AutoscalerDecisions; public static var kind: MessageKind { .autoscalerHistory } }
extension AutoscalerDecisions: KindedMessage { public static var kind: MessageKind { .autoscalerDecisions } }
extension InjectFault: RequestMessage { public typealias Reply = FaultReply; public static var kind: MessageKind { .injectFault } }
extension FaultReply: KindedMessage { public static var kind: MessageKind { .faultReply } }

/// This build's version, reported at registration and by `--version`.
public enum SluiceVersion {
    public static let string = "0.2.0"
}

/// What a worker can run, as it advertises at registration, and what each
/// task kind requires. The scheduler matches the two without knowing kinds.
public enum Capability {
    /// Runs command tasks: the worker was started with --allow-commands.
    public static let commands = "commands"
    /// Runs `sql` tasks (stages of queries) and serves their shuffle blocks.
    public static let sql = "sql"

    /// What a worker must offer to run tasks of this kind.
    public static func required(by kind: TaskKind) -> Set<String> {
        switch kind {
        case .command: [commands]
        case .sql: [sql]
        case .builtin, .unspecified: []
        }
    }
}
