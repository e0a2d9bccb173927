import Foundation
import Glibc

/// Checks from outside that a TCP listener still completes nng's handshake:
/// connect, send the 8-byte SP header of a REQ peer, expect the REP header
/// back. Used by the coordinator's listener watchdog.
public enum ListenerProbe {
    /// True when `host:port` answered the SP handshake as a REP socket within `timeout`.
    public static func answersHandshake(host: String, port: Int, timeout: Duration = .seconds(1)) -> Bool {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let first = info else { return false }
        defer { freeaddrinfo(info) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var tv = timeval(tv_sec: Int(timeout.milliseconds / 1000), tv_usec: Int((timeout.milliseconds % 1000) * 1000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else { return false }
        // SP header: 0x00 'S' 'P' 0x00, protocol id (REQ = 0x30), two reserved bytes.
        let hello: [UInt8] = [0, 0x53, 0x50, 0, 0x00, 0x30, 0, 0]
        guard hello.withUnsafeBytes({ send(fd, $0.baseAddress, 8, Int32(MSG_NOSIGNAL)) }) == 8 else { return false }
        var answer = [UInt8](repeating: 0xFF, count: 8)
        var got = 0
        while got < 8 {
            let n = answer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, 8 - got, 0) }
            if n <= 0 { return false }
            got += n
        }
        return answer == [0, 0x53, 0x50, 0, 0x00, 0x31, 0, 0]
    }
}

/// nng addresses as people type them.
public enum NNGAddress {
    /// An address without a scheme means TCP: "host:7070" is "tcp://host:7070".
    public static func normalize(_ address: String) -> String {
        let trimmed = address.trimmingCharacters(in: .whitespaces)
        return trimmed.contains("://") ? trimmed : "tcp://" + trimmed
    }

    /// Host and port of a tcp:// address.
    public static func hostAndPort(_ address: String) -> (host: String, port: Int)? {
        guard address.hasPrefix("tcp://") else { return nil }
        let rest = address.dropFirst("tcp://".count)
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var host = String(rest[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }
}

/// What is at the other end of a TCP address before any request is sent:
/// lets a client say at once that nothing listens, instead of waiting out a
/// request timeout.
public enum Reachability: Equatable, Sendable {
    case answers
    case refused
    case unresolvable(String)
    /// No answer within the probe's time: maybe a firewall, maybe a busy host; requests will tell.
    case silent
    /// Not a tcp:// address; not probed.
    case unknown

    /// Connects (each resolved address in turn) and, when a peer accepts,
    /// completes nng's SP handshake so the peer sees an ordinary client come and go.
    public static func probe(_ address: String, timeout: Duration = .milliseconds(700)) -> Reachability {
        guard let (host, port) = NNGAddress.hostAndPort(address) else { return .unknown }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        let rv = getaddrinfo(host.isEmpty ? "127.0.0.1" : host, String(port), &hints, &info)
        guard rv == 0, let first = info else {
            return .unresolvable(String(cString: gai_strerror(rv)))
        }
        defer { freeaddrinfo(info) }
        var sawSilence = false
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let ai = next {
            next = ai.pointee.ai_next
            switch connectAndGreet(ai.pointee, timeout: timeout) {
            case .answers: return .answers
            case .silent: sawSilence = true
            default: continue
            }
        }
        return sawSilence ? .silent : .refused
    }

    private static func connectAndGreet(_ ai: addrinfo, timeout: Duration) -> Reachability {
        let fd = socket(ai.ai_family, ai.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), ai.ai_protocol)
        guard fd >= 0 else { return .refused }
        defer { Glibc.close(fd) }
        if connect(fd, ai.ai_addr, ai.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { return .refused }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&p, 1, Int32(timeout.milliseconds))
            guard ready > 0 else { return .silent }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            guard err == 0 else { return err == ETIMEDOUT || err == EHOSTUNREACH || err == ENETUNREACH ? .silent : .refused }
        }
        // A polite hello and goodbye: the SP header of a REQ peer, then wait briefly for the REP's.
        let hello: [UInt8] = [0, 0x53, 0x50, 0, 0x00, 0x30, 0, 0]
        _ = hello.withUnsafeBytes { send(fd, $0.baseAddress, 8, Int32(MSG_NOSIGNAL)) }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, 300) > 0 {
            var answer = [UInt8](repeating: 0, count: 8)
            _ = answer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 8, 0) }
        }
        return .answers
    }
}
