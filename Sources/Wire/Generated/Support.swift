// Helpers the generated mirrors (Messages.swift) call. Hand-written: these
// are the only places that touch protobuf-c memory directly.
internal import CProtobufC
import Glibc

/// A wire message: a Swift value mirroring one protobuf message of proto/sluice.proto.
public protocol WireMessage: Sendable, Equatable {
    /// The protobuf encoding of this value.
    func encoded() -> [UInt8]
    /// Decodes a protobuf encoding; throws `WireError` when the bytes are not one.
    init(decoding bytes: [UInt8]) throws
}

/// Owns every C allocation made while building one protobuf-c message tree,
/// and frees them all at once when the encoding is done.
///
/// Not Sendable: it lives inside one `Arena.with` call on one thread.
final class Arena {
    private var blocks: [UnsafeMutableRawPointer] = []

    static func with<R>(_ body: (Arena) throws -> R) rethrows -> R {
        let arena = Arena()
        defer { arena.blocks.forEach { free($0) } }
        return try body(arena)
    }

    func allocate<T>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
        let raw = calloc(max(count, 1), MemoryLayout<T>.stride)!
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    func bytes(_ b: [UInt8]) -> ProtobufCBinaryData {
        guard !b.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let p = allocate(UInt8.self, count: b.count)
        b.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: b.count) }
        return ProtobufCBinaryData(len: b.count, data: p)
    }

    func message<M, C>(_ value: M, _ type: C.Type, _ fill: (M, UnsafeMutablePointer<C>, Arena) -> Void) -> UnsafeMutablePointer<C> {
        let p = allocate(C.self)
        fill(value, p, self)
        return p
    }

    func array<E, C>(_ values: [E], _ convert: (E) -> C) -> UnsafeMutablePointer<C>? {
        guard !values.isEmpty else { return nil }
        let p = allocate(C.self, count: values.count)
        for (i, v) in values.enumerated() { p[i] = convert(v) }
        return p
    }
}

func packed<C>(_ p: UnsafeMutablePointer<C>) -> [UInt8] {
    p.withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) { message in
        let size = protobuf_c_message_get_packed_size(message)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = protobuf_c_message_pack(message, buffer.baseAddress)
        }
    }
}

func cString(_ p: UnsafeMutablePointer<CChar>?) -> String {
    guard let p else { return "" }
    return String(cString: p)
}

func byteArray(_ d: ProtobufCBinaryData) -> [UInt8] {
    guard let data = d.data, d.len > 0 else { return [] }
    return [UInt8](UnsafeBufferPointer(start: data, count: d.len))
}

func repeatedScalars<C, S>(_ p: UnsafeMutablePointer<C>?, _ n: Int, _ convert: (C) -> S) -> [S] {
    guard let p, n > 0 else { return [] }
    return UnsafeBufferPointer(start: p, count: n).map(convert)
}

func repeatedPointers<C, S>(_ p: UnsafeMutablePointer<UnsafeMutablePointer<C>?>?, _ n: Int, _ convert: (UnsafeMutablePointer<C>) -> S) -> [S] {
    guard let p, n > 0 else { return [] }
    var out: [S] = []
    out.reserveCapacity(n)
    for i in 0..<n { if let e = p[i] { out.append(convert(e)) } }
    return out
}
