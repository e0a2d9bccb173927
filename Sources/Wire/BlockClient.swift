import Synchronization

/// Reads shuffle blocks from workers' data sockets (FETCH_BLOCK), a chunk at
/// a time, keeping one channel per address. Workers reading stage inputs and
/// the coordinator reading a query's result both go through it, so a block's
/// size is checked in one place.
public final class BlockClient: Sendable {
    private let sealer: Sealer
    private let timeout: Duration
    private let channels = Mutex<[String: SecureChannel]>([:])
    /// Bytes asked for per request.
    public static let chunk = 4 << 20
    /// The largest bucket a reader believes in.
    public static let maxBucket = 64 << 30

    public init(sealer: Sealer, timeout: Duration) {
        self.sealer = sealer
        self.timeout = timeout
    }

    /// Up to `chunk` bytes of bucket `bucket` of attempt `attempt`'s output from
    /// `offset`, and the bucket's size. A reply that contradicts itself (a size
    /// below what it sent, an empty chunk before the end) is an error.
    public func read(address: String, job: String, attempt: UInt64, bucket: Int, offset: Int, chunk: Int = BlockClient.chunk) throws -> (data: ArraySlice<UInt8>, total: Int) {
        let channel = try channels.withLock { c in
            if let ch = c[address] { return ch }
            // A chunk and its frame.
            let ch = try SecureChannel(address: address, sealer: sealer, maxMessageSize: 2 * chunk)
            c[address] = ch
            return ch
        }
        let request = sealer.request(FetchBlock(jobID: job, attemptID: attempt, bucket: UInt32(clamping: bucket), offset: UInt64(max(0, offset)),
                                                maxBytes: UInt32(clamping: chunk)))
        let reply = try channel.socket.request(request.encoded(), timeout: timeout)
        let (data, size) = try BlockFrame.open(reply, for: request, sealer: sealer, from: address)
        guard let total = Int(exactly: size), total >= offset + data.count, total <= Self.maxBucket, data.count <= chunk,
              !(data.isEmpty && offset < total) else {
            throw WireError(.malformed, "\(address) sent a block that contradicts itself (\(data.count) bytes at \(offset) of \(size))")
        }
        return (data, total)
    }
}
