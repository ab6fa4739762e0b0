import Sampling
import XCTest

final class StopMatcherTests: XCTestCase {
    /// Feeds `pieces`, returns everything emitted (including `finish()`), and the matcher.
    private func run(_ stops: [String], _ pieces: [String]) -> (emitted: [String], matcher: StopMatcher) {
        var matcher = StopMatcher(stops: stops)
        var emitted = pieces.map { matcher.append($0) }
        emitted.append(matcher.finish())
        return (emitted, matcher)
    }

    func testStopSplitOverThreePieces() {
        let (emitted, matcher) = run(["<|end|>"], ["Hello <|", "en", "d|> ignored"])
        XCTAssertEqual(emitted, ["Hello ", "", "", ""])
        XCTAssertTrue(matcher.stopped)
        XCTAssertEqual(matcher.matchedStop, "<|end|>")
    }

    func testPartialMatchThatIsNotOneComesOutInOrder() {
        let (emitted, matcher) = run(["STOP"], ["a S", "T", "x", "ST", "OPEN"])
        // "S", "ST" are held; "STx" proves it was not a stop, so it comes out whole and in order.
        XCTAssertEqual(emitted, ["a ", "", "STx", "", "", ""])
        XCTAssertTrue(matcher.stopped, "…but STOP inside STOPEN is")
        let (plain, noStop) = run(["STOP"], ["a S", "T", "x", "S", "TO"])
        XCTAssertEqual(plain.joined(), "a STxSTO", "nothing lost, nothing duplicated")
        XCTAssertEqual(plain, ["a ", "", "STx", "", "", "STO"])
        XCTAssertFalse(noStop.stopped)
    }

    func testOverlappingPrefixIsNotLost() {
        // "aab": the first "a" cannot start "ab" once the second "a" arrives, but the second still can.
        let (emitted, matcher) = run(["ab"], ["a", "a", "c", "a", "b"])
        XCTAssertEqual(emitted, ["", "a", "ac", "", "", ""])
        XCTAssertTrue(matcher.stopped)
        let (longer, _) = run(["abab"], ["ab", "ab", "ac"])
        XCTAssertEqual(longer, ["", "", "", ""], "abab completes at the second piece, from the start")
    }

    func testSeveralStopsTheEarliestWins() {
        let (emitted, matcher) = run(["world", "lo", "xyz"], ["hello world"])
        XCTAssertEqual(emitted, ["hel", ""])
        XCTAssertEqual(matcher.matchedStop, "lo")
        // A later stop in the list that completes first wins over an earlier one in the list.
        let (second, secondMatcher) = run(["cdef", "de"], ["abc", "def"])
        XCTAssertEqual(second.joined(), "abc")
        XCTAssertEqual(secondMatcher.matchedStop, "de")
        // Same end: the longer (earlier-starting) stop wins, so less is emitted.
        let (same, sameMatcher) = run(["b", "ab"], ["xab"])
        XCTAssertEqual(same.joined(), "x")
        XCTAssertEqual(sameMatcher.matchedStop, "ab")
    }

    func testResultDoesNotDependOnHowTheTextIsSplit() {
        let text = "one <stop> two </s> three"
        let stops = ["</s>", "<stop>", " tw"]
        let whole = run(stops, [text]).emitted.joined()
        XCTAssertEqual(whole, "one ")
        for size in 1...5 {
            var pieces: [String] = []
            var rest = Substring(text)
            while !rest.isEmpty { pieces.append(String(rest.prefix(size))); rest = rest.dropFirst(size) }
            XCTAssertEqual(run(stops, pieces).emitted.joined(), whole, "pieces of \(size)")
        }
    }

    func testStopAtTheVeryBeginning() {
        let (emitted, matcher) = run(["\n\n"], ["\n", "\nrest"])
        XCTAssertEqual(emitted, ["", "", ""])
        XCTAssertTrue(matcher.stopped)
        var immediate = StopMatcher(stops: ["END"])
        XCTAssertEqual(immediate.append("END"), "")
        XCTAssertTrue(immediate.stopped)
        XCTAssertEqual(immediate.append("more"), "", "nothing after a stop")
    }

    func testUnicodeStops() {
        // A multi-byte stop split between pieces at a character boundary, amid other multi-byte text.
        let (emitted, matcher) = run(["终止🛑"], ["日本語 终", "止", "🛑 après"])
        XCTAssertEqual(emitted.joined(), "日本語 ")
        XCTAssertTrue(matcher.stopped)
        // A shared first byte (é and è both start with 0xC3) must not swallow or split characters.
        let (accent, accentMatcher) = run(["été"], ["èt", "é", "e", "ét", "ë", "été!"])
        XCTAssertEqual(accent, ["èt", "", "ée", "", "étë", "", ""])
        XCTAssertEqual(accentMatcher.matchedStop, "été")
        // Matching is by scalars: a decomposed "e\u{301}" is not the precomposed stop "é".
        let (decomposed, decomposedMatcher) = run(["é"], ["e\u{301}"])
        XCTAssertEqual(decomposed.joined(), "e\u{301}")
        XCTAssertFalse(decomposedMatcher.stopped)
    }

    func testFinishFlushesHeldText() {
        var matcher = StopMatcher(stops: ["</answer>"])
        XCTAssertEqual(matcher.append("42 </ans"), "42 ")
        XCTAssertEqual(matcher.finish(), "</ans")
        XCTAssertEqual(matcher.finish(), "", "finish clears what it returned")
        XCTAssertFalse(matcher.stopped)
    }

    func testNoStopsAndEmptyStopsPassEverythingThrough() {
        var none = StopMatcher(stops: [])
        XCTAssertEqual(none.append("abc"), "abc")
        var empty = StopMatcher(stops: ["", "zz"])
        XCTAssertEqual(empty.append("abz"), "ab")
        XCTAssertEqual(empty.append(""), "")
        XCTAssertEqual(empty.finish(), "z")
    }
}
