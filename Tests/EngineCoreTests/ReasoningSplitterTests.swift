import EngineCore
import XCTest

/// Thoughts between the markers go to reasoning, the rest to content, however the output is cut into pieces.
final class ReasoningSplitterTests: XCTestCase {
    private let markers = ReasoningMarkers(open: "<think>", close: "</think>")

    private func split(_ text: String, startsInside: Bool, pieces: Int) -> (reasoning: String, content: String) {
        var splitter = ReasoningSplitter(markers: markers, startsInside: startsInside)
        var reasoning = "", content = ""
        let characters = Array(text)
        var chunks: [String] = []
        var start = 0
        var rng = SystemRandomNumberGenerator()
        while start < characters.count {
            let length = pieces == 0 ? characters.count : Int.random(in: 1...pieces, using: &rng)
            chunks.append(String(characters[start..<min(characters.count, start + length)]))
            start += length
        }
        for piece in chunks.flatMap({ splitter.feed($0) }) + splitter.finish() {
            switch piece {
            case .reasoning(let r): reasoning += r
            case .content(let c): content += c
            }
        }
        return (reasoning, content)
    }

    func testThoughtsNeverReachContent() {
        let cases: [(String, Bool, String, String)] = [
            ("<think>\nLet me see.\n</think>\n\nParis.", false, "\nLet me see.\n", "Paris."),
            ("  <think>a</think>b", false, "a", "b"),
            ("Plain answer with <think> in it.", false, "", "Plain answer with <think> in it."),
            ("still thinking </think>\n\nDone", true, "still thinking ", "Done"),
            ("thinking, cut off by the token limit", true, "thinking, cut off by the token limit", ""),
            ("<think>a </thin b</think>c", false, "a </thin b", "c"),
            ("<thinking>x", false, "", "<thinking>x"),
            ("<thi", false, "", "<thi"),
            ("", true, "", ""),
        ]
        for (text, inside, reasoning, content) in cases {
            for pieces in [0, 1, 2, 3, 7] {
                let got = split(text, startsInside: inside, pieces: pieces)
                XCTAssertEqual(got.reasoning, reasoning, "\(text.debugDescription) in pieces of \(pieces)")
                XCTAssertEqual(got.content, content, "\(text.debugDescription) in pieces of \(pieces)")
            }
        }
    }

    func testMarkersComeFromTheTemplate() {
        XCTAssertNotNil(ReasoningMarkers(templateSource: "{{ '<think>' }}...{{ '</think>' }}"))
        XCTAssertNil(ReasoningMarkers(templateSource: "{{ messages }}"))
        XCTAssertTrue(markers.opens("<|im_start|>assistant\n<think>\n"))
        XCTAssertFalse(markers.opens("<|im_start|>assistant\n<think>\n\n</think>\n\n"))
    }
}
