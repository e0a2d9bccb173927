internal import CNNG
import Dispatch

/// A small HTTP server on nng's own (`nng/supplemental/http`, part of
/// Debian's libnng): one handler for every path, which answers each request
/// off nng's threads (so a slow answer holds no nng worker). For health
/// checks, metrics and a status page: no web framework in the binary.
public final class HTTPServer: @unchecked Sendable {
    public struct Request: Sendable {
        public let method: String
        /// The path without its query string.
        public let path: String
        public let query: String
        /// The `Authorization` header, if sent.
        public let authorization: String?
    }

    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: [UInt8]
        public var headers: [(String, String)] = []

        public init(status: Int = 200, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }

        public init(status: Int = 200, contentType: String = "text/plain; charset=utf-8", text: String) {
            self.init(status: status, contentType: contentType, body: Array(text.utf8))
        }
    }

    public typealias Handler = @Sendable (Request) -> Response

    /// What a handler's callback reaches through nng's user-data pointer.
    private final class Box: Sendable {
        let handler: Handler
        init(_ handler: @escaping Handler) { self.handler = handler }
    }

    private var server: OpaquePointer?
    private let box: Unmanaged<Box>
    /// The port it listens on (0 given: the one the system picked).
    public let port: Int
    public let host: String

    /// Listens on `address`: `PORT` (on 127.0.0.1, so exposing it is a
    /// choice), `HOST:PORT`, or `http://HOST:PORT`; port 0 picks a free one.
    /// nng keeps one server per address in a process (port 0 counts as one
    /// address): a second live server on it fails with "Address in use".
    public init(listening address: String, handler: @escaping Handler) throws {
        let (host, requestedPort) = try Self.parse(address)
        var url: UnsafeMutablePointer<nng_url>?
        try check(nng_url_parse(&url, "http://\(host.contains(":") ? "[\(host)]" : host):\(requestedPort)"), "parse HTTP address \(address)")
        defer { nng_url_free(url) }
        var s: OpaquePointer?
        try check(nng_http_server_hold(&s, url), "HTTP server on \(address)")
        box = Unmanaged.passRetained(Box(handler))
        var h: OpaquePointer?
        do {
            try check(nng_http_handler_alloc(&h, "/", { aio in HTTPServer.serve(aio) }), "HTTP handler")
            try check(nng_http_handler_set_tree(h), "HTTP handler tree")
            try check(nng_http_handler_set_method(h, nil), "HTTP handler methods")
            try check(nng_http_handler_set_data(h, box.toOpaque(), nil), "HTTP handler data")
            try check(nng_http_server_add_handler(s, h), "HTTP handler")
            h = nil
            try check(nng_http_server_start(s), "listen for HTTP on \(address)")
        } catch {
            if let h { nng_http_handler_free(h) }
            nng_http_server_release(s)
            box.release()
            throw error
        }
        server = s
        var sa = nng_sockaddr()
        if nng_http_server_get_addr(s, &sa) == 0, sa.s_family == UInt16(NNG_AF_INET.rawValue) || sa.s_family == UInt16(NNG_AF_INET6.rawValue) {
            port = Int(UInt16(bigEndian: sa.s_family == UInt16(NNG_AF_INET.rawValue) ? sa.s_in.sa_port : sa.s_in6.sa_port))
        } else {
            port = requestedPort
        }
        self.host = host
    }

    /// Stops listening; requests in flight are dropped.
    public func stop() {
        guard let s = server else { return }
        server = nil
        nng_http_server_stop(s)
        nng_http_server_release(s)
        // Callbacks already handed to the queue still hold the box: keep it (one small object per server).
    }

    deinit { stop() }

    /// `PORT`, `HOST:PORT`, `[V6]:PORT` or `http://...` as (host, port).
    static func parse(_ address: String) throws -> (String, Int) {
        var a = Substring(address)
        if a.hasPrefix("http://") { a = a.dropFirst(7) }
        if a.hasSuffix("/") { a = a.dropLast() }
        var host = "127.0.0.1", portText = a
        if let colon = a.lastIndex(of: ":") {
            host = String(a[..<colon])
            portText = a[a.index(after: colon)...]
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            if host.isEmpty || host == "*" { host = "0.0.0.0" }
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw TransportError(code: .invalidAddress, message: "invalid HTTP address '\(address)': expected PORT, HOST:PORT or http://HOST:PORT")
        }
        return (host, port)
    }

    /// nng's callback for every request: read it, answer on another thread.
    private static func serve(_ aio: OpaquePointer?) {
        guard let aio else { return }
        let req = OpaquePointer(nng_aio_get_input(aio, 0))
        let handler = OpaquePointer(nng_aio_get_input(aio, 1))
        guard let req, let handler, let data = nng_http_handler_get_data(handler) else {
            nng_aio_finish(aio, Int32(NNG_EINVAL.rawValue))
            return
        }
        let box = Unmanaged<Box>.fromOpaque(data).takeUnretainedValue()
        let uri = String(cString: nng_http_req_get_uri(req))
        let (path, query) = uri.firstIndex(of: "?").map { (String(uri[..<$0]), String(uri[uri.index(after: $0)...])) } ?? (uri, "")
        let request = Request(method: String(cString: nng_http_req_get_method(req)), path: path, query: query,
                              authorization: nng_http_req_get_header(req, "Authorization").map { String(cString: $0) })
        let pending = PendingAIO(aio)
        DispatchQueue.global().async {
            pending.finish(box.handler(request))
        }
    }
}

/// An aio nng handed to a handler, finished on another thread.
private struct PendingAIO: @unchecked Sendable {
    let aio: OpaquePointer

    init(_ aio: OpaquePointer) { self.aio = aio }

    func finish(_ r: HTTPServer.Response) {
        var res: OpaquePointer?
        guard nng_http_res_alloc(&res) == 0, let res else {
            nng_aio_finish(aio, Int32(NNG_ENOMEM.rawValue))
            return
        }
        nng_http_res_set_status(res, UInt16(clamping: r.status))
        nng_http_res_set_header(res, "Content-Type", r.contentType)
        nng_http_res_set_header(res, "Cache-Control", "no-store")
        for (name, value) in r.headers { nng_http_res_set_header(res, name, value) }
        let copied = r.body.withUnsafeBytes { nng_http_res_copy_data(res, $0.baseAddress, $0.count) }
        guard copied == 0 else {
            nng_http_res_free(res)
            nng_aio_finish(aio, copied)
            return
        }
        nng_aio_set_output(aio, 0, UnsafeMutableRawPointer(res))
        nng_aio_finish(aio, 0)
    }
}
