import ChatTemplate
import XCTest

/// Errors name the construct and the line, and unsupported Jinja is reported as such rather than misrendered.
final class ErrorTests: XCTestCase {
    private func parseError(_ source: String, file: StaticString = #filePath, line: UInt = #line) -> TemplateError? {
        do {
            _ = try ChatTemplate(source: source)
            XCTFail("expected a parse error", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testUnsupportedTagNamesTheTagAndLine() {
        let error = parseError("ok\n\n{% include 'x.jinja' %}")
        XCTAssertEqual(error?.kind, .unsupported)
        XCTAssertEqual(error?.line, 3)
        XCTAssertTrue(error?.message.contains("'include'") ?? false)
        XCTAssertEqual(error?.description.hasPrefix("template line 3:"), true)
        XCTAssertEqual(parseError("{% extends 'base' %}")?.kind, .unsupported)
        XCTAssertEqual(parseError("{% for x in xs recursive %}{% endfor %}")?.kind, .unsupported)
    }

    func testUnknownTagAndStrayEndTag() {
        XCTAssertEqual(parseError("{% frobnicate %}")?.message, "unknown tag 'frobnicate'")
        XCTAssertEqual(parseError("{% endif %}")?.kind, .syntax)
    }

    func testUnclosedBlockNamesTheOpeningLine() {
        let error = parseError("{% for x in xs %}\n{% if x %}\n{% endfor %}")
        XCTAssertEqual(error?.kind, .syntax)
        XCTAssertTrue(error?.message.contains("'if' opened on line 2") ?? false, "\(String(describing: error))")
        XCTAssertTrue(parseError("{{ x ")?.message.contains("unclosed tag") ?? false)
        XCTAssertTrue(parseError("{# x ")?.message.contains("unclosed comment") ?? false)
    }

    func testSyntaxErrorsInExpressions() {
        XCTAssertEqual(parseError("{{ 1 + }}")?.kind, .syntax)
        XCTAssertEqual(parseError("{{ 'unterminated }}")?.kind, .syntax)
        XCTAssertEqual(parseError("{{ a ? b }}")?.kind, .syntax)
        XCTAssertEqual(parseError("{% break %}")?.message, "'break' outside of a for loop")
        XCTAssertEqual(parseError("{{ f(*args) }}")?.kind, .unsupported)
    }

    func testDeepNestingIsRefusedNotACrash() {
        let deep = "{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}"
        XCTAssertEqual(parseError(deep)?.kind, .syntax)
        let deepUnary = "{{ " + String(repeating: "-", count: 5000) + "1 }}"
        XCTAssertEqual(parseError(deepUnary)?.kind, .syntax)
    }

    func testDeepBlockNestingIsRefused() {
        let deep = String(repeating: "{% if true %}", count: 3000) + String(repeating: "{% endif %}", count: 3000)
        XCTAssertEqual(parseError(deep)?.kind, .syntax)
    }

    func testHostileNumbersDoNotTrap() {
        XCTAssertEqual(render("{{ [1, 2, 3][1::9223372036854775807] }}{{ [1, 2, 3][::-9223372036854775807] }}"),
                       "[2][3]")
        XCTAssertEqual(render("{{ 'x' | center(99999999999) | length }}"), "1000000")
        XCTAssertEqual(render("{{ ('%99999999999999999999999s' % 'a') | length }}"), "1000000")
        XCTAssertEqual(renderError("{{ 'ab' * 9223372036854775807 }}")?.kind, .runtime)
    }

    /// A template is untrusted input (it comes from the model file): work and memory are bounded per render
    /// (hangs the jinja fuzz target found, and the amplifying filters beside them).
    func testRenderWorkAndSizeAreBounded() {
        let started = Date()
        let nested = renderError("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}")
        XCTAssertEqual(nested?.kind, .runtime)
        XCTAssertTrue(nested?.message.contains("loop iterations") ?? false, "\(String(describing: nested))")
        let doubling = renderError(
            "{% set ns = namespace(x='ab') %}{% for i in range(64) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}")
        XCTAssertEqual(doubling?.kind, .runtime)
        XCTAssertEqual(renderError("{% set ns = namespace(x='ab') %}{% for i in range(64) %}"
                                   + "{% set ns.x = ns.x + ns.x %}{% endfor %}")?.kind, .runtime)
        XCTAssertEqual(renderError("{% set ns = namespace(x=[1]) %}{% for i in range(64) %}"
                                   + "{% set ns.x = ns.x + ns.x %}{% endfor %}")?.kind, .runtime)
        let big = "{% set s = 'a' * 1000000 %}"
        XCTAssertEqual(renderError(big + "{{ s | replace('a', s) }}")?.kind, .runtime)
        XCTAssertEqual(renderError(big + "{{ s.replace('a', s) }}")?.kind, .runtime)
        XCTAssertEqual(renderError(big + "{{ ([s] * 100) | join(',') }}")?.kind, .runtime)
        XCTAssertEqual(renderError(big + "{{ ','.join([s] * 100) }}")?.kind, .runtime)
        XCTAssertEqual(renderError("{% set s = '\\n' * 1000000 %}{{ s | indent(1000) }}")?.kind, .runtime)
        XCTAssertEqual(renderError(big + "{% for i in range(100) %}{{ s }}{% endfor %}")?.kind, .runtime)
        XCTAssertEqual(renderError("{% macro m() %}{% endmacro %}{% for i in range(1000000) %}{% for j in range(3) %}"
                                   + "{{ m() }}{% endfor %}{% endfor %}")?.kind, .runtime)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        // Below the bounds, the same constructs work.
        XCTAssertEqual(render("{% for a in range(250) %}{% for b in range(250) %}{% endfor %}{% endfor %}ok"), "ok")
        XCTAssertEqual(render("{{ ('a' * 1000) | replace('a', 'bb') | length }}"), "2000")
    }

    func testUnknownFilterAndTestNameThemWithTheLine() {
        let filter = renderError("a\n{{ x | frobnicate }}")
        XCTAssertEqual(filter?.kind, .unsupported)
        XCTAssertEqual(filter?.line, 2)
        XCTAssertEqual(filter?.message, "unknown filter 'frobnicate'")
        XCTAssertEqual(renderError("{{ x | groupby('a') }}")?.message, "the 'groupby' filter is not supported")
        XCTAssertEqual(renderError("{{ 1 is frobnicated }}")?.message, "unknown test 'frobnicated'")
    }

    func testRaiseExceptionCarriesTheTemplateMessage() {
        let error = renderError("{{ raise_exception('System role not supported') }}")
        XCTAssertEqual(error?.kind, .raised)
        XCTAssertEqual(error?.message, "System role not supported")
        XCTAssertEqual(error?.description, "System role not supported")
    }

    func testRuntimeErrorsForBadTypes() {
        XCTAssertEqual(renderError("{% for x in 3 %}{% endfor %}")?.message, "'int' object is not iterable")
        XCTAssertEqual(renderError("{{ none + 1 }}")?.kind, .runtime)
        XCTAssertEqual(renderError("{{ x() }}")?.message, "'x' is undefined and cannot be called")
        XCTAssertEqual(renderError("{{ 1 | items }}")?.kind, .runtime)
        XCTAssertEqual(renderError("{% set d = {} %}{% set d.x = 1 %}")?.kind, .runtime)
        XCTAssertEqual(renderError("{{ 5 | length }}")?.message, "object of type 'int' has no len()")
    }
}
