import ChatTemplate
import XCTest

/// Operators, literals, filters, tests and methods, checked against Python's results.
final class ExpressionTests: XCTestCase {
    func testArithmeticFollowsPython() {
        XCTAssertEqual(render("{{ 7 / 2 }} {{ 6 / 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} "
                              + "{{ 2 ** 10 }} {{ 2 ** -1 }} {{ 1.5 * 2 }} {{ true + true }}"),
                       "3.5 2.0 3 -4 2 -2 1024 0.5 3.0 2")
        XCTAssertEqual(render("{{ 1 + 2 * 3 ** 2 }} {{ (1 + 2) * 3 }} {{ 10 - 4 - 3 }}"), "19 9 3")
        XCTAssertEqual(renderError("{{ 1 // 0 }}")?.kind, .runtime)
        XCTAssertEqual(renderError("{{ 9223372036854775807 + 1 }}")?.message, "integer overflow in '+'")
    }

    func testFloatsPrintLikePythonRepr() {
        XCTAssertEqual(render("{{ 1.0 }} {{ 0.1 }} {{ 1e16 }} {{ 1e15 }} {{ 1.5e-5 }} {{ 0.0001 }} {{ -0.0 }} "
                              + "{{ 123456789.125 }}"),
                       "1.0 0.1 1e+16 1000000000000000.0 1.5e-05 0.0001 -0.0 123456789.125")
    }

    func testStringsListsAndConcatenation() {
        XCTAssertEqual(render("{{ 'a' + 'b' }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ 'n' ~ 1 ~ none ~ missing }}"),
                       "ab abab [1, 2] n1None")
        XCTAssertEqual(render("{{ ['a', \"it's\", 1.5, none, true] }}"), "['a', \"it's\", 1.5, None, True]")
        XCTAssertEqual(render("{{ {'k': 'v'} }}"), "{'k': 'v'}")
        XCTAssertEqual(render("{{ 'tab\\there\\n\\u00e9' }}"), "tab\there\né")
        XCTAssertEqual(renderError("{{ 'a' + 1 }}")?.kind, .runtime)
    }

    func testComparisonsMembershipAndLogic() {
        XCTAssertEqual(render("{{ 1 == 1.0 }}{{ 'a' < 'b' }}{{ 1 < 2 < 3 }}{{ 'b' in 'abc' }}{{ 2 not in [1] }}"
                              + "{{ 'k' in d }}{{ none is none }}"), "TrueTrueTrueTrueTrueFalseTrue", "'k' in an undefined d is False")
        XCTAssertEqual(render("{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ not '' }}"), "x b True")
        XCTAssertEqual(renderError("{{ 'a' < 1 }}")?.kind, .runtime)
    }

    func testSubscriptsAndSlicesCountCodePoints() {
        let context: [String: JinjaValue] = ["xs": [1, 2, 3, 4], "s": "héllo😀"]
        XCTAssertEqual(render("{{ xs[0] }}{{ xs[-1] }}[{{ xs[9] }}]{{ xs[1:3] }}{{ xs[::-1] }}{{ xs[::2] }}", context),
                       "14[][2, 3][4, 3, 2, 1][1, 3]")
        XCTAssertEqual(render("{{ s[1] }}{{ s[-1] }}{{ s[1:3] }}{{ s | length }}{{ s[::-1] }}", context),
                       "é😀él6😀olléh")
    }

    func testUndefinedSemantics() {
        XCTAssertEqual(render("[{{ x }}]{{ x is defined }}{{ x | length }}{{ x | default('d') }}"
                              + "{% for i in x %}no{% endfor %}{{ x == none }}"), "[]False0dFalse")
        XCTAssertEqual(render("[{{ d.missing }}][{{ d['missing'] }}]", ["d": [:]]), "[][]")
        let error = renderError("line1\n{{ message.content.strip() }}", ["message": [:]])
        XCTAssertEqual(error?.line, 2)
        XCTAssertTrue(error?.message.contains("'message.content' is undefined") ?? false,
                      "\(String(describing: error))")
    }

    func testStringFilters() {
        XCTAssertEqual(render("[{{ '  a b  ' | trim }}][{{ 'xxaxx' | trim('x') }}]{{ 'aB' | upper }}{{ 'aB' | lower }}"
                              + "|{{ 'hello WORLD' | capitalize }}|{{ 'hello-world foo' | title }}"),
                       "[a b][a]ABab|Hello world|Hello-World Foo")
        XCTAssertEqual(render("{{ 'a.b.c' | replace('.', '/') }} {{ 'a.b.c' | replace('.', '', 1) }}"), "a/b/c ab.c")
        XCTAssertEqual(render("{{ 'a\\nb' | indent(2) }}|{{ 'a\\nb' | indent(2, first=true) }}"), "a\n  b|  a\n  b")
        XCTAssertEqual(render("{{ '<x & \"y\">' | escape }}{{ '<ok>' | safe }}"), "&lt;x &amp; &#34;y&#34;&gt;<ok>")
        XCTAssertEqual(render("{{ '%s=%05.1f' | format('pi', 3.14159) }}"), "pi=003.1")
    }

    func testConversionFilters() {
        XCTAssertEqual(render("{{ '12' | int + 1 }} {{ 'x' | int(-1) }} {{ 3.99 | int }} {{ '2.5' | float }} "
                              + "{{ -4 | abs }} {{ 2.5 | round }} {{ 2.4567 | round(2) }} {{ 42 | string }}"),
                       "13 -1 3 2.5 4 2.0 2.46 42")
    }

