import Foundation
import Transport

/// The client side of the seal: sends sealed requests over a REQ socket and
/// accepts only replies sealed with the cluster secret and bound to the
/// request's nonce. Workers, clients and tests all talk through this.
public final class SecureChannel: Sendable {
    public let socket: RequestSocket
    public let sealer: Sealer

    public init(address: String, sealer: Sealer, maxMessageSize: Int = 64 << 20) throws {
        socket = try RequestSocket(dialing: address, maxMessageSize: maxMessageSize)
        self.sealer = sealer
    }

    public var address: String { socket.address }

    public func call<R: RequestMessage>(_ request: R, timeout: Duration = .seconds(30)) throws -> R.Reply {
        let env = sealer.request(request)
        let bytes = try socket.request(env.encoded(), timeout: timeout)
        return try Self.open(bytes, for: env, as: R.Reply.self, from: address, sealer: sealer)
    }

    /// Checks and decodes a reply to `request`.
    public static func open<Reply: KindedMessage>(_ bytes: [UInt8], for request: Envelope, as: Reply.Type, from address: String, sealer: Sealer) throws -> Reply {
        guard let reply = try? Envelope(decoding: bytes) else {
            throw WireError(.malformed, "\(address) answered with something that is not a Sluice envelope")
        }
        guard sealer.verify(reply) else {
            if reply.kind == .error, let e = try? ErrorReply(decoding: reply.body) {
                // Unverifiable, but a peer refusing us is worth showing as it is.
                throw WireError(.remote(e.code), "refused by \(address): \(e.message)")
            }
            throw WireError(.unauthenticated, "the reply from \(address) failed authentication: the peer does not hold the cluster secret (a forged coordinator?)")
        }
        guard reply.nonce == request.nonce else {
            throw WireError(.unexpectedReply, "the reply from \(address) answers another request (replayed reply refused)")
        }
        if reply.kind == .error {
            let e = try ErrorReply(decoding: reply.body)
            throw WireError(.remote(e.code), e.message)
        }
        guard reply.kind == Reply.kind else {
            throw WireError(.unexpectedReply, "\(address) answered \(reply.kind) where \(Reply.kind) was expected")
        }
        return try Reply(decoding: reply.body)
    }
}
