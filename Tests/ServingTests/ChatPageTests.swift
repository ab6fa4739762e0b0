import Foundation
import TestScratch
import XCTest

/// The chat page in a real browser (Tests/ServingTests/chat_page_checks.py: headless Chromium through Selenium):
/// type, send, watch the answer stream, stop mid-answer. The screenshot of the answered page is kept in
/// .build/test-artifacts/chat-page.png.
final class ChatPageTests: XCTestCase {
    func testABrowserChatsStreamsAndStops() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") else {
            return XCTFail("Chromium is missing: scripts/setup installs Debian's chromium and chromium-driver")
        }
        let key = "sk-test-chat-page"
        let server = try EmbeddingServingTests.startServer(["MODELHOST_API_KEYS": key])
        defer { server.stop() }
        let screenshot = ServerProcess.root.appendingPathComponent(".build/test-artifacts/chat-page.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        let script = ServerProcess.root.appendingPathComponent("Tests/ServingTests/chat_page_checks.py").path
        let (status, output) = try TestPython.run([script, "--url", server.baseURL, "--api-key", key,
                                                   "--screenshot", screenshot])
        print(output)
        print("screenshot: \(screenshot)")
        XCTAssertEqual(status, 0, "chat page checks failed:\n\(output)\nserver log:\n\(server.logText.suffix(3000))")
        XCTAssertTrue(FileManager.default.fileExists(atPath: screenshot))
        // The stopped answer ended in the server too (the browser's abort closed the connection): nothing in flight.
        let auth = ["Authorization": "Bearer \(key)"]
        var inFlight = -1
        for _ in 0..<50 {
            let models = HTTP.get(server.adminURL + "/admin/status", headers: auth).json?["models"] as? [[String: Any]]
            inFlight = models?.reduce(0) { $0 + ($1["requests_in_flight"] as? Int ?? 0) } ?? -1
            if inFlight == 0 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(inFlight, 0, "the stopped answer kept running in the worker")
    }
}
