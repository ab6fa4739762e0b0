// The regular-expression automata against Python's `re` (scripts/fixtures/regex_reference.py writes the verdicts),
// the formats against hand-written and generated examples, and the automata's own invariants.
import Foundation
import StructuredOutput
import XCTest

struct Tester {
    var passed = 0
    var failed = 0
    var notes: [String] = []
    var failures: [String] = []

    mutating func check(_ ok: Bool, _ what: @autoclosure () -> String) {
        if ok { passed += 1 } else { failed += 1; failures.append(what()) }
    }

    mutating func section(_ name: String, _ body: (inout Tester) -> Void) {
        let before = failed
        let beforePassed = passed
        body(&self)
        let n = passed - beforePassed + failed - before
        print(failed == before ? "PASS: \(name) (\(n) checks)" : "FAIL: \(name) (\(failed - before) of \(n) checks failed)")
    }
}

func compile(_ p: String, maxStates: Int = 4096) -> ByteDFA? {
    try? ByteDFA(pattern: p, maxStates: maxStates)
}

func walkAccepts(_ dfa: ByteDFA, _ bytes: some Sequence<UInt8>) -> Bool {
    var s = dfa.start
    for b in bytes { s = dfa.next(s, b) }
    return dfa.isAccepting(s)
}

func show(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        if u.value < 0x20 || u.value == 0x7F || (u.value >= 0x80 && u.value < 0xA0) || u.value == 0x2028 || u.value == 0x2029 {
            out += "\\u{\(String(u.value, radix: 16))}"
        } else { out.unicodeScalars.append(u) }
    }
    return out + "\""
}

/// Structural invariants of a pruned DFA with exact distances.
func checkInvariants(_ t: inout Tester, _ d: ByteDFA, _ name: String) {
    var ok = true
    var msg = ""
    if d.next(ByteDFA.dead, 0x61) != ByteDFA.dead || d.isAccepting(ByteDFA.dead) || d.distance(ByteDFA.dead) != Int.max {
        ok = false; msg = "dead state misbehaves"
    }
    for s in 0..<Int32(d.stateCount) where ok {
        let dist = d.distance(s)
        if dist == Int.max { ok = false; msg = "state \(s) is live but has no path to acceptance"; break }
        if d.isAccepting(s) != (dist == 0) { ok = false; msg = "state \(s): accepting=\(d.isAccepting(s)) dist=\(dist)"; break }
        if dist > 0 {
            var best = Int.max
            for b in 0...255 {
                let n = d.next(s, UInt8(b))
                if n != ByteDFA.dead { best = min(best, d.distance(n)) }
            }
            if best == Int.max || best + 1 != dist { ok = false; msg = "state \(s): dist \(dist) but best successor \(best)"; break }
        }
        // Reachable states only use valid UTF-8 lead bytes at code point boundaries:
        for b in [0xC0, 0xC1, 0xF5, 0xFF] where d.next(s, UInt8(b)) != ByteDFA.dead {
            ok = false; msg = "state \(s) accepts invalid byte \(b)"
        }
    }
    t.check(ok, "invariants of \(name): \(msg)")
    // Minimality (naive Moore refinement; small automata only): no two states equivalent.
    if d.stateCount <= 600 {
        let n = d.stateCount
        var block = (0..<n).map { d.isAccepting(Int32($0)) ? 1 : 0 }
        var count = Set(block).count
        while true {
            var ids: [[Int]: Int] = [:]
            var nb = [Int](repeating: 0, count: n)
            for s in 0..<n {
                var sig = [block[s]]
                sig.reserveCapacity(257)
                for b in 0...255 {
                    let t = d.next(Int32(s), UInt8(b))
                    sig.append(t == ByteDFA.dead ? -1 : block[Int(t)])
                }
                if let id = ids[sig] { nb[s] = id } else { ids[sig] = ids.count; nb[s] = ids.count - 1 }
            }
            block = nb
            if ids.count == count { break }
            count = ids.count
        }
        t.check(count == n, "\(name) is minimal: \(n) states but \(count) equivalence classes")
    }
}

