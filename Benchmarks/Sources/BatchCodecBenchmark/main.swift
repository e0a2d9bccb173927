// Batch encoding throughput: TPC-H lineitem read into batches, then every batch
// encoded (LZ4) and decoded, timed separately. Prints one JSON line.
//   BatchCodecBenchmark SCHEMA_SQL DATA_DIR [ROUNDS]
import Columnar
import Execution
import Foundation
import SQL

let args = CommandLine.arguments
guard args.count >= 3 else {
    FileHandle.standardError.write(Data("usage: BatchCodecBenchmark SCHEMA_SQL DATA_DIR [ROUNDS]\n".utf8))
    exit(2)
}
let rounds = args.count > 3 ? Int(args[3]) ?? 3 : 3
let schema = try String(contentsOfFile: args[1], encoding: .utf8).replacingOccurrences(of: "${DATA}", with: args[2])
let session = Session()
guard case .rows(let resultSchema, let batches)? = try session.execute(schema + "\nSELECT * FROM lineitem;").last else { exit(1) }
let rows = batches.reduce(0) { $0 + $1.rowCount }

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

let raw = batches.reduce(0) { $0 + BatchCodec.encode($1, compress: false).count }
var encoded: [[UInt8]] = []
var encode = Double.infinity, decode = Double.infinity
for _ in 0..<rounds {
    var out: [[UInt8]] = []
    out.reserveCapacity(batches.count)
    encode = min(encode, seconds { for b in batches { out.append(BatchCodec.encode(b)) } })
    encoded = out
    var decodedRows = 0
    decode = min(decode, try seconds { for e in encoded { decodedRows += try BatchCodec.decodeAll(e)[0].rowCount } })
    precondition(decodedRows == rows)
}
let size = encoded.reduce(0) { $0 + $1.count }
print("{\"engine\":\"sluice\",\"rows\":\(rows),\"batches\":\(batches.count),\"columns\":\(resultSchema.count),\"raw_bytes\":\(raw),\"encoded_bytes\":\(size),\"encode_s\":\(encode),\"decode_s\":\(decode)}")
