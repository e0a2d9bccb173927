import Foundation
import Synchronization
import Transport
import Wire

/// The worker's data socket: serves the shuffle blocks of its `sql` attempts
/// (FETCH_BLOCK) to other workers and to the coordinator, sealed like every
/// request. Reads run on a queue of their own, never on nng's callback thread.
final class DataService: Sendable {
    private let server: ReplyServer
    let port: Int
    /// The most bytes one reply carries; a reader asks again from the next offset.
    static let maxChunk = BlockClient.chunk

    init(listen: String, sealer: Sealer, store: ShuffleStore) throws {
        let gate = Mutex(RequestGate(sealer: sealer))
        let queue = DispatchQueue(label: "sluice-data", attributes: .concurrent)
        server = try ReplyServer(listening: listen, maxMessageSize: 64 << 10, contexts: 32) { request in
            let now = Date().unixMilliseconds
            switch gate.withLock({ $0.admit(request.body, nowMs: now) }) {
            case .reply(let bytes, _):
                request.reply(bytes)
            case .awaitOriginal:
                request.drop()
            case .execute(let env):
                queue.async {
                    guard env.kind == .fetchBlock, let m = try? FetchBlock(decoding: env.body) else {
                        request.reply(gate.withLock { $0.answerError(.badRequest, "a worker's data socket serves only FETCH_BLOCK", to: env) })
                        return
                    }
                    let offset = Int(clamping: m.offset)
                    let max = Int(min(max(m.maxBytes, 1), UInt32(Self.maxChunk)))
                    let failure: (ErrorCode, String)
                    switch store.chunk(ShuffleStore.Key(job: m.jobID, attempt: m.attemptID), bucket: Int(m.bucket), offset: offset, max: max) {
                    case .success(let chunk):
                        defer { chunk.close() }
                        gate.withLock { $0.answerUnkept(env) }
                        do {
                            // The bytes go from the store into the outgoing message, hashed as they are copied.
                            try request.reply(capacity: BlockFrame.capacity(count: chunk.count, sealer: sealer, request: env)) { out in
                                try BlockFrame.write(into: out, count: chunk.count, total: chunk.total, sealer: sealer, request: env) { at, piece in
                                    try chunk.copy(at, into: piece)
                                }
                            }
                            return
                        } catch let e as ShuffleStore.ReadError {
                            failure = Self.refusal(e, m)
                        } catch {
                            failure = (.internal, "cannot send the block: \(error)")
                        }
                    case .failure(let e):
                        failure = Self.refusal(e, m)
                    }
                    request.reply(gate.withLock { $0.answerError(failure.0, failure.1, to: env) })
                }
            }
        }
        port = server.boundPort ?? 0
    }

    /// What a reader hears when the store cannot give the block.
    static func refusal(_ e: ShuffleStore.ReadError, _ m: FetchBlock) -> (ErrorCode, String) {
        switch e {
        case .unknown: (.notFound, "no output of attempt \(m.attemptID) of \(m.jobID) here")
        case .noBucket: (.badRequest, "attempt \(m.attemptID) of \(m.jobID) wrote no bucket \(m.bucket)")
        case .unreadable(let path): (.notFound, "the output file \(path) cannot be read")
        }
    }

    func close() { server.close() }
}