/// Decodes the authoritative UTF-8 hex form of a test string.
func fromHex(_ h: Any) -> String {
    let hex = Array((h as! String).utf8)
    func nib(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }
    var bytes: [UInt8] = []
    var i = 0
    while i + 1 < hex.count { bytes.append(nib(hex[i]) << 4 | nib(hex[i + 1])); i += 2 }
    return String(decoding: bytes, as: UTF8.self)
}

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

func timeCompile(_ p: String, runs: Int = 25) -> (best: Double, median: Double) {
    var ts: [Double] = []
    let clock = ContinuousClock()
    for _ in 0..<runs {
        let t0 = clock.now
        _ = try? ByteDFA(pattern: p)
        let el = clock.now - t0
        ts.append(Double(el.components.attoseconds) / 1e15 + Double(el.components.seconds) * 1000)
    }
    return (ts.min()!, median(ts))
}

final class ByteDFATests: XCTestCase {
    func testAutomataAgreeWithTheReferences() throws {
        var t = Tester()
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/regex_cases.json").path
        guard let data = FileManager.default.contents(atPath: path),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return XCTFail("cannot load \(path) (scripts/fixtures/regex_reference.py writes it)")
        }

        // 1. Patterns vs Python re.search oracle.
        t.section("patterns vs Python re oracle") { t in
            let pats = root["patterns"] as! [[String: Any]]
            for p in pats {
                let pattern = p["pattern"] as! String
                let cases = p["cases"] as! [[Any]]
                let dfa: ByteDFA
                do { dfa = try ByteDFA(pattern: pattern) } catch {
                    t.check(false, "compile \(pattern): \(error)"); continue
                }
                var bad = 0
                for c in cases {
                    let s = fromHex(c[0])
                    let expect = c[1] as! Bool
                    let got = dfa.matches(s)
                    if got != expect {
                        bad += 1
                        if bad <= 5 { print("   mismatch /\(pattern)/ on \(show(s)): dfa=\(got) python=\(expect)") }
                    }
                    t.check(got == expect, "/\(pattern)/ on \(show(s))")
                }
                if let ml = p["minLen"] as? Int {
                    t.check(dfa.distance(dfa.start) == ml,
                            "distance(start) for /\(pattern)/ = \(dfa.distance(dfa.start)), expected \(ml)")
                }
                checkInvariants(&t, dfa, "/\(pattern)/")
                print(String(format: "   %-42@ states=%4d  minLen=%d  cases=%d", "/\(pattern)/" as NSString,
                             dfa.stateCount, dfa.distance(dfa.start), cases.count))
            }
        }

