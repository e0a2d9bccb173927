import Crypto

/// How a worker's data port answers FETCH_BLOCK: a block frame,
///
///     "SLBK" | data length n (u32, big-endian) | n bytes | sealed envelope (kind BLOCK)
///
/// so the chunk goes from the shuffle store (memory or file) straight into
/// the outgoing nng message, hashed piece by piece as it is copied, instead
/// of through the message mirrors and the envelope's own MAC input (five
/// copies). The envelope's `Block` carries `data_length` and `data_mac`
/// (HMAC-SHA256 of "sluice-block-v1", the request's nonce and the bytes),
/// and the envelope's seal covers both. Errors are ordinary envelopes, which
/// never begin with "SLBK" (an envelope's first byte is a field tag).
public enum BlockFrame {
    static let magic: [UInt8] = Array("SLBK".utf8)
    static let prefix = 8
    /// Bytes hashed per piece: copied and hashed while still in cache.
    static let piece = 256 << 10

    /// The most bytes a frame of `count` data bytes answering `request` takes.
    public static func capacity(count: Int, sealer: Sealer, request: Envelope) -> Int {
        let widest = Block(total: UInt64.max, dataLength: UInt32.max, dataMac: [UInt8](repeating: 0xFF, count: SHA256.byteCount))
        return prefix + count + sealer.reply(widest, to: request).encoded().count
    }

    /// Writes a frame into `out` (at least `capacity` bytes): `copy(offset, piece)`
    /// fills each piece of the data in turn. Returns the frame's length.
    public static func write(into out: UnsafeMutableRawBufferPointer, count: Int, total: Int, sealer: Sealer, request: Envelope,
                             copy: (_ offset: Int, _ into: UnsafeMutableRawBufferPointer) throws -> Void) throws -> Int {
        precondition(count >= 0 && count <= Int(UInt32.max) && out.count >= prefix + count)
        for (i, b) in magic.enumerated() { out[i] = b }
        withUnsafeBytes(of: UInt32(count).bigEndian) { for (i, b) in $0.enumerated() { out[4 + i] = b } }
        var mac = sealer.blockMAC(nonce: request.nonce)
        var offset = 0
        while offset < count {
            let n = min(piece, count - offset)
            let dest = UnsafeMutableRawBufferPointer(rebasing: out[(prefix + offset)..<(prefix + offset + n)])
            try copy(offset, dest)
            mac.update(UnsafeRawBufferPointer(dest))
            offset += n
        }
        let envelope = sealer.reply(Block(total: UInt64(total), dataLength: UInt32(count), dataMac: mac.finalize()), to: request).encoded()
        let end = prefix + count + envelope.count
        precondition(end <= out.count, "a block frame outgrew its capacity")
        envelope.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: out[(prefix + count)..<end]).copyMemory(from: $0) }
        return end
    }

    /// The chunk a reply to `request` carries, and the bucket's size; an error
    /// reply, a broken frame or a wrong MAC throws.
    public static func open(_ bytes: [UInt8], for request: Envelope, sealer: Sealer, from address: String) throws -> (data: ArraySlice<UInt8>, total: UInt64) {
        guard bytes.count >= prefix, Array(bytes[0..<4]) == magic else {
            let block = try SecureChannel.open(bytes, for: request, as: Block.self, from: address, sealer: sealer)
            return (block.data[...], block.total)
        }
        let count = Int(bytes[4]) << 24 | Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7])
        guard count <= bytes.count - prefix else {
            throw WireError(.malformed, "\(address) sent a block frame of \(bytes.count) bytes that claims \(count) bytes of data")
        }
        let block = try SecureChannel.open(Array(bytes[(prefix + count)...]), for: request, as: Block.self, from: address, sealer: sealer)
        let data = bytes[prefix..<(prefix + count)]
        var mac = sealer.blockMAC(nonce: request.nonce)
        data.withUnsafeBytes { mac.update($0) }
        guard Int(block.dataLength) == count, block.data.isEmpty, constantTimeEqual(mac.finalize(), block.dataMac) else {
            throw WireError(.unauthenticated, "the block from \(address) failed authentication: its bytes do not match their MAC")
        }
        return (data, block.total)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

/// The MAC of a block frame's bytes, fed piece by piece.
public struct BlockMAC {
    var hmac: HMAC<SHA256>
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hmac.update(data: bytes) }
    public func finalize() -> [UInt8] { Array(hmac.finalize()) }
}

extension Sealer {
    public func blockMAC(nonce: [UInt8]) -> BlockMAC {
        var h = HMAC<SHA256>(key: secret.key)
        h.update(data: Array("sluice-block-v1".utf8))
        h.update(data: nonce)
        return BlockMAC(hmac: h)
    }
}
