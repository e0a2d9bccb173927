// Shuffle block serving over real TCP sockets on loopback, in one run: what
// nng itself moves (REQ/REP, the reply copied once into the message), the old
// reply (the chunk inside a sealed envelope, as protobuf), and the block frame
// the data port sends (the chunk copied from the store into the message and
// hashed on the way). Prints one JSON line per path.
//   BlockServeBenchmark [MIB_PER_PATH=512] [CHUNK_MIB=4]
import Foundation
import Transport
import Wire

let args = CommandLine.arguments
let total = (args.count > 1 ? Int(args[1]) ?? 512 : 512) << 20
let chunk = (args.count > 2 ? Int(args[2]) ?? 4 : 4) << 20
let bucket = (0..<chunk).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
let secret = ClusterSecret(Array("benchmark-secret-benchmark-secret".utf8))
let server = Sealer(clusterID: "bench", sender: "worker:s", secret: secret)
let reader = Sealer(clusterID: "bench", sender: "worker:r", secret: secret)

enum Path: String, CaseIterable { case nng = "nng_raw", envelope = "sealed_envelope", frame = "block_frame" }

func serve(_ path: Path) throws -> ReplyServer {
    let queue = DispatchQueue(label: "serve", attributes: .concurrent)
    return try ReplyServer(listening: "tcp://127.0.0.1:0", maxMessageSize: 64 << 10, contexts: 8) { req in
        queue.async {
            switch path {
            case .nng:
                req.reply(bucket)
            case .envelope:
                guard let env = try? Envelope(decoding: req.body) else { return req.drop() }
                req.reply(server.reply(Block(data: bucket, total: UInt64(chunk)), to: env).encoded())
            case .frame:
                guard let env = try? Envelope(decoding: req.body) else { return req.drop() }
                try? req.reply(capacity: BlockFrame.capacity(count: chunk, sealer: server, request: env)) { out in
                    try BlockFrame.write(into: out, count: chunk, total: chunk, sealer: server, request: env) { at, piece in
                        bucket.withUnsafeBytes { piece.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[at..<(at + piece.count)])) }
                    }
                }
            }
        }
    }
}

for path in Path.allCases {
    let srv = try serve(path)
    let rounds = total / chunk
    var moved = 0
    let start = DispatchTime.now().uptimeNanoseconds
    if path == .nng {
        let socket = try RequestSocket(dialing: srv.boundAddress, maxMessageSize: 2 * chunk)
        for _ in 0..<rounds { moved += try socket.request([1], timeout: .seconds(10)).count }
    } else {
        let client = BlockClient(sealer: reader, timeout: .seconds(10))
        for _ in 0..<rounds { moved += try client.read(address: srv.boundAddress, job: "j", attempt: 1, bucket: 0, offset: 0, chunk: chunk).data.count }
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    srv.close()
    print("{\"path\":\"\(path.rawValue)\",\"chunk_bytes\":\(chunk),\"bytes\":\(moved),\"seconds\":\(seconds),\"gb_per_s\":\(Double(moved) / seconds / 1e9)}")
}
