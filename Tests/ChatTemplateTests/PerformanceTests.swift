import ChatTemplate
import Foundation
import XCTest

/// Prints what rendering a typical chat costs (a figure for the notes, not a timed assertion: the machines are
/// shared and noisy). It still checks that every render produced the same, non-empty prompt.
final class PerformanceTests: XCTestCase {
    func testTenMessageChatRendersQuickly() throws {
        let template = try ChatTemplate(source: try Fixtures.template("qwen2.5.jinja"))
        var messages: [JinjaValue] = [["role": "system", "content": "You are a helpful assistant."]]
        for i in 0..<9 {
            messages.append(["role": i % 2 == 0 ? "user" : "assistant",
                             "content": .string("Message \(i): " + String(repeating: "lorem ipsum ", count: 20))])
        }
        let iterations = 2000
        var bytes = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<iterations {
            bytes += try template.renderChat(messages: messages, addGenerationPrompt: true, tools: nil,
                                             bosToken: "", eosToken: "<|im_end|>").utf8.count
        }
        let perRender = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(iterations) / 1000
        print("ChatTemplate: 10-message Qwen2.5 chat renders in \(String(format: "%.1f", perRender)) µs "
              + "(\(bytes / iterations) bytes)")
        XCTAssertGreaterThan(bytes, 0)
        XCTAssertEqual(bytes % iterations, 0, "renders of the same chat differ")
    }
}
