internal import CNNG
import Foundation
import Synchronization

/// An nng REP socket that serves many requests at once.
///
/// It keeps `contexts` nng contexts, each receiving through an aio callback,
/// and hands every request to `handler` on nng's callback thread. The handler
/// must return quickly: it queues the request and answers later (possibly much
/// later: a parked long poll) through `IncomingRequest.reply`. While a request
/// is unanswered its context is busy, so the owner must not park more requests
/// than there are contexts.
///
/// Every socket facing the network sets a receive size limit: nng drops the
/// connection of a peer that announces a larger message.
public final class ReplyServer: Sendable {
    private let socket: nng_socket
    private let slots: [Slot]
    private let listenerState: Mutex<(listener: nng_listener, address: String)>
    private let closed: Atomic<Bool>

    /// The address as the user gave it (port 0 is resolved in `boundAddress`).
    public let requestedAddress: String

    public init(
        listening address: String,
        maxMessageSize: Int = 16 << 20,
        contexts: Int = 256,
        handler: @escaping @Sendable (IncomingRequest) -> Void
    ) throws {
        var s = nng_socket()
        try check(nng_rep0_open(&s), "open REP socket")
        nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, maxMessageSize)
        socket = s
        requestedAddress = address
        closed = Atomic(false)
        do {
            let l = try Self.listen(s, address)
            let bound = Self.boundAddress(l, requested: address)
            listenerState = Mutex((l, bound))
            var made: [Slot] = []
            for _ in 0..<contexts { made.append(try Slot(socket: s, handler: handler)) }
            slots = made
        } catch {
            nng_close(s)
            throw error
        }
        for slot in slots { slot.receive() }
    }

    private static func listen(_ s: nng_socket, _ address: String) throws -> nng_listener {
        var l = nng_listener()
        try check(nng_listener_create(&l, s, address), "listen on \(address)")
        let rv = nng_listener_start(l, 0)
        if rv != 0 {
            nng_listener_close(l)
            throw TransportError(nng: rv, "listen on \(address)")
        }
        return l
    }

    private static func boundAddress(_ l: nng_listener, requested: String) -> String {
        guard requested.hasPrefix("tcp://"), let colon = requested.lastIndex(of: ":") else { return requested }
        var port: Int32 = 0
        guard nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0 else { return requested }
        return String(requested[..<colon]) + ":\(port)"
    }

    /// The address actually listened on, with a real port when port 0 was asked for.
    public var boundAddress: String { listenerState.withLock { $0.address } }

    /// The TCP port listened on, or nil for other transports.
    public var boundPort: Int? {
        let a = boundAddress
        guard a.hasPrefix("tcp://"), let colon = a.lastIndex(of: ":") else { return nil }
        return Int(a[a.index(after: colon)...])
    }

    /// Closes the listener and opens a new one on the same (bound) address.
    /// The coordinator's watchdog calls this when its listener stops accepting
    /// (nng 1.5.2 can lose a listener to a peer that drops mid-handshake).
    public func relisten() throws {
        try listenerState.withLock { state in
            nng_listener_close(state.listener)
            state.listener = try Self.listen(socket, state.address)
        }
    }

    /// Test hook: closes the listener without replacing it, as the nng bug would.
    public func breakListener() {
        listenerState.withLock { state in _ = nng_listener_close(state.listener) }
    }

    /// Stops serving: pending receives are cancelled and their aios freed
    /// here; the socket itself is closed on a thread of its own, because nng
    /// 1.5.2's `nng_close` can block for good on a lock that another hung
    /// close holds (see `RequestSocket.close`), and a shutdown must not.
    public func close() {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        for slot in slots { slot.closing.store(true, ordering: .releasing) }
        for slot in slots { slot.stop() }
        let s = socket
        let t = Thread { nng_close(s) }
        t.name = "nng-close"
        t.start()
    }

    deinit { close() }
}

