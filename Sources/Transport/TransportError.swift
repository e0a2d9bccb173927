internal import CNNG

/// The one error type of the Transport module: a failed nng call, with the
/// operation and address it concerned.
public struct TransportError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        case timedOut
        case closed
        case connectionRefused
        case addressInUse
        case invalidAddress
        case other(Int32)
    }

    public var code: Code
    public var message: String

    init(nng rv: Int32, _ operation: String) {
        switch UInt32(rv) {
        case NNG_ETIMEDOUT.rawValue: code = .timedOut
        case NNG_ECLOSED.rawValue: code = .closed
        case NNG_ECONNREFUSED.rawValue: code = .connectionRefused
        case NNG_EADDRINUSE.rawValue: code = .addressInUse
        case NNG_EADDRINVAL.rawValue, NNG_EINVAL.rawValue: code = .invalidAddress
        default: code = .other(rv)
        }
        message = "\(operation): \(String(cString: nng_strerror(rv)))"
    }

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

@inline(__always)
func check(_ rv: Int32, _ operation: @autoclosure () -> String) throws {
    if rv != 0 { throw TransportError(nng: rv, operation()) }
}
