internal import CNNG

/// One HTTP request with nng's own client (`nng/supplemental/http`): what
/// alert webhooks are sent with, so the deployed binary needs neither libcurl
/// nor Foundation's networking. Blocking; `http://` only (no TLS configured).
public enum HTTPClient {
    /// POSTs `body` to `url`; the response's status code.
    public static func post(_ url: String, body: [UInt8], contentType: String = "application/json", timeoutMs: Int32 = 5000) throws -> Int {
        var u: UnsafeMutablePointer<nng_url>?
        try check(nng_url_parse(&u, url), "parse URL \(url)")
        defer { nng_url_free(u) }
        var client: OpaquePointer?
        try check(nng_http_client_alloc(&client, u), "HTTP client for \(url)")
        defer { nng_http_client_free(client) }
        var req: OpaquePointer?, res: OpaquePointer?
        try check(nng_http_req_alloc(&req, u), "HTTP request")
        defer { nng_http_req_free(req) }
        try check(nng_http_res_alloc(&res), "HTTP response")
        defer { nng_http_res_free(res) }
        try check(nng_http_req_set_method(req, "POST"), "HTTP method")
        try check(nng_http_req_set_header(req, "Content-Type", contentType), "HTTP header")
        try check(body.withUnsafeBytes { nng_http_req_copy_data(req, $0.baseAddress, $0.count) }, "HTTP body")
        var aio: OpaquePointer?
        try check(nng_aio_alloc(&aio, nil, nil), "HTTP aio")
        defer { nng_aio_free(aio) }
        nng_aio_set_timeout(aio, timeoutMs)
        nng_http_client_transact(client, req, res, aio)
        nng_aio_wait(aio)
        try check(nng_aio_result(aio), "POST \(url)")
        return Int(nng_http_res_get_status(res))
    }
}