/// One request received by a `ReplyServer`, to be answered exactly once
/// (`reply`) or dropped (`drop`, which frees the context without answering;
/// the requester's REQ socket will resend).
public final class IncomingRequest: Sendable {
    public let body: [UInt8]
    private let slot: Slot
    private let answered = Atomic<Bool>(false)

    fileprivate init(body: [UInt8], slot: Slot) {
        self.body = body
        self.slot = slot
    }

    public func reply(_ bytes: [UInt8]) {
        guard answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            preconditionFailure("Internal inconsistency: a request was answered twice (this is a bug, please report it)")
        }
        slot.send(bytes)
    }

    /// Answers with a message built in place: `fill` writes into `capacity`
    /// bytes of the outgoing nng message and returns how many it used. When
    /// `fill` throws, nothing is sent and the request is still to be answered.
    public func reply(capacity: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Int) throws {
        var msg: OpaquePointer?
        try check(nng_msg_alloc(&msg, capacity), "allocate a message of \(capacity) bytes")
        let used: Int
        do {
            used = try fill(UnsafeMutableRawBufferPointer(start: nng_msg_body(msg), count: capacity))
        } catch {
            nng_msg_free(msg)
            throw error
        }
        precondition(used >= 0 && used <= capacity)
        _ = nng_msg_chop(msg, capacity - used)
        guard answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            nng_msg_free(msg)
            preconditionFailure("Internal inconsistency: a request was answered twice (this is a bug, please report it)")
        }
        slot.send(message: msg!)
    }

    public func drop() {
        guard answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        slot.receive()
    }
}

/// One REP context and its aio. nng runs at most one callback per aio at a
/// time, and an operation is started only when none is in flight (receive
/// after a send completes, send after the handler took the request), so the
/// state is never touched by two threads at once: hence @unchecked Sendable.
private final class Slot: @unchecked Sendable {
    enum State { case idle, receiving, handling, sending }
    var ctx = nng_ctx()
    var aio: OpaquePointer?
    var state = State.idle
    let handler: @Sendable (IncomingRequest) -> Void
    let closing = Atomic<Bool>(false)

    init(socket: nng_socket, handler: @escaping @Sendable (IncomingRequest) -> Void) throws {
        self.handler = handler
        try check(nng_ctx_open(&ctx, socket), "open REP context")
        let callback: @convention(c) (UnsafeMutableRawPointer?) -> Void = { arg in
            Unmanaged<Slot>.fromOpaque(arg!).takeUnretainedValue().completed()
        }
        try check(nng_aio_alloc(&aio, callback, Unmanaged.passUnretained(self).toOpaque()), "allocate aio")
    }

    func receive() {
        if closing.load(ordering: .acquiring) { return }
        state = .receiving
        nng_ctx_recv(ctx, aio)
    }

    func send(_ bytes: [UInt8]) {
        guard let msg = try? makeMessage(bytes) else {
            if !closing.load(ordering: .acquiring) { receive() }
            return
        }
        send(message: msg)
    }

    /// Sends `msg`, which nng owns from here on.
    func send(message msg: OpaquePointer) {
        if closing.load(ordering: .acquiring) { nng_msg_free(msg); return }
        state = .sending
        nng_aio_set_msg(aio, msg)
        nng_ctx_send(ctx, aio)
    }

    func completed() {
        let rv = nng_aio_result(aio)
        switch state {
        case .receiving:
            if rv != 0 {
                if UInt32(rv) == NNG_ECLOSED.rawValue || closing.load(ordering: .acquiring) { state = .idle; return }
                receive()
                return
            }
            let msg = nng_aio_get_msg(aio)!
            let body = messageBytes(msg)
            nng_msg_free(msg)
            state = .handling
            handler(IncomingRequest(body: body, slot: self))
        case .sending:
            if rv != 0, let msg = nng_aio_get_msg(aio) { nng_msg_free(msg) }
            if closing.load(ordering: .acquiring) { state = .idle; return }
            receive()
        case .idle, .handling:
            break
        }
    }

    func stop() {
        nng_aio_stop(aio)
        nng_aio_free(aio)
        aio = nil
    }
}
