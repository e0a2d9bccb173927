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
