import Foundation

/// The server side of the seal: every request passes here before anything
/// acts on it. Checks, in order: envelope decodes, protocol version, cluster,
/// MAC, freshness and replay. Not thread-safe: owned by one server loop.
public struct RequestGate {
    public enum Outcome {
        /// A verified request seen for the first time: execute it, then `answer`.
        case execute(Envelope)
        /// Answer with these bytes and do nothing else (a refusal, or a repeat's original reply).
        case reply([UInt8], refusal: String?)
        /// A repeat of a request still being served: answer it with the original's reply.
        case awaitOriginal(nonce: [UInt8])
    }

    public let sealer: Sealer
    public private(set) var replay: ReplayGuard

    public init(sealer: Sealer, windowMs: Int64 = 30_000) {
        self.sealer = sealer
        replay = ReplayGuard(windowMs: windowMs)
    }

    public mutating func admit(_ bytes: [UInt8], nowMs: Int64) -> Outcome {
        guard let env = try? Envelope(decoding: bytes) else {
            return refuse(.badRequest, "not a Sluice envelope (malformed protobuf)", to: nil)
        }
        guard ProtocolVersion.supports(env.version) else {
            var e = ErrorReply(code: .unsupportedVersion,
                               message: "unsupported protocol version \(env.version); this peer speaks \(ProtocolVersion.minimum)...\(ProtocolVersion.current)")
            e.minVersion = ProtocolVersion.minimum
            e.maxVersion = ProtocolVersion.current
            return .reply(sealer.reply(e, to: env).encoded(), refusal: e.message)
        }
        guard env.clusterID == sealer.clusterID else {
            return refuse(.wrongCluster, "request for cluster '\(env.clusterID)' reached cluster '\(sealer.clusterID)'", to: env)
        }
        guard sealer.verify(env) else {
            return refuse(.unauthenticated, "authentication failed for \(env.sender.isEmpty ? "an anonymous sender" : env.sender): it does not hold the cluster secret", to: env)
        }
        switch replay.check(nonce: env.nonce, sentAtMs: env.sentAtMs, nowMs: nowMs) {
        case .fresh:
            return .execute(env)
        case .stale:
            return refuse(.staleRequest, "request sent at \(env.sentAtMs) is outside the \(replay.windowMs / 1000) s freshness window of \(nowMs) (clocks out of sync, or a replay)", to: env)
        case .answered(let original):
            return .reply(original, refusal: nil)
        case .inProgress:
            return .awaitOriginal(nonce: env.nonce)
        case .replayed:
            return refuse(.refused, "replayed request refused", to: env)
        }
    }

    /// Seals the reply to an executed request and remembers it for repeats.
    public mutating func answer<M: KindedMessage>(_ message: M, to request: Envelope) -> [UInt8] {
        let bytes = sealer.reply(message, to: request).encoded()
        replay.recordReply(nonce: request.nonce, reply: bytes)
        return bytes
    }

    /// An idempotent read (a shuffle block) is answered without keeping the
    /// answer: a repeat of the request is refused and the reader asks again
    /// with a new one, so megabytes of blocks never crowd the replies kept for repeats.
    public mutating func answerUnkept(_ request: Envelope) {
        replay.recordReply(nonce: request.nonce, reply: sealer.reply(ErrorReply(code: .refused, message: "a repeated block request; ask again"), to: request).encoded())
    }

    public mutating func answerError(_ code: ErrorCode, _ message: String, to request: Envelope) -> [UInt8] {
        answer(ErrorReply(code: code, message: message), to: request)
    }

    private func refuse(_ code: ErrorCode, _ message: String, to env: Envelope?) -> Outcome {
        let reply = ErrorReply(code: code, message: message)
        let bytes: [UInt8]
        if let env {
            bytes = sealer.reply(reply, to: env).encoded()
        } else {
            bytes = sealer.seal(Envelope(version: ProtocolVersion.current, clusterID: sealer.clusterID, sender: sealer.sender,
                                         kind: .error, body: reply.encoded())).encoded()
        }
        return .reply(bytes, refusal: message)
    }
}

extension Date {
    public var unixMilliseconds: Int64 { Int64(timeIntervalSince1970 * 1000) }
    public var unixMicroseconds: Int64 { Int64(timeIntervalSince1970 * 1_000_000) }
}