        // 2. Formats.
        t.section("formats") { t in
            let fm = root["formats"] as! [String: [String: Any]]
            var handValid: [String: [String]] = [
                "date": ["2024-02-29", "2023-02-31", "1900-01-01"],
                "time": ["23:59:60+00:00", "00:00:00.000000001Z", "12:00:00z"],
                "date-time": ["2024-02-29T12:00:00.5+05:45", "0001-01-01t00:00:00Z"],
                "email": ["john.doe@mail.example.com", "_@a-b.cd"],
                "hostname": ["my-host", "a.b"],
                "ipv4": ["8.8.8.8", "172.16.254.1"],
                "uri": ["urn:oasis:names:specification:docbook:dtd:xml:4.1.2", "https://a.b/c?d=e&f=%C3%A9"],
                "uuid": ["550e8400-e29b-41d4-a716-446655440000"],
            ]
            var handInvalid: [String: [String]] = [
                "date": ["2024-2-29", "2024-02-29T", "0000-13-13"],
                "time": ["23:59:59", "23:59:59.1234567890Z", "23:59:59+23:60"],
                "date-time": ["2024-02-29T12:00:00", "2024-02-29 12:00:00Z"],
                "email": ["john..doe@mail.com", "john@mail"],
                "hostname": ["my_host", "-host"],
                "ipv4": ["1.1.1.01", "256.256.256.256"],
                "uri": ["/relative/path", "https://a.b/c d"],
                "uuid": ["550e8400e29b41d4a716446655440000"],
            ]
            for name in ["date", "time", "date-time", "email", "hostname", "ipv4", "uri", "uuid"] {
                guard let dfa = ByteDFA(format: name) else { t.check(false, "format \(name) missing"); continue }
                checkInvariants(&t, dfa, "format \(name)")
                let entry = fm[name]!
                var valid = handValid.removeValue(forKey: name) ?? []
                var invalid = handInvalid.removeValue(forKey: name) ?? []
                var disagreements: [String] = []
                for c in entry["cases"] as! [[Any]] {
                    let s = fromHex(c[0])
                    let exp = c[1] as! Bool
                    if exp { valid.append(s) } else { invalid.append(s) }
                    if let js = c[2] as? Bool, js != exp { disagreements.append("\(show(s)) (spec: \(exp), jsonschema: \(js))") }
                }
                for s in valid { t.check(dfa.matches(s), "format \(name) should accept \(show(s))") }
                for s in invalid { t.check(!dfa.matches(s), "format \(name) should reject \(show(s))") }
                t.check(valid.count >= 30 && invalid.count >= 30, "format \(name) has 30+ valid and invalid examples")
                print("   format \(name): states=\(dfa.stateCount) valid=\(valid.count) invalid=\(invalid.count) minLen=\(dfa.distance(dfa.start))"
                      + ((entry["jsonschemaChecker"] as? Bool) == true ? " jsonschema-disagreements=\(disagreements.count)" : " (no jsonschema checker)"))
                for d in disagreements { t.notes.append("format \(name): \(d)") }
            }
            t.check(ByteDFA(format: "ipv6") == nil && ByteDFA(format: "") == nil, "unknown formats give nil")
            t.check(ByteDFA(format: "date") == ByteDFA(format: "date"), "format DFAs are cached and equal")
            t.check(ByteDFA(format: "date")!.distance(ByteDFA(format: "date")!.start) == 10, "date minLen 10")
            t.check(ByteDFA(format: "date-time")!.distance(ByteDFA(format: "date-time")!.start) == 20, "date-time minLen 20")
            t.check(ByteDFA(format: "uuid")!.distance(ByteDFA(format: "uuid")!.start) == 36, "uuid minLen 36")
            t.check(ByteDFA(format: "ipv4")!.distance(ByteDFA(format: "ipv4")!.start) == 7, "ipv4 minLen 7")
            t.check(ByteDFA(format: "email")!.distance(ByteDFA(format: "email")!.start) == 5, "email minLen 5")
        }

