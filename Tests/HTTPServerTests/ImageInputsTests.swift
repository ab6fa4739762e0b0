import Foundation
import HTTPServer
import XCTest

/// Image parts of a parsed chat request: data URLs become bytes; limits, malformed URLs and remote URLs are refused
/// with the right status before any worker sees them.
final class ImageInputsTests: XCTestCase {
    func parsed(_ urls: [[String]]) throws -> ParsedRequest {
        let messages: [[String: Any]] = urls.map { message in
            ["role": "user", "content": message.map { ["type": "image_url", "image_url": ["url": $0, "detail": "low"]] }
                + [["type": "text", "text": "hi"]]]
        }
        let body = try JSONSerialization.data(withJSONObject: ["model": "m", "messages": messages])
        return try RequestParser.chat(XCTUnwrap(JSONValue.parse([UInt8](body))), id: "chatcmpl-1", priority: .normal)
    }

    func status(_ body: () throws -> Void) -> (Int, String?) {
        do {
            try body()
            return (200, nil)
        } catch let error as APIError {
            return (error.status, error.code)
        } catch {
            return (-1, "\(error)")
        }
    }

    func status(_ body: () async throws -> Void) async -> (Int, String?) {
        do {
            try await body()
            return (200, nil)
        } catch let error as APIError {
            return (error.status, error.code)
        } catch {
            return (-1, "\(error)")
        }
    }

    func testDataURLsBecomeBytesInOrder() async throws {
        var request = try parsed([["data:image/png;base64,AAEC", "data:image/jpeg;base64,/w=="], ["data:image/webp;base64,YWJj"]])
        try await ImageInputs(limits: ImageLimits()).resolve(&request)
        guard case let .chat(messages) = request.requests[0].input else { return XCTFail("not a chat") }
        XCTAssertEqual(messages[0].content, [.image([0, 1, 2], detail: "low"), .image([0xFF], detail: "low"), .text("hi")])
        XCTAssertEqual(messages[1].content, [.image(Array("abc".utf8), detail: "low"), .text("hi")])
    }

    func testLimitsAndBadURLs() async throws {
        let inputs = ImageInputs(limits: ImageLimits(maxImages: 2, maxImageBytes: 4))
        var three = try parsed([["data:image/png;base64,AA=="], ["data:image/png;base64,AA==", "data:image/png;base64,AA=="]])
        let tooMany = await status { try await inputs.resolve(&three) }
        XCTAssertEqual(tooMany.0, 400, "three images across messages, two allowed")
        XCTAssertEqual(tooMany.1, "too_many_images")
        // Five bytes (eight base64 characters, one of them padding) are over the 4-byte limit: 413, not decoded.
        XCTAssertEqual(status { _ = try inputs.decode("data:image/png;base64,AAECAwQ=", param: "p") }.0, 413)
        XCTAssertEqual(status { _ = try inputs.decode("data:image/png;base64,AAECAw==", param: "p") }.0, 200)
        for bad in ["data:image/png;base64,AA=", "data:image/png;base64,@@@@", "data:image/png,AAAA",
                    "data:text/plain;base64,AAAA", "data:image/png;base64", "ftp://x/y.png", "/etc/passwd", ""] {
            XCTAssertEqual(status { _ = try inputs.decode(bad, param: "p") }.0, 400, bad)
        }
        var remoteRequest = try parsed([["https://example.com/cat.png"]])
        let remote = await status { try await inputs.resolve(&remoteRequest) }
        XCTAssertEqual(remote.0, 400, "remote URLs are off by default")
        XCTAssertEqual(remote.1, "unsupported_image_url")
    }
}
