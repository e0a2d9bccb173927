import Crypto
import Foundation

/// Who is speaking, to which cluster, under which secret. Seals requests and
/// replies into envelopes and checks the seal on what arrives.
public struct Sealer: Sendable {
    public let clusterID: String
    public let sender: String
    let secret: ClusterSecret

    public init(clusterID: String, sender: String, secret: ClusterSecret) {
        self.clusterID = clusterID
        self.sender = sender
        self.secret = secret
    }

    /// A sealed request with a fresh random nonce.
    public func request<M: KindedMessage>(_ message: M, now: Date = Date()) -> Envelope {
        var nonce = [UInt8](repeating: 0, count: 16)
        for i in nonce.indices { nonce[i] = UInt8.random(in: 0...255) }
        return seal(Envelope(
            version: ProtocolVersion.current, clusterID: clusterID, sender: sender, nonce: nonce,
            sentAtMs: Int64(now.timeIntervalSince1970 * 1000), kind: M.kind, body: message.encoded()))
    }

    /// A sealed reply, bound to the request it answers by the request's nonce.
    public func reply<M: KindedMessage>(_ message: M, to request: Envelope) -> Envelope {
        seal(Envelope(
            version: ProtocolVersion.current, clusterID: clusterID, sender: sender, nonce: request.nonce,
            sentAtMs: request.sentAtMs, kind: M.kind, body: message.encoded()))
    }

    public func seal(_ e: Envelope) -> Envelope {
        var e = e
        e.mac = Array(HMAC<SHA256>.authenticationCode(for: Self.macInput(e), using: secret.key))
        return e
    }

    /// True when the envelope's MAC was made with this cluster's secret.
    public func verify(_ e: Envelope) -> Bool {
        guard e.mac.count == SHA256.byteCount else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(e.mac, authenticating: Self.macInput(e), using: secret.key)
    }

    /// Fields 1..7 in a fixed, length-prefixed layout (protobuf encodings are
    /// not canonical, so the MAC is not taken over them).
    static func macInput(_ e: Envelope) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + e.clusterID.utf8.count + e.sender.utf8.count + e.nonce.count + e.body.count)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) } }
        func field<C: Collection>(_ bytes: C) where C.Element == UInt8 { u32(UInt32(bytes.count)); out.append(contentsOf: bytes) }
        out.append(contentsOf: Array("sluice-mac-v1".utf8))
        u32(e.version)
        field(e.clusterID.utf8)
        field(e.sender.utf8)
        field(e.nonce)
        u64(UInt64(bitPattern: e.sentAtMs))
        u32(UInt32(bitPattern: e.kind.rawValue))
        field(e.body)
        return out
    }
}
