internal import CNNG
import Foundation

/// An nng REQ socket dialing one address. Thread-safe: every `request` opens
/// its own nng context, so many requests can be in flight at once (which is
/// how a worker overlaps a parked lease poll with result reports).
///
/// REQ semantics to keep in mind: a request whose reply is late is resent
/// (after `resendInterval`, and at once when the connection is re-established),
/// so every request must be safe to receive twice.
public final class RequestSocket: Sendable {
    private let socket: nng_socket
    public let address: String

    public init(dialing address: String, maxMessageSize: Int = 64 << 20, resendInterval: Duration = .seconds(10)) throws {
        var s = nng_socket()
        try check(nng_req0_open(&s), "open REQ socket")
        socket = s
        self.address = address
        nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, maxMessageSize)
        nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, nng_duration(resendInterval.milliseconds))
        nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 50)
        nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 1000)
        // Non-blocking dial: requests wait (within their timeout) for the peer to come up.
        let rv = nng_dial(s, address, nil, sluice_nng_flag_nonblock())
        if rv != 0 {
            nng_close(s)
            throw TransportError(nng: rv, "dial \(address)")
        }
    }

    /// Sends `body` and waits for the reply, at most `timeout` in all.
    public func request(_ body: [UInt8], timeout: Duration) throws -> [UInt8] {
        var ctx = nng_ctx()
        try check(nng_ctx_open(&ctx, socket), "open context on \(address)")
        defer { nng_ctx_close(ctx) }
        var aio: OpaquePointer?
        try check(nng_aio_alloc(&aio, nil, nil), "allocate aio")
        defer { nng_aio_free(aio) }
        nng_aio_set_timeout(aio, nng_duration(timeout.milliseconds))

        let msg = try makeMessage(body)
        nng_aio_set_msg(aio, msg)
        nng_ctx_send(ctx, aio)
        nng_aio_wait(aio)
        var rv = nng_aio_result(aio)
        if rv != 0 {
            nng_msg_free(msg)
            throw TransportError(nng: rv, "send to \(address)")
        }
        nng_ctx_recv(ctx, aio)
        nng_aio_wait(aio)
        rv = nng_aio_result(aio)
        if rv != 0 { throw TransportError(nng: rv, "request to \(address)") }
        let reply = nng_aio_get_msg(aio)!
        defer { nng_msg_free(reply) }
        return messageBytes(reply)
    }

    /// Closes the socket without waiting: nng 1.5.2's `nng_close` can hang
    /// forever after a send to a peer that dropped the connection mid-message
    /// (seen here with an oversized request), so it runs on a thread of its own.
    /// Such a hung close also holds a lock that later `nng_close` calls in the
    /// process wait for: a long-lived process should not close sockets whose
    /// sends failed (Sluice's daemons keep theirs for their lifetime).
    public func close() {
        let s = socket
        let t = Thread { nng_close(s) }
        t.name = "nng-close"
        t.start()
    }
}

func makeMessage(_ body: [UInt8]) throws -> OpaquePointer {
    var msg: OpaquePointer?
    try check(nng_msg_alloc(&msg, 0), "allocate message")
    let rv = body.withUnsafeBytes { nng_msg_append(msg, $0.baseAddress, $0.count) }
    if rv != 0 {
        nng_msg_free(msg)
        throw TransportError(nng: rv, "build message")
    }
    return msg!
}

func messageBytes(_ msg: OpaquePointer) -> [UInt8] {
    let count = nng_msg_len(msg)
    guard count > 0, let body = nng_msg_body(msg) else { return [] }
    return [UInt8](UnsafeRawBufferPointer(start: body, count: count))
}

extension Duration {
    /// Whole milliseconds, clamped to what nng_duration (Int32) holds.
    public var milliseconds: Int64 {
        let (s, atto) = components
        let ms = s * 1000 + atto / 1_000_000_000_000_000
        return min(max(ms, 0), Int64(Int32.max))
    }
}
