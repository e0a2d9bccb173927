// The few places that touch protobuf-c memory directly, shared by the
// modules that speak protobuf (Wire's messages, PlanCodec's plans).
public import CProtobufC
import Glibc

/// Owns every C allocation made while building one protobuf-c message tree,
/// and frees them all at once when the encoding is done.
///
/// Not Sendable: it lives inside one `Arena.with` call on one thread.
package final class Arena {
    private var blocks: [UnsafeMutableRawPointer] = []

    package static func with<R, E: Error>(_ body: (Arena) throws(E) -> R) throws(E) -> R {
        let arena = Arena()
        defer { arena.blocks.forEach { free($0) } }
        return try body(arena)
    }

    package func allocate<T>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
        let raw = calloc(max(count, 1), MemoryLayout<T>.stride)!
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    package func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    package func bytes(_ b: [UInt8]) -> ProtobufCBinaryData {
        guard !b.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let p = allocate(UInt8.self, count: b.count)
        b.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: b.count) }
        return ProtobufCBinaryData(len: b.count, data: p)
    }

    package func message<M, C>(_ value: M, _ type: C.Type, _ fill: (M, UnsafeMutablePointer<C>, Arena) -> Void) -> UnsafeMutablePointer<C> {
        let p = allocate(C.self)
        fill(value, p, self)
        return p
    }

    package func array<E, C>(_ values: [E], _ convert: (E) -> C) -> UnsafeMutablePointer<C>? {
        guard !values.isEmpty else { return nil }
        let p = allocate(C.self, count: values.count)
        for (i, v) in values.enumerated() { p[i] = convert(v) }
        return p
    }
}

package func packed<C>(_ p: UnsafeMutablePointer<C>) -> [UInt8] {
    p.withMemoryRebound(to: ProtobufCMessage.self, capacity: 1) { message in
        let size = protobuf_c_message_get_packed_size(message)
        // Not through the capacity-0 initializer: it writes to the shared empty array.
        if size == 0 { return [] }
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = protobuf_c_message_pack(message, buffer.baseAddress)
        }
    }
}

package func cString(_ p: UnsafeMutablePointer<CChar>?) -> String {
    guard let p else { return "" }
    return String(cString: p)
}

package func byteArray(_ d: ProtobufCBinaryData) -> [UInt8] {
    guard let data = d.data, d.len > 0 else { return [] }
    return [UInt8](UnsafeBufferPointer(start: data, count: d.len))
}

package func repeatedScalars<C, S>(_ p: UnsafeMutablePointer<C>?, _ n: Int, _ convert: (C) -> S) -> [S] {
    guard let p, n > 0 else { return [] }
    return UnsafeBufferPointer(start: p, count: n).map(convert)
}

package func repeatedPointers<C, S>(_ p: UnsafeMutablePointer<UnsafeMutablePointer<C>?>?, _ n: Int, _ convert: (UnsafeMutablePointer<C>) -> S) -> [S] {
    guard let p, n > 0 else { return [] }
    var out: [S] = []
    out.reserveCapacity(n)
    for i in 0..<n { if let e = p[i] { out.append(convert(e)) } }
    return out
}

/// How deeply sub-messages nest in `bytes`, read as a message of
/// `descriptor`'s type: 0 for a message without any. Nil when the bytes are
/// not a well-formed encoding; `limit + 1` as soon as the nesting passes
/// `limit`. Iterative, so no nesting can exhaust the stack here; protobuf-c's
/// own unpacking recurses once per level, so a reader of recursive messages
/// (plans) calls this first and refuses what is too deep.
package func messageDepth(_ bytes: UnsafeRawBufferPointer, _ descriptor: UnsafePointer<ProtobufCMessageDescriptor>, limit: Int) -> Int? {
    var stack: [(end: Int, descriptor: UnsafePointer<ProtobufCMessageDescriptor>)] = [(bytes.count, descriptor)]
    var deepest = 0
    var pos = 0
    /// A varint ending at or before `end`.
    func varint(_ end: Int) -> UInt64? {
        var v: UInt64 = 0, shift: UInt64 = 0
        while pos < end, shift < 64 {
            let b = bytes[pos]
            pos += 1
            v |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
        }
        return nil
    }
    while let top = stack.last {
        if pos == top.end {
            stack.removeLast()
            continue
        }
        guard pos < top.end, let tag = varint(top.end) else { return nil }
        let skip: Int
        switch tag & 7 {
        case 0:
            guard varint(top.end) != nil else { return nil }
            skip = 0
        case 1: skip = 8
        case 5: skip = 4
        case 2:
            guard let n = varint(top.end), n <= UInt64(top.end - pos) else { return nil }
            let number = UInt32(truncatingIfNeeded: tag >> 3)
            if let field = protobuf_c_message_descriptor_get_field(top.descriptor, number), field.pointee.type == PROTOBUF_C_TYPE_MESSAGE,
               let sub = field.pointee.descriptor {
                stack.append((pos + Int(n), sub.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)))
                deepest = max(deepest, stack.count - 1)
                if deepest > limit { return limit + 1 }
                continue
            }
            skip = Int(n)
        default: return nil   // groups are not proto3
        }
        guard skip <= top.end - pos else { return nil }
        pos += skip
    }
    return deepest
}