        // 3. Unsupported constructs and syntax errors.
        t.section("errors") { t in
            let cases: [(String, String)] = [
                (#"\bword\b"#, "word boundary \\b"), (#"a\Bb"#, "\\B"),
                ("(?=a)b", "lookahead"), ("(?!a)b", "negative lookahead"),
                ("(?<=a)b", "lookbehind"), ("(?<!a)b", "negative lookbehind"),
                (#"(a)\1"#, "backreference \\1"), ("(?<year>\\d{4})", "named group"),
                (#"(?<n>a)\k<n>"#, "named group"), (#"\k<n>"#, "named backreference"),
                ("a^b", "anchor '^'"), ("a$b", "anchor '$'"), ("(^a)", "anchor '^'"), ("(a$)", "anchor '$'"),
                ("(?:a|^b)", "anchor '^'"), ("^a$$", "anchor '$'"),
                (#"\p{L}"#, "Unicode property escape"), ("(?i)a", "group modifier"),
                ("a{1001}", "exceeds the limit of 1000"), ("a{2,1001}", "exceeds the limit of 1000"),
                ("a{3,2}", "out of order"), ("*a", "nothing to repeat"), ("a**", "nothing to repeat"),
                ("a{2}{3}", "nothing to repeat"), ("{3}", "nothing to repeat"),
                ("(a", "missing ')'"), ("a)", "unmatched ')'"), ("[a", "unterminated character class"),
                ("[z-a]", "out of order"), (#"\x4"#, "\\x must be followed"), (#"\uD800"#, "lone surrogate"),
                ("a\\", "lone backslash"), (#"\q"#, "unknown escape"), (#"\01"#, "octal"),
            ]
            for (p, needle) in cases {
                do throws(RegexError) {
                    _ = try ByteDFA(pattern: p)
                    t.check(false, "pattern \(p) should throw (\(needle))")
                } catch {
                    t.check(error.message.contains(needle), "error for \(p) should mention \(needle): got \(error.message)")
                    t.check(error.message.contains("offset"), "error for \(p) should say where: \(error.message)")
                }
            }
            // DFA size limit.
            do throws(RegexError) {
                _ = try ByteDFA(pattern: "(a|b)*a(a|b){14}")
                t.check(false, "exponential pattern should exceed maxStates")
            } catch {
                t.check(error.message.contains("maxStates"), "maxStates error message: \(error.message)")
                print("   message: \(error.message)")
            }
            t.check(compile("^(a|b)*a(a|b){14}$", maxStates: 70_000) != nil, "raising maxStates allows a big DFA")
            t.check(compile("^.{0,400}$")?.stateCount == 4001, "^.{0,400}$ fits in 4096 states (minimized)")
            do throws(RegexError) {
                _ = try ByteDFA(pattern: "^.{0,1000}$")
                t.check(false, "^.{0,1000}$ should exceed maxStates")
            } catch {
                t.check(error.message.contains("maxStates"), "maxStates error message: \(error.message)")
                print("   message: \(error.message)")
            }
            t.check(compile("^.{0,1000}$", maxStates: 20_000)?.stateCount == 10001, "^.{0,1000}$ with maxStates 20000")
            do throws(RegexError) {
                _ = try ByteDFA(pattern: "^(?:a{1000}){1000}$")
                t.check(false, "huge expansion should be rejected")
            } catch {
                t.check(error.message.contains("too large") || error.message.contains("maxStates"), "huge expansion message: \(error.message)")
                print("   message: \(error.message)")
            }
            // Things that are accepted (Annex B / lenient) must compile.
            for p in ["a{", "a{,5}", "x{2,", "]", "}", #"[\d-z]"#, "a??", "a*?b+?c{1,2}?", #"\/\-"#, "[]", "[^]",
                      #"\u{1F600}"#, #"\cJ"#, #"[\b]"#, "a{1000}", "^(?:)$", "()", "a||b"] {
                t.check(compile(p) != nil, "pattern \(p) should compile")
            }
            let r = RegexError("x")
            t.check(r.description == "x" && r == RegexError("x"), "RegexError description/equatable")
        }

        // 4. Semantics details not covered by the Python oracle.
        t.section("semantics") { t in
            let empty = compile("[]")!
            t.check(!empty.matches("") && !empty.matches("a") && empty.distance(empty.start) == Int.max, "[] matches nothing")
            let anyOne = compile("^[^]$")!
            t.check(anyOne.matches("\n") && anyOne.matches("😀") && !anyOne.matches("ab"), "[^] matches any code point")
            let dot = compile("^.$")!
            for s in ["\n", "\r", "\u{2028}", "\u{2029}"] { t.check(!dot.matches(s), ". rejects line terminator \(show(s))") }
            for s in ["a", "\u{85}", "é", "中", "😀", "\u{10FFFF}", "\t", "\0"] { t.check(dot.matches(s), ". accepts \(show(s))") }
            t.check(compile("a{,5}")!.matches("xa{,5}y") && !compile("a{,5}")!.matches("aa"), "a{,5} is literal (Annex B)")
            t.check(compile(#"^[\d-z]+$"#)!.matches("1-z") && !compile(#"^[\d-z]+$"#)!.matches("y"), "[\\d-z] has literal '-'")
            t.check(compile(#"^\u{1F600}$"#)!.matches("😀"), "\\u{...} escape")
            t.check(compile(#"^\cJ$"#)!.matches("\n"), "\\cJ")
            t.check(compile(#"^[\b]$"#)!.matches("\u{8}"), "[\\b] is backspace")
            t.check(compile("^a{1000}$")!.matches(String(repeating: "a", count: 1000))
                    && !compile("^a{1000}$")!.matches(String(repeating: "a", count: 999)), "a{1000}")
            t.check(compile("a||b")!.matches("zzz"), "empty alternative matches everywhere")
            let abc = compile("abc")!
            t.check(abc.matches("xxabcxx") && !abc.matches("xxabxcx"), "unanchored abc")
            t.check(compile("^abc")!.matches("abcxx") && !compile("^abc")!.matches("xabc"), "^abc")
            t.check(compile("abc$")!.matches("xxabc") && !compile("abc$")!.matches("abcx") && !compile("abc$")!.matches("abc\n"), "abc$ (no match before final newline, as ECMA)")
            t.check(compile("") == compile(""), "Equatable")
            t.check(compile("^a$") != compile("^b$"), "Equatable distinguishes")
            // Distances along a partial string: after "20" in date, 8 more bytes.
            let date = ByteDFA(format: "date")!
            var s = date.start
            for b in "20".utf8 { s = date.next(s, b) }
            t.check(date.distance(s) == 8, "date distance after '20' is 8")
            for b in "24-1".utf8 { s = date.next(s, b) }
            t.check(date.distance(s) == 4 && date.next(s, UInt8(ascii: "3")) == ByteDFA.dead, "date after '2024-1': dist 4, '3' dead")
            // Distance counts bytes: ^é+$ needs 2 bytes; ^[😀-😎]$ needs 4.
            t.check(compile("^é+$")!.distance(0) == 2 && compile("^[😀-😎]$")!.distance(0) == 4, "distance counts UTF-8 bytes")
            // ^.{2,4}$ counts code points.
            let d24 = compile("^.{2,4}$")!
            t.check(d24.matches("éé") && d24.matches("😀😀😀😀") && !d24.matches("😀😀😀😀😀") && !d24.matches("é"), ".{2,4} counts code points")
        }

        // 5. UTF-8 validity (exhaustive up to 3 bytes, sampled 4+).
        t.section("UTF-8 validity") { t in
            let any = compile("")!          // any valid UTF-8 string
            let notA = compile("^[^a]$")!   // exactly one code point, not 'a'
            let dot = compile("^.$")!
            var bad = 0
            func verdicts(_ bytes: [UInt8]) -> (Bool, Bool, Bool) {
                guard let s = String(validating: bytes, as: UTF8.self) else { return (false, false, false) }
                let scalars = Array(s.unicodeScalars)
                let one = scalars.count == 1
                let lt: Set<UInt32> = [0x0A, 0x0D, 0x2028, 0x2029]
                return (true, one && scalars[0] != "a", one && !lt.contains(scalars[0].value))
            }
            func test(_ bytes: [UInt8]) {
                let e = verdicts(bytes)
                let g = (walkAccepts(any, bytes), walkAccepts(notA, bytes), walkAccepts(dot, bytes))
                if e != g {
                    bad += 1
                    if bad <= 10 { print("   UTF-8 mismatch \(bytes.map { String($0, radix: 16) }): expected \(e) got \(g)") }
                }
            }
            var n = 0
            for a in 0...255 {
                test([UInt8(a)]); n += 1
                for b in 0...255 { test([UInt8(a), UInt8(b)]); n += 1 }
            }
            for a in 0xC0...0xFF {
                for b in 0...255 { for c in 0...255 { test([UInt8(a), UInt8(b), UInt8(c)]); n += 1 } }
            }
            var rng = SystemRandomNumberGenerator()
            let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                                        0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
            for _ in 0..<400_000 {
                let len = Int.random(in: 4...7, using: &rng)
                test((0..<len).map { _ in Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng) })
                n += 1
            }
            for a: UInt8 in [0xF0, 0xF1, 0xF3, 0xF4, 0xF5] {
                for b in 0x70...0xC5 { for c in [0x7F, 0x80, 0xBF, 0xC0] { for d in [0x7F, 0x80, 0xA5, 0xBF, 0xC0] {
                    test([a, UInt8(b), UInt8(c), UInt8(d)]); n += 1
                } } }
            }
            t.check(bad == 0, "\(bad) of \(n) byte strings disagree with Swift's UTF-8 validator")
            print("   checked \(n) byte strings")
        }

        // 6. Exhaustive code-point-range membership (UTF-8 range splitting).
        t.section("code point ranges (exhaustive over all scalars)") { t in
            let cases: [(String, (UInt32) -> Bool)] = [
                (#"^[\u0100-\u07ff]$"#, { $0 >= 0x100 && $0 <= 0x7FF }),
                ("^[α-ω]$", { $0 >= 0x3B1 && $0 <= 0x3C9 }),
                (#"^[\u00e0-\u00ff\u4e00-\u4e2f]$"#, { ($0 >= 0xE0 && $0 <= 0xFF) || ($0 >= 0x4E00 && $0 <= 0x4E2F) }),
                (#"^[\u07fe-\u0801\uD7FF\uE000\uFFFF-\uD800\uDC01]$"#, { ($0 >= 0x7FE && $0 <= 0x801) || $0 == 0xD7FF || $0 == 0xE000 || ($0 >= 0xFFFF && $0 <= 0x10001) }),
                (#"^[\x7f-\x80]$"#, { $0 == 0x7F || $0 == 0x80 }),
                (#"^[^\u0800-\uffff]$"#, { $0 < 0x800 || $0 > 0xFFFF }),
                (#"^[\u{10000}-\u{10FFFF}]$"#, { $0 >= 0x10000 }),
                (#"^[\u0fff-\u1000\u{3FFFF}-\u{40000}]$"#, { ($0 >= 0xFFF && $0 <= 0x1000) || ($0 >= 0x3FFFF && $0 <= 0x40000) }),
                (#"^[\u0041-\u{10FFFE}]$"#, { $0 >= 0x41 && $0 <= 0x10FFFE }),
                (#"^\W$"#, { !(($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || $0 == 0x5F || ($0 >= 0x61 && $0 <= 0x7A)) }),
                (#"^\s$"#, { [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF].contains($0) || ($0 >= 0x2000 && $0 <= 0x200A) }),
            ]
            for (p, member) in cases {
                guard let d = compile(p) else { t.check(false, "compile \(p)"); continue }
                var bad = 0
                var cp: UInt32 = 0
                while cp <= 0x10FFFF {
                    if let u = Unicode.Scalar(cp) {
                        var s = d.start
                        for b in UTF8.encode(u)! { s = d.next(s, b) }
                        if d.isAccepting(s) != member(cp) {
                            bad += 1
                            if bad <= 3 { print("   /\(p)/ U+\(String(cp, radix: 16)): dfa=\(d.isAccepting(s))") }
                        }
                    }
                    cp += 1
                }
                t.check(bad == 0, "/\(p)/: \(bad) code points wrong")
                checkInvariants(&t, d, "/\(p)/")
            }
        }

        // 7. Performance.
        t.section("performance") { t in
            let typical = ["^[a-z]+(-[a-z]+)*$", #"^\d{3}-\d{4}$"#, ByteDFA.formatPattern("date-time")!]
            for p in typical {
                let (best, med) = timeCompile(p)
                print(String(format: "   compile %-28@ best %.3f ms, median %.3f ms, states %d",
                             String(p.prefix(28)) as NSString, best, med, compile(p)!.stateCount))
                t.check(best < 5.0, "compile of \(p) under 5 ms (best \(best) ms)")
            }
            for f in ["date", "time", "date-time", "email", "hostname", "ipv4", "uri", "uuid"] {
                let (best, med) = timeCompile(ByteDFA.formatPattern(f)!, runs: 9)
                print(String(format: "   compile format %-10@ best %.3f ms, median %.3f ms, states %d",
                             f as NSString, best, med, ByteDFA(format: f)!.stateCount))
            }
            let big = ["abc", #"^[^@\s]+@[^@\s]+$"#, "^.{2,4}$", "^(a|b)*a(a|b){8}$"]
            for p in big {
                let (best, med) = timeCompile(p, runs: 9)
                print(String(format: "   compile %-28@ best %.3f ms, median %.3f ms, states %d",
                             p as NSString, best, med, compile(p)!.stateCount))
            }
            let dfa = compile("^[a-z]+(-[a-z]+)*$")!
            let text = Array(String(repeating: "abc-def", count: 1 << 17).utf8)
            let clock = ContinuousClock()
            let t0 = clock.now
            var s = dfa.start
            var acc = 0
            for _ in 0..<10 {
                s = dfa.start
                for b in text { s = dfa.next(s, b) }
                acc &+= Int(s)
            }
            let el = clock.now - t0
            let ns = (Double(el.components.attoseconds) / 1e9 + Double(el.components.seconds) * 1e9) / Double(text.count * 10)
            print(String(format: "   next(): %.2f ns/byte (%d)", ns, acc))
            t.check(dfa.isAccepting(s), "long walk accepted")
        }

        XCTAssertEqual(t.failed, 0, t.failures.prefix(10).joined(separator: "\n"))
        XCTAssertGreaterThan(t.passed, 3000)
    }
}
