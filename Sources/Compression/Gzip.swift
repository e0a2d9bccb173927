internal import CZlib

/// CRC-32 (zlib's polynomial), the checksum of Sluice batch blocks.
public func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    UInt32(CZlib.crc32(0, bytes.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt(bytes.count)))
}

/// Streaming gzip decompression (also accepts concatenated gzip members, as
/// `cat a.gz b.gz` makes). One instance per stream; not shared across threads.
public final class GzipInflater {
    private var stream = z_stream()
    private var finished = false

    public init() throws(CompressionError) {
        guard sluice_inflate_init_gzip(&stream) == Z_OK else { throw .corrupt("zlib inflateInit failed") }
    }
    deinit { inflateEnd(&stream) }

    /// Feeds compressed bytes, appending what they decompress to to `output`.
    public func feed(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(CompressionError) {
        guard input.count > 0 else { return }
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while stream.avail_in > 0 {
            if finished {
                // Another gzip member follows the one that just ended.
                guard inflateReset(&stream) == Z_OK else { throw .corrupt("gzip: cannot reset stream") }
                finished = false
            }
            let status: Int32 = chunk.withUnsafeMutableBytes { out in
                stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(out.count)
                return inflate(&stream, Z_NO_FLUSH)
            }
            let produced = chunk.count - Int(stream.avail_out)
            output.append(contentsOf: chunk[0..<produced])
            switch status {
            case Z_OK: continue
            case Z_STREAM_END: finished = true
            case Z_BUF_ERROR: if produced == 0 { return }
            default:
                let msg = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                throw .corrupt("gzip data is corrupt (\(msg))")
            }
        }
    }

    /// Call at end of input: a stream cut short is an error, not silently shorter data.
    public func finish() throws(CompressionError) {
        guard finished else { throw .truncated("gzip stream ends early (file truncated?)") }
    }
}

/// Whole-buffer gzip compression, used by writers and tests.
public func gzipCompress(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
    var stream = z_stream()
    precondition(sluice_deflate_init_gzip(&stream, level) == Z_OK)
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
    var copy = input
    let written: Int = copy.withUnsafeMutableBytes { inp in
        output.withUnsafeMutableBytes { out in
            stream.next_in = inp.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_in = uInt(inp.count)
            stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(out.count)
            let s = deflate(&stream, Z_FINISH)
            precondition(s == Z_STREAM_END)
            return out.count - Int(stream.avail_out)
        }
    }
    output.removeLast(output.count - written)
    return output
}
