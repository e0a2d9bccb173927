import Foundation
import Testing
@testable import Wire

@Suite struct SealTests {
    let secret = ClusterSecret(Array("a-cluster-secret-for-tests".utf8))
    var sealer: Sealer { Sealer(clusterID: "test", sender: "client:t", secret: secret) }
    var server: Sealer { Sealer(clusterID: "test", sender: "coordinator:t", secret: secret) }

    @Test func sealedRequestsVerifyAndTamperingBreaksThem() {
        let env = sealer.request(SubmitJob(submissionID: "s1"))
        #expect(server.verify(env))
        for tamper in [{ (e: inout Envelope) in e.body[0] ^= 1 }, { $0.sender = "worker:x" }, { $0.sentAtMs += 1 },
                       { $0.nonce[0] ^= 1 }, { $0.clusterID = "other" }, { $0.kind = .cancelJob }, { $0.version = 2 }, { $0.mac = [] }] {
            var e = env
            tamper(&e)
            #expect(!server.verify(e))
        }
    }

    @Test func aDifferentSecretDoesNotVerify() {
        let other = Sealer(clusterID: "test", sender: "client:t", secret: ClusterSecret(Array("another-secret-entirely".utf8)))
        #expect(!server.verify(other.request(GetClusterStatus())))
    }

    @Test func gateRefusesEachBadRequestWithItsCode() throws {
        var gate = RequestGate(sealer: server, windowMs: 30_000)
        let now = Date().unixMilliseconds
        func code(_ bytes: [UInt8]) throws -> ErrorCode? {
            guard case .reply(let reply, let refusal) = gate.admit(bytes, nowMs: now) else { return nil }
            #expect(refusal != nil)
            let env = try Envelope(decoding: reply)
            return try ErrorReply(decoding: env.body).code
        }
        #expect(try code([0xFF, 0xFF, 0xFF]) == .badRequest)
        var wrongVersion = sealer.request(GetClusterStatus())
        wrongVersion.version = 99
        #expect(try code(sealer.seal(wrongVersion).encoded()) == .unsupportedVersion)
        let wrongCluster = Sealer(clusterID: "elsewhere", sender: "client:t", secret: secret).request(GetClusterStatus())
        #expect(try code(wrongCluster.encoded()) == .wrongCluster)
        let forged = Sealer(clusterID: "test", sender: "client:t", secret: ClusterSecret(Array("not-the-secret-at-all".utf8)))
        #expect(try code(forged.request(GetClusterStatus()).encoded()) == .unauthenticated)
        let old = sealer.request(GetClusterStatus(), now: Date(timeIntervalSinceNow: -3600))
        #expect(try code(old.encoded()) == .staleRequest)
    }

    @Test func aRepeatGetsTheOriginalReplyAndIsNotExecutedAgain() throws {
        var gate = RequestGate(sealer: server, windowMs: 30_000)
        let now = Date().unixMilliseconds
        let bytes = sealer.request(SubmitJob(submissionID: "s1")).encoded()
        guard case .execute(let env) = gate.admit(bytes, nowMs: now) else { Issue.record("first admission"); return }
        guard case .awaitOriginal = gate.admit(bytes, nowMs: now) else { Issue.record("repeat while in progress"); return }
        let reply = gate.answer(SubmitReply(jobID: "job-1"), to: env)
        guard case .reply(let again, nil) = gate.admit(bytes, nowMs: now + 10) else { Issue.record("repeat after reply"); return }
        #expect(again == reply)
        // The reply is bound to the request's nonce and opens only for it.
        let request = try Envelope(decoding: bytes)
        #expect(try SecureChannel.open(reply, for: request, as: SubmitReply.self, from: "test", sealer: sealer).jobID == "job-1")
        let other = sealer.request(SubmitJob(submissionID: "s2"))
        #expect(throws: WireError.self) { try SecureChannel.open(reply, for: other, as: SubmitReply.self, from: "test", sealer: sealer) }
        // Outside the window the same bytes are refused.
        guard case .reply(_, let refusal?) = gate.admit(bytes, nowMs: now + 120_000) else { Issue.record("stale repeat"); return }
        #expect(refusal.contains("freshness window"))
    }

    @Test func replyFromAPeerWithoutTheSecretIsRefused() throws {
        let request = sealer.request(Sync(workerID: "w", want: 1))
        let forger = Sealer(clusterID: "test", sender: "coordinator:evil", secret: ClusterSecret(Array("guessed-wrong-secret".utf8)))
        let forged = forger.reply(SyncReply(leases: [Lease(jobID: "job-1")]), to: request).encoded()
        let error = #expect(throws: WireError.self) { try SecureChannel.open(forged, for: request, as: SyncReply.self, from: "x", sealer: sealer) }
        #expect(error?.code == .unauthenticated)
    }

    @Test func replayGuardEvictsRepliesOverBudgetAndThenRefusesRepeats() {
        var guardian = ReplayGuard(windowMs: 30_000, replyBudget: 100)
        let now: Int64 = 1_000_000
        #expect(guardian.check(nonce: [1], sentAtMs: now, nowMs: now) == .fresh)
        guardian.recordReply(nonce: [1], reply: Array(repeating: 7, count: 80))
        #expect(guardian.check(nonce: [2], sentAtMs: now, nowMs: now) == .fresh)
        guardian.recordReply(nonce: [2], reply: Array(repeating: 8, count: 80))
        #expect(guardian.check(nonce: [1], sentAtMs: now, nowMs: now) == .replayed)
        #expect(guardian.check(nonce: [2], sentAtMs: now, nowMs: now) == .answered(Array(repeating: 8, count: 80)))
        // Entries expire with the window, so memory stays bounded.
        #expect(guardian.check(nonce: [3], sentAtMs: now + 100_000, nowMs: now + 100_000) == .fresh)
        #expect(guardian.count == 1)
    }
}
