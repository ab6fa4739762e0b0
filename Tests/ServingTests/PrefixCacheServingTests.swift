import Foundation
import XCTest

/// The prefix cache's byte budget on a real server and worker: idle conversations are kept only within
/// `--prefix-cache-mib` (least recently used go first, one larger than the whole budget is not kept), and the memory
/// of those that go returns to the system: after an 8,000-token conversation the worker's resident size is back
/// within the budget plus 40 MB of what it was when freshly loaded.
final class PrefixCacheServingTests: XCTestCase {
    static let budgetMiB = 64

    func model(_ server: ServerProcess) -> [String: Any]? {
        (HTTP.get(server.adminURL + "/admin/status").json?["models"] as? [[String: Any]])?
            .first { $0["id"] as? String == "SmolLM2-135M-Instruct.Q4_1" }
    }

    func rss(_ server: ServerProcess) -> Int { model(server)?["rss_bytes"] as? Int ?? 0 }
    func cached(_ server: ServerProcess) -> Int { (model(server)?["kv_positions"] as? [String: Int])?["cached"] ?? -1 }

    /// A completion over a prompt of about `words` tokens (distinct per `tag`, so conversations share no prefix).
    func complete(_ server: ServerProcess, tag: String, words: Int) -> Int {
        let prompt = (0..<words).map { "\(tag)\($0 % 97)" }.joined(separator: " ")
        let reply = HTTP.post(server.baseURL + "/v1/completions",
                              ["model": "SmolLM2-135M-Instruct.Q4_1", "prompt": prompt, "max_tokens": 8,
                               "temperature": 0], timeout: 600)
        XCTAssertEqual(reply.status, 200, reply.text)
        return (reply.json?["usage"] as? [String: Any])?["prompt_tokens"] as? Int ?? 0
    }

    /// The worker reports its load with each liveness ping (every second): wait for the report to say `expected`.
    func cachedSettles(_ server: ServerProcess, at expected: (Int) -> Bool) -> Int {
        let deadline = Date().addingTimeInterval(5)
        var last = cached(server)
        while !expected(last) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            last = cached(server)
        }
        return last
    }

    func testKeepsIdleConversationsWithinItsByteBudgetAndReturnsTheRest() throws {
        let server = try ServerProcess(environment: ["MODELHOST_PREFIX_CACHE_MIB": "\(Self.budgetMiB)"])
        defer { server.stop() }
        // SmolLM2-135M's float32 KV cache: 30 layers x 2 x 3 heads x 64 dimensions x 4 bytes = 46,080 per position.
        let perPosition = 46_080, budget = Self.budgetMiB << 20

        let warm = complete(server, tag: "w", words: 20)
        XCTAssertEqual(cachedSettles(server) { $0 > warm }, warm + 7, "prompt + the 8 tokens but the last, fed")
        let fresh = rss(server)
        XCTAssertGreaterThan(fresh, 50_000_000)

        // About 1,000 positions (47 MB) fit the 64 MiB budget beside the first: both kept.
        let first = complete(server, tag: "a", words: 350)
        XCTAssertLessThan((warm + first + 14) * perPosition, budget)
        XCTAssertEqual(cachedSettles(server) { $0 > warm + 7 }, warm + first + 14)
        // A second one of the same size does not fit beside them: the least recently used go until it does.
        let second = complete(server, tag: "b", words: 350)
        XCTAssertGreaterThan((first + second) * perPosition, budget)
        XCTAssertEqual(cachedSettles(server) { $0 == second + 7 }, second + 7)

        // About 7,800 positions (360 MB) is larger than the whole budget: served, then not kept, and its memory goes.
        let long = complete(server, tag: "c", words: 2_700)
        XCTAssertGreaterThan(long, 7_500)
        Thread.sleep(forTimeInterval: 1.5)
        XCTAssertEqual(cachedSettles(server) { $0 == second + 7 }, second + 7,
                       "a conversation larger than the budget evicts nothing")
        let after = rss(server)
        XCTAssertLessThanOrEqual(after, fresh + budget + 40_000_000,
                                 "fresh \(fresh), after an 8,000-token conversation \(after)")
        print("worker RSS: fresh \(fresh / 1_000_000) MB, after a \(long)-token conversation \(after / 1_000_000) MB "
              + "(budget \(Self.budgetMiB) MiB, cached positions \(cached(server)))")
    }

    func testZeroKeepsNothing() throws {
        let server = try ServerProcess(environment: ["MODELHOST_PREFIX_CACHE_MIB": "0"])
        defer { server.stop() }
        let prompt = complete(server, tag: "z", words: 100)
        XCTAssertGreaterThan(prompt, 0)
        Thread.sleep(forTimeInterval: 1.5)
        XCTAssertEqual(cached(server), 0)
        // The same prompt again: nothing was reused.
        let reply = HTTP.post(server.baseURL + "/v1/completions",
                              ["model": "SmolLM2-135M-Instruct.Q4_1",
                               "prompt": (0..<100).map { "z\($0 % 97)" }.joined(separator: " "), "max_tokens": 1])
        let details = (reply.json?["usage"] as? [String: Any])?["prompt_tokens_details"] as? [String: Any]
        XCTAssertEqual(details?["cached_tokens"] as? Int ?? 0, 0, reply.text)
    }
}
