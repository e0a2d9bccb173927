import Foundation
import Testing
import Transport

/// nng's HTTP server and client as Transport wraps them, over real sockets.
/// Serialized: nng keeps one server per address in a process, port 0 included.
@Suite(.serialized) struct HTTPTests {
    @Test func aServerOnAFreePortAnswersTheClient() throws {
        let server = try HTTPServer(listening: "0") { req in
            HTTPServer.Response(status: req.method == "POST" ? 202 : 200, text: "\(req.method) \(req.path) \(req.query)")
        }
        defer { server.stop() }
        #expect(server.port > 0 && server.host == "127.0.0.1")
        #expect(try HTTPClient.post("http://127.0.0.1:\(server.port)/hook?x=1", body: Array("{}".utf8)) == 202)
    }

    @Test func badAddressesAndDeadPeersAreErrors() throws {
        for bad in ["", "http://", "host:notaport", "70000", "1.2.3.4:-1"] {
            #expect(throws: TransportError.self, "\(bad)") { _ = try HTTPServer(listening: bad) { _ in HTTPServer.Response(text: "") } }
        }
        // Nothing listens on a port just freed.
        let server = try HTTPServer(listening: "127.0.0.1:0") { _ in HTTPServer.Response(text: "") }
        let port = server.port
        server.stop()
        #expect(throws: TransportError.self) { try HTTPClient.post("http://127.0.0.1:\(port)/", body: [], timeoutMs: 2000) }
    }
}
