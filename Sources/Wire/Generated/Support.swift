// Hand-written: what the generated mirrors (Messages.swift) conform to. Their
// protobuf-c memory handling is in module ProtobufSupport.
internal import CProtobufC

/// A wire message: a Swift value mirroring one protobuf message of proto/sluice.proto.
public protocol WireMessage: Sendable, Equatable {
    /// The protobuf encoding of this value.
    func encoded() -> [UInt8]
    /// Decodes a protobuf encoding; throws `WireError` when the bytes are not one.
    init(decoding bytes: [UInt8]) throws
}
