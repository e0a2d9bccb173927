/// The one error type of the Wire module: what went wrong with a message,
/// in words a person can act on.
public struct WireError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Code: Sendable, Equatable {
        case malformed
        case unauthenticated
        case unsupportedVersion
        case wrongCluster
        case stale
        case replayed
        case unexpectedReply
        /// The peer answered with an `Error` message.
        case remote(ErrorCode)
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    static func malformed(_ what: String) -> WireError {
        WireError(.malformed, "malformed \(what) message: not a valid protobuf encoding")
    }

    public var description: String { message }
}
