import Foundation
import Testing
import Transport

@Suite(.serialized) struct TransportTests {
    @Test func requestAndReplyOverRealSockets() throws {
        let server = try ReplyServer(listening: "tcp://127.0.0.1:0", contexts: 4) { req in req.reply(req.body.reversed()) }
        defer { server.close() }
        let client = try RequestSocket(dialing: server.boundAddress)
        defer { client.close() }
        for i in 0..<50 {
            #expect(try client.request([1, 2, UInt8(i)], timeout: .seconds(5)) == [UInt8(i), 2, 1])
        }
    }

    @Test func oversizedMessagesAreDroppedAndTheServerKeepsServing() throws {
        let server = try ReplyServer(listening: "tcp://127.0.0.1:0", maxMessageSize: 1024, contexts: 4) { req in req.reply([UInt8(req.body.count & 0xFF)]) }
        defer { server.close() }
        let big = try RequestSocket(dialing: server.boundAddress)
        #expect(throws: TransportError.self) { try big.request(Array(repeating: 1, count: 4096), timeout: .milliseconds(500)) }
        // Not closed on purpose: nng 1.5.2's nng_close hangs on a socket whose
        // send the peer cut off, and holds a lock that every later nng_close in
        // this process then waits for.
        _ = big
        let small = try RequestSocket(dialing: server.boundAddress)
        defer { small.close() }
        #expect(try small.request([1, 2, 3], timeout: .seconds(5)) == [3])
    }

    @Test func probeSeesABrokenListenerAndRelistenRepairsIt() throws {
        let server = try ReplyServer(listening: "tcp://127.0.0.1:0", contexts: 2) { req in req.reply([]) }
        defer { server.close() }
        let port = try #require(server.boundPort)
        #expect(ListenerProbe.answersHandshake(host: "127.0.0.1", port: port))
        server.breakListener()
        #expect(!ListenerProbe.answersHandshake(host: "127.0.0.1", port: port, timeout: .milliseconds(300)))
        try server.relisten()
        #expect(ListenerProbe.answersHandshake(host: "127.0.0.1", port: port))
    }

    @Test func durationMilliseconds() {
        #expect(Duration.seconds(2).milliseconds == 2000)
        #expect(Duration.milliseconds(1500).milliseconds == 1500)
        #expect(Duration.seconds(10_000_000).milliseconds == Int64(Int32.max))
    }
}
