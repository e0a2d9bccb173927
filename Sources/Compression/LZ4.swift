internal import CLZ4

/// LZ4 block compression, the codec of shuffle blocks and Sluice batch files.
/// Stateless: safe to call from any number of threads at once.
public enum LZ4 {
    /// Compresses `input` into `output` (replacing its contents, reusing its capacity).
    public static func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        if output.count < bound { output = [UInt8](repeating: 0, count: bound) }
        let written = output.withUnsafeMutableBytes { out in
            LZ4_compress_default(
                input.baseAddress?.assumingMemoryBound(to: CChar.self),
                out.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(input.count), Int32(bound))
        }
        output.removeLast(output.count - Int(written))
    }

    /// Decompresses a block whose decompressed size is known exactly.
    public static func decompress(_ input: UnsafeRawBufferPointer, originalSize: Int) throws(CompressionError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: originalSize)
        let n = output.withUnsafeMutableBytes { out in
            LZ4_decompress_safe(
                input.baseAddress?.assumingMemoryBound(to: CChar.self),
                out.baseAddress?.assumingMemoryBound(to: CChar.self),
                Int32(input.count), Int32(originalSize))
        }
        guard n == originalSize else { throw .corrupt("LZ4 block does not decompress to \(originalSize) bytes") }
        return output
    }
}

public enum CompressionError: Error, Equatable, CustomStringConvertible {
    case corrupt(String)
    case truncated(String)
    public var description: String {
        switch self {
        case .corrupt(let m): return m
        case .truncated(let m): return m
        }
    }
}
