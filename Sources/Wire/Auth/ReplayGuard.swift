/// Remembers the nonces of recent requests and the replies they got.
///
/// - A request whose timestamp is outside the freshness window is refused.
/// - A repeated nonce inside the window is never executed again: it gets the
///   original reply (nng REQ resends byte-identical requests, and those must
///   work), or waits for it while the original is still being served.
///
/// Replies are kept up to a memory budget; a repeat whose reply was evicted is
/// refused as a replay. Not thread-safe: owned by one server loop.
public struct ReplayGuard {
    public enum Verdict: Equatable {
        case fresh
        case stale
        case inProgress
        case answered([UInt8])
        case replayed
    }

    public let windowMs: Int64
    private let replyBudget: Int
    private var entries: [Nonce: Entry] = [:]
    private var expiry: [(at: Int64, nonce: Nonce)] = []
    private var expiryHead = 0
    private var replyBytes = 0

    private struct Entry {
        var reply: [UInt8]?
        var evicted = false
    }

    struct Nonce: Hashable {
        let a: UInt64, b: UInt64
        init(_ bytes: [UInt8]) {
            var a: UInt64 = 0, b: UInt64 = 0
            for (i, x) in bytes.prefix(16).enumerated() {
                if i < 8 { a = a << 8 | UInt64(x) } else { b = b << 8 | UInt64(x) }
            }
            self.a = a ^ UInt64(bytes.count) << 56
            self.b = b
        }
    }

    public init(windowMs: Int64 = 30_000, replyBudget: Int = 64 << 20) {
        self.windowMs = windowMs
        self.replyBudget = replyBudget
    }

    public var count: Int { entries.count }

    public mutating func check(nonce: [UInt8], sentAtMs: Int64, nowMs: Int64) -> Verdict {
        expire(nowMs: nowMs)
        if abs(nowMs - sentAtMs) > windowMs { return .stale }
        let key = Nonce(nonce)
        if let entry = entries[key] {
            if let reply = entry.reply { return .answered(reply) }
            return entry.evicted ? .replayed : .inProgress
        }
        entries[key] = Entry()
        // Keep the nonce until its timestamp leaves the window: later it is refused as stale anyway.
        expiry.append((max(sentAtMs, nowMs) + windowMs, key))
        return .fresh
    }

    public mutating func recordReply(nonce: [UInt8], reply: [UInt8]) {
        let key = Nonce(nonce)
        guard entries[key] != nil else { return }
        entries[key]!.reply = reply
        replyBytes += reply.count
        // Over budget: forget the oldest replies (their nonces stay, and repeats are refused).
        var i = expiryHead
        while replyBytes > replyBudget, i < expiry.count {
            let k = expiry[i].nonce
            if let r = entries[k]?.reply {
                replyBytes -= r.count
                entries[k]!.reply = nil
                entries[k]!.evicted = true
            }
            i += 1
        }
    }

    private mutating func expire(nowMs: Int64) {
        while expiryHead < expiry.count, expiry[expiryHead].at < nowMs {
            let key = expiry[expiryHead].nonce
            if let r = entries.removeValue(forKey: key)?.reply { replyBytes -= r.count }
            expiryHead += 1
        }
        if expiryHead > 4096, expiryHead * 2 > expiry.count {
            expiry.removeFirst(expiryHead)
            expiryHead = 0
        }
    }
}
