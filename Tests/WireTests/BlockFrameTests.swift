import Foundation
import Testing
import Transport
@testable import Wire

/// Block frames: a chunk outside its sealed envelope, tied to it by a MAC
/// computed as the bytes are copied in.
@Suite struct BlockFrameTests {
    let secret = ClusterSecret(Array("a-cluster-secret-for-tests".utf8))
    var reader: Sealer { Sealer(clusterID: "test", sender: "worker:r", secret: secret) }
    var server: Sealer { Sealer(clusterID: "test", sender: "worker:s", secret: secret) }

    /// A frame answering `request` with `data`, built as the data port builds it.
    func frame(_ data: [UInt8], total: Int, for request: Envelope, sealer: Sealer? = nil) throws -> [UInt8] {
        let s = sealer ?? server
        var out = [UInt8](repeating: 0, count: BlockFrame.capacity(count: data.count, sealer: s, request: request))
        let used = try out.withUnsafeMutableBytes { buf in
            try BlockFrame.write(into: buf, count: data.count, total: total, sealer: s, request: request) { at, piece in
                data.withUnsafeBytes { piece.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[at..<(at + piece.count)])) }
            }
        }
        return Array(out[..<used])
    }

    @Test func framesCarryTheirBytesAndTheBucketSize() throws {
        for size in [0, 1, 1000, BlockFrame.piece, 3 * BlockFrame.piece + 17] {
            let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let request = reader.request(FetchBlock(jobID: "j", attemptID: 1, bucket: 0, offset: 0, maxBytes: 4 << 20))
            let bytes = try frame(data, total: size + 5, for: request)
            let (got, total) = try BlockFrame.open(bytes, for: request, sealer: reader, from: "peer")
            #expect(Array(got) == data)
            #expect(total == UInt64(size + 5))
        }
    }

    @Test func tamperedTruncatedOrMisdirectedFramesAreRefused() throws {
        let data = [UInt8](repeating: 9, count: 4000)
        let request = reader.request(FetchBlock(jobID: "j", attemptID: 1, bucket: 0, offset: 0, maxBytes: 4 << 20))
        let good = try frame(data, total: 4000, for: request)
        func refusal(_ bytes: [UInt8], for r: Envelope? = nil) -> WireError? {
            do { _ = try BlockFrame.open(bytes, for: r ?? request, sealer: reader, from: "peer"); return nil } catch { return error as? WireError }
        }
        var flipped = good
        flipped[100] ^= 1   // a data byte
        #expect(refusal(flipped)?.code == .unauthenticated)
        var longer = good
        longer[7] &+= 1     // claims one more data byte: the envelope no longer parses
        #expect(refusal(longer) != nil)
        var huge = good
        huge[4] = 0xFF      // claims more bytes than the message holds
        #expect(refusal(huge)?.code == .malformed)
        #expect(refusal(Array(good.prefix(50))) != nil)
        #expect(refusal(Array(good.prefix(5))) != nil)
        // The same frame replayed to another request.
        let other = reader.request(FetchBlock(jobID: "j", attemptID: 1, bucket: 0, offset: 0, maxBytes: 4 << 20))
        #expect(refusal(good, for: other)?.code == .unexpectedReply)
        // Made without the secret.
        let forger = Sealer(clusterID: "test", sender: "worker:s", secret: ClusterSecret(Array("not-the-secret-at-all".utf8)))
        #expect(refusal(try frame(data, total: 4000, for: request, sealer: forger))?.code == .unauthenticated)
        // An error reply is an ordinary envelope, and says what it says.
        let error = server.reply(ErrorReply(code: .notFound, message: "no such output"), to: request).encoded()
        #expect(refusal(error)?.code == .remote(.notFound))
    }

    /// The data port's way of answering: the frame built in the outgoing nng message.
    @Test func aFrameBuiltInPlaceCrossesARealSocket() throws {
        let data = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 >> 3) }
        let s = server
        let srv = try ReplyServer(listening: "tcp://127.0.0.1:0", contexts: 2) { req in
            guard let env = try? Envelope(decoding: req.body) else { return req.drop() }
            try? req.reply(capacity: BlockFrame.capacity(count: data.count, sealer: s, request: env)) { out in
                try BlockFrame.write(into: out, count: data.count, total: data.count, sealer: s, request: env) { at, piece in
                    data.withUnsafeBytes { piece.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[at..<(at + piece.count)])) }
                }
            }
        }
        defer { srv.close() }
        let client = BlockClient(sealer: reader, timeout: .seconds(5))
        let (got, total) = try client.read(address: srv.boundAddress, job: "j", attempt: 1, bucket: 0, offset: 0)
        #expect(Array(got) == data && total == data.count)
    }
}
