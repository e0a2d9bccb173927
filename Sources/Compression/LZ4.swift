internal import CLZ4

/// LZ4 block compression, the codec of shuffle blocks and Sluice batch files.
/// Stateless: safe to call from any number of threads at once.
public enum LZ4 {
    /// The largest block LZ4 compresses or decompresses (LZ4_MAX_INPUT_SIZE).
    public static let maxBlockSize = 0x7E00_0000
    /// LZ4 never expands more than 255 to 1 (a match token per byte of output at best).
    static let maxRatio = 255

    /// Compresses `input` into `output` (replacing its contents, reusing its
    /// capacity); false, leaving `output` alone, when `input` is larger than a block may be.
    @discardableResult
    public static func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) -> Bool {
        guard input.count <= maxBlockSize else { return false }
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        if output.count < bound { output = [UInt8](repeating: 0, count: bound) }
        let written = output.withUnsafeMutableBytes { out in
            LZ4_compress_default(
                input.baseAddress?.assumingMemoryBound(to: CChar.self),
                out.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(input.count), Int32(bound))
        }
        output.removeLast(output.count - Int(written))
        return true
    }

    /// Decompresses a block whose decompressed size is known exactly. The size
    /// comes from whoever wrote the block, so it is checked against what the
    /// input could possibly decompress to before anything is allocated.
    public static func decompress(_ input: UnsafeRawBufferPointer, originalSize: Int) throws(CompressionError) -> [UInt8] {
        guard input.count <= maxBlockSize else { throw .corrupt("LZ4 block of \(input.count) bytes is larger than a block may be") }
        guard originalSize >= 0, originalSize <= maxBlockSize, originalSize <= input.count * maxRatio else {
            throw .corrupt("LZ4 block of \(input.count) bytes claims to hold \(originalSize), which it cannot")
        }
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

extension LZ4 {
    /// Decompresses a block into `output`, which it must fill exactly (the
    /// caller sized it from the writer's word, after bounding that word).
    public static func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(CompressionError) {
        guard input.count <= maxBlockSize, output.count <= maxBlockSize else { throw .corrupt("LZ4 block larger than a block may be") }
        guard output.count > 0 else { return }
        let n = LZ4_decompress_safe(
            input.baseAddress?.assumingMemoryBound(to: CChar.self),
            output.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(input.count), Int32(output.count))
        guard n == output.count else { throw .corrupt("LZ4 block does not decompress to \(output.count) bytes") }
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