    func testSequenceFilters() {
        let items: JinjaValue = [["n": "b", "v": 2], ["n": "a", "v": 1], ["n": "c", "v": 3, "on": true]]
        let context: [String: JinjaValue] = ["items": items, "xs": [3, 1, 2, 1]]
        XCTAssertEqual(render("{{ xs | length }}{{ xs | first }}{{ xs | last }}{{ xs | sum }}{{ xs | max }}{{ xs | min }}",
                              context), "431731")
        XCTAssertEqual(render("{{ xs | join('-') }} {{ xs | sort | list }} {{ xs | unique | list }} "
                              + "{{ xs | reverse | list }}", context), "3-1-2-1 [1, 1, 2, 3] [3, 1, 2] [1, 2, 1, 3]")
        XCTAssertEqual(render("{{ items | map(attribute='n') | join }} {{ items | selectattr('on') | map(attribute='n')"
                              + " | list }} {{ items | rejectattr('on') | length }} {{ items | sort(attribute='v') "
                              + "| map(attribute='n') | join }} {{ items | selectattr('v', 'gt', 1) | list | length }}",
                              context), "bac ['c'] 2 abc 2")
        XCTAssertEqual(render("{{ xs | select('odd') | list }} {{ xs | reject('odd') | list }} {{ ['a'] | map('upper')"
                              + " | list }}", context), "[3, 1, 1] [2] ['A']")
        XCTAssertEqual(render("{% for k, v in {'b': 1, 'a': 2} | dictsort %}{{ k }}{{ v }}{% endfor %}"
                              + "{% for k, v in {'b': 1} | items %}{{ k }}{{ v }}{% endfor %}"), "a2b1b1")
    }

    func testToJSONMatchesHuggingFace() {
        let value: JinjaValue = ["b": ["é", 1.5, nil, true], "a": [:]]
        XCTAssertEqual(render("{{ v | tojson }}", ["v": value]), #"{"b": ["é", 1.5, null, true], "a": {}}"#)
        XCTAssertEqual(render("{{ v | tojson(indent=2) }}", ["v": value]),
                       "{\n  \"b\": [\n    \"é\",\n    1.5,\n    null,\n    true\n  ],\n  \"a\": {}\n}")
        XCTAssertEqual(render("{{ '</s>\\n\"' | tojson }}"), #""</s>\n\"""#)
        XCTAssertEqual(render("{{ v | tojson(ensure_ascii=true, sort_keys=true) }}", ["v": ["z": "é", "a": 1]]),
                       #"{"a": 1, "z": "\u00e9"}"#)
        XCTAssertEqual(renderError("{{ missing | tojson }}")?.kind, .runtime)
    }

    func testTests() {
        XCTAssertEqual(render("{{ 1 is number }}{{ true is integer }}{{ 1 is integer }}{{ 1.0 is float }}"
                              + "{{ 's' is string }}{{ {} is mapping }}{{ [] is iterable }}{{ 1 is iterable }}"
                              + "{{ none is none }}{{ true is boolean }}{{ false is false }}{{ 0 is false }}"),
                       "TrueFalseTrueTrueTrueTrueTrueFalseTrueTrueTrueFalse")
        XCTAssertEqual(render("{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 2 is eq 2 }}{{ 2 is ne 2 }}"
                              + "{{ 'a' is in 'abc' }}{{ x is not defined }}{{ x is undefined }}"),
                       "TrueTrueTrueTrueFalseTrueTrueTrue")
    }

    func testStringMethods() {
        XCTAssertEqual(render("{{ ' a '.strip() }}|{{ 'xxa'.lstrip('x') }}|{{ 'axx'.rstrip('x') }}|"
                              + "{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('z', 'c')) }}|{{ 'a,b'.split(',') }}|"
                              + "{{ ' a  b '.split() }}|{{ 'ab'.upper() }}{{ 'AB'.lower() }}|{{ 'a b'.title() }}|"
                              + "{{ 'aa'.replace('a', 'b') }}|{{ '{}-{x}'.format(1, x=2) }}|{{ '-'.join(['a', 'b']) }}"),
                       "a|a|a|TrueTrue|['a', 'b']|['a', 'b']|ABab|A B|bb|1-2|a-b")
    }

    func testDictMethods() {
        let d: JinjaValue = ["z": 1, "a": 2]
        XCTAssertEqual(render("{{ d.keys() | list }}{{ d.values() | list }}{{ d.get('a') }}{{ d.get('q', 0) }}"
                              + "{{ d.get('q') }}", ["d": d]), "['z', 'a'][1, 2]20None")
    }

    func testMutatingMethodsAreRejected() {
        let error = renderError("{% set xs = [] %}{{ xs.append(1) }}")
        XCTAssertEqual(error?.kind, .unsupported)
        XCTAssertTrue(error?.message.contains("append") ?? false)
    }

    func testGlobals() {
        XCTAssertEqual(render("{{ range(3) | list }}{{ range(1, 7, 2) | list }}{{ dict(a=1) }}"),
                       "[0, 1, 2][1, 3, 5]{'a': 1}")
        XCTAssertEqual(render("{{ strftime_now('%Y-%m-%d %H:%M %b %B %a') }}"), "2026-01-15 09:30 Jan January Thu")
        XCTAssertEqual(renderError("{{ range(100000000) }}")?.kind, .runtime)
    }
}
