import ChatTemplate
import XCTest

/// Whitespace handling, statements and scoping.
final class SyntaxTests: XCTestCase {
    func testTrimBlocksDropsTheNewlineAfterABlockTag() {
        XCTAssertEqual(render("{% if true %}\nA\n{% endif %}\nB"), "A\nB")
        XCTAssertEqual(render("{# note #}\nA"), "A")
        XCTAssertEqual(render("{{ 'x' }}\nA"), "x\nA", "output tags keep their newline")
    }

    func testLstripBlocksRemovesIndentationBeforeBlockTagsOnly() {
        XCTAssertEqual(render("A\n    {% if true %}B{% endif %}"), "A\nB")
        XCTAssertEqual(render("A\n    {{ 'B' }}"), "A\n    B")
        XCTAssertEqual(render("A {% if true %}B{% endif %}"), "A B", "not at a line start")
        XCTAssertEqual(render("A\n    {%+ if true %}B{% endif %}"), "A\n    B")
    }

    func testMinusStripsAllWhitespaceOnItsSide() {
        XCTAssertEqual(render("A \n\n {{- 'B' -}} \n\n C"), "ABC")
        XCTAssertEqual(render("A\n{%- if true -%}\n  B  \n{%- endif %}"), "AB")
    }

    func testOneTrailingNewlineIsDroppedAndLineEndingsNormalized() {
        XCTAssertEqual(render("A\n"), "A")
        XCTAssertEqual(render("A\n\n"), "A\n")
        XCTAssertEqual(render("A\r\nB\rC"), "A\nB\nC")
    }

    func testCommentsAndRaw() {
        XCTAssertEqual(render("a{# {{ x }} #}b"), "ab")
        XCTAssertEqual(render("{% raw %}{{ x }}{% endraw %}"), "{{ x }}")
    }

    func testIfElifElse() {
        let t = "{% if n > 1 %}many{% elif n == 1 %}one{% else %}none{% endif %}"
        XCTAssertEqual(render(t, ["n": 3]), "many")
        XCTAssertEqual(render(t, ["n": 1]), "one")
        XCTAssertEqual(render(t, ["n": 0]), "none")
    }

    func testLoopVariables() {
        XCTAssertEqual(
            render("{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}"
                   + "{{ loop.last }}{{ loop.length }} {% endfor %}"),
            "103TrueFalse3 212FalseFalse3 321FalseTrue3 ")
        XCTAssertEqual(render("{% for x in [1, 2] %}{{ loop.previtem }}|{{ loop.nextitem }};{% endfor %}"), "|2;1|;")
    }

    func testLoopFilterElseBreakContinue() {
        XCTAssertEqual(render("{% for x in range(6) if x is even %}{{ x }}/{{ loop.length }} {% endfor %}"),
                       "0/3 2/3 4/3 ")
        XCTAssertEqual(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty")
        XCTAssertEqual(render("{% for x in range(9) %}{% if x == 1 %}{% continue %}{% endif %}"
                              + "{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"), "023")
    }

    func testUnpackingInForAndSet() {
        XCTAssertEqual(render("{% for k, v in d.items() %}{{ k }}={{ v }} {% endfor %}", ["d": ["b": 1, "a": 2]]),
                       "b=1 a=2 ")
        XCTAssertEqual(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21")
        XCTAssertNotNil(renderError("{% set a, b = [1, 2, 3] %}"))
    }

    func testSetInsideLoopDoesNotLeakButNamespaceDoes() {
        XCTAssertEqual(render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}"), "1")
        XCTAssertEqual(render("{% set ns = namespace(x=1) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}"
                              + "{% endfor %}{{ ns.x }}"), "4")
        XCTAssertEqual(render("{% if true %}{% set y = 5 %}{% endif %}{{ y }}"), "5", "if does not scope")
    }

    func testBlockSetFilterBlockAndWith() {
        XCTAssertEqual(render("{% set s | upper %}hi {{ 'you' }}{% endset %}{{ s }}"), "HI YOU")
        XCTAssertEqual(render("{% filter trim %}  x  {% endfilter %}"), "x")
        XCTAssertEqual(render("{% with a = 2 %}{{ a * 2 }}{% endwith %}{{ a is defined }}"), "4False")
    }

    func testMacrosWithDefaultsKeywordsAndCallBlocks() {
        let macro = "{% macro tag(name, body='-', close=true) %}<{{ name }}>{{ body }}{% if close %}</{{ name }}>"
            + "{% endif %}{% endmacro %}"
        XCTAssertEqual(render(macro + "{{ tag('a') }}{{ tag('b', 'x') }}{{ tag('c', close=false) }}"),
                       "<a>-</a><b>x</b><c>-")
        XCTAssertEqual(render("{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}in{% endcall %}"),
                       "[in]")
        XCTAssertNotNil(renderError("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}"), "too many arguments")
    }

    func testUnboundedMacroRecursionIsAnErrorNotACrash() {
        let error = renderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        XCTAssertEqual(error?.kind, .runtime)
        XCTAssertTrue(error?.message.contains("nested more than") ?? false, "\(String(describing: error))")
    }

    func testGenerationBlockRendersItsBody() {
        XCTAssertEqual(render("{% generation %}answer{% endgeneration %}"), "answer")
    }

    func testInlineIfAndUndefinedElse() {
        XCTAssertEqual(render("{{ 'a' if x else 'b' }}|{{ 'a' if x }}|", ["x": false]), "b||")
    }
}
