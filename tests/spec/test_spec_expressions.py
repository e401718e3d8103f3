"""`{{ }}` expressions: values, functions, operators, strictness, sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from assay.errors import DefinitionError, ExpressionError
from assay.spec import evaluate, is_truthy, references, render, simplify, to_string

CONTEXT: dict[str, Any] = {
    "config": {
        "smoke": True,
        "vus": 2,
        "duration": "2s",
        "workers": 3,
        "name": "it's me",
        "ratio": 0.5,
        "tags": ["a", "b"],
        "empty": "",
    },
    "env": {"CI": "true", "HOME": "/root"},
    "execution": {"id": "6650f1", "name": "smoke-12", "number": 12},
    "workflow": {"name": "smoke"},
    "matrix": {"browser": "chrome", "case": {"id": "c1", "data": {"x": 1}}},
    "shard": {"testFiles": ["cypress/e2e/a.cy.js", "cypress/e2e/sub/b.cy.js"]},
    "services": {
        "db": [{"ip": "10.0.0.9"}],
        "slave": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
    },
    "index": 1,
    "count": 3,
}


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("config.vus", 2),
        ("config.smoke", True),
        ("env.CI", "true"),
        ("env.UNSET", ""),
        ("execution.id", "6650f1"),
        ("execution.name", "smoke-12"),
        ("execution.number", 12),
        ("workflow.name", "smoke"),
        ("matrix.browser", "chrome"),
        ("matrix.case.data.x", 1),
        ("matrix.case.title", None),
        ("index", 1),
        ("count", 3),
        ("services.db.0.ip", "10.0.0.9"),
        ("services.slave.*.ip", ["10.0.0.1", "10.0.0.2"]),
        ("{{ workflow.name }}", "smoke"),
    ],
)
def test_values(expr: str, expected: Any) -> None:
    assert evaluate(expr, CONTEXT) == expected


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('config.smoke == true && env.CI != ""', True),
        ('config.smoke == false || env.CI == ""', False),
        ("!config.smoke", False),
        ("!(config.vus > 5)", True),
        ("config.vus != 2", False),
        ("config.vus <> 3", True),
        ("config.vus = 2", True),
        ('config.vus == "2"', True),
        ('true == "true"', True),
        ("index + 1", 2),
        ("count - index", 2),
        ("config.vus * 3", 6),
        ("7 / 2", 3.5),
        ("7 % 4", 3),
        ("2 ** 10", 1024),
        ("-config.vus + 1", -1),
        ('"v" + config.vus', "v2"),
        ('"a" + "b"', "ab"),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ('config.workers > 2 ? "many" : "few"', "many"),
        ("config.vus >= 2 && config.vus <= 2", True),
        ('config.empty || "fallback"', "fallback"),
        ("matrix.case.title || matrix.case.id", "c1"),
        ("config.smoke && config.vus", 2),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ('{"a": [true]}', {"a": [True]}),
        ("'single' + \"double\"", "singledouble"),
        ("true || false && false", False),  # && and || share one priority, left to right
    ],
)
def test_operators(expr: str, expected: Any) -> None:
    assert evaluate(expr, CONTEXT) == expected


def test_logic_is_lazy_with_unknown_right_side() -> None:
    assert evaluate("false && nope", {}) is False
    assert evaluate("true || nope", {}) is True
    assert evaluate('true ? "yes" : nope', {}) == "yes"


# --------------------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("shellquote(config.name)", "'it'\"'\"'s me'"),
        ("shellquote(config.vus)", "2"),
        ('shellquote("a b", "c")', "'a b' c"),
        ("shellquote(config.tags)", "a b"),
        ('shellquote(list("x y", ""))', "'x y' ''"),
        ("shellparse(\"a 'b c' d\")", ["a", "b c", "d"]),
        ("join(config.tags)", "a,b"),
        ('join(config.tags, " | ")', "a | b"),
        ('split("a,b,c")', ["a", "b", "c"]),
        ('split("a;b", ";")', ["a", "b"]),
        ("tojson(matrix.case)", '{"data":{"x":1},"id":"c1"}'),
        ('json("{\\"k\\": [1, 2]}")', {"k": [1, 2]}),
        ("tostring(config.ratio)", "0.5"),
        ("string(config.smoke)", "true"),
        ('toint("42")', 42),
        ('int("3.9")', 3),
        ('tofloat("1.5")', 1.5),
        ('tobool("off")', False),
        ('tobool("yes")', True),
        ('bool("")', False),
        ('trim("  x  ")', "x"),
        ('lower("ABC")', "abc"),
        ('upper("abc")', "ABC"),
        ('default(env.NOPE, "d")', "d"),
        ('default(config.undefined_param, "d")', "d"),
        ('default(config.vus, "d")', 2),
        ("len(config.tags)", 2),
        ('len("abc")', 3),
        ("len(matrix.case)", 2),
        ('len(list("a", "b", "c"))', 3),
        ("at(config.tags, 1)", "b"),
        ('at(matrix.case, "id")', "c1"),
        ("range(3)", [0, 1, 2]),
        ("chunk(list(1, 2, 3), 2)", [[1, 2], [3]]),
        ("floor(2.7)", 2),
        ("ceil(2.1)", 3),
        ("round(2.5)", 3),
        ('map(config.tags, "upper(_.value)")', ["A", "B"]),
        ('filter(list(1, 2, 3, 4), "_.value % 2 == 0")', [2, 4]),
        (
            'join(map(shard.testFiles, "relpath(_.value, \\"cypress/e2e\\")"), ", ")',
            "a.cy.js, sub/b.cy.js",
        ),
        ('abspath("b", "/data/repo")', "/data/repo/b"),
    ],
)
def test_functions(expr: str, expected: Any) -> None:
    assert evaluate(expr, CONTEXT) == expected


def test_extra_functions_can_be_supplied() -> None:
    functions = {"secret": lambda name, key: f"{name}/{key}"}
    assert evaluate('secret("db", "password")', {}, functions=functions) == "db/password"


# --------------------------------------------------------------------------- rendering


def test_render_conformance_style_strings() -> None:
    text = (
        "k6 run --vus {{ shellquote(config.vus) }} --duration {{ shellquote(config.duration) }} "
        "--execution-segment {{ index }}/{{ count }}:{{ index + 1 }}/{{ count }}"
    )
    assert render(text, CONTEXT) == "k6 run --vus 2 --duration 2s --execution-segment 1/3:2/3"
    assert render("jmeter -R {{services.slave.*.ip}}", CONTEXT) == "jmeter -R 10.0.0.1,10.0.0.2"
    assert render("http://{{ services.db.0.ip }}:5432", CONTEXT) == "http://10.0.0.9:5432"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (None, ""),
        (3, "3"),
        (3.0, "3"),
        (0.25, "0.25"),
        (["a", 1, True], "a,1,true"),
        ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'),
        ("plain", "plain"),
    ],
)
def test_render_value_formatting(value: Any, text: str) -> None:
    assert render("{{ v }}", {"v": value}) == text
    assert to_string(value) == text


def test_render_keeps_text_around_and_handles_braces_in_strings() -> None:
    assert render('a {{ "}}" }} b {{ "{{" }} c', {}) == "a }} b {{ c"
    assert render("no expressions here", {}) == "no expressions here"
    assert render("{{ env.HOME }}/x {{ env.HOME }}/y", CONTEXT) == "/root/x /root/y"


FALSY: list[Any] = ["", "false", "0", "off", 0, 0.0, None, [], {}, False]
TRUTHY: list[Any] = ["true", "yes", "no", "1", 1, -1, [0], {"a": 0}, True, "False "]


def test_is_truthy() -> None:
    for value in FALSY:
        assert not is_truthy(value), value
    for value in TRUTHY:
        assert is_truthy(value), value


# --------------------------------------------------------------------------- strictness


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{{ nope }}", "unknown variable 'nope'"),
        ("{{ config.typo }}", "unknown variable 'config.typo'"),
        ("{{ glob('*.js') }}", "unknown function glob()"),
        ("{{ 1 / 0 }}", "cannot divide by zero"),
        ('{{ "a" < 1 }}', "cannot convert 'a' to a number"),
        ("{{ foo( }}", "invalid expression 'foo('"),
        ("{{ a ++ }}", "invalid expression"),
        ("{{ x.y", "unterminated expression"),
        ("{{ }}", "empty expression"),
        ("{{ ...list }}", "spread operator"),
        ('{{ int("x") }}', "cannot convert 'x'"),
    ],
)
def test_strict_errors_name_the_expression(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        render(text, CONTEXT)
    assert fragment in str(info.value)
    assert isinstance(info.value, DefinitionError)


def test_error_message_quotes_the_expression() -> None:
    with pytest.raises(ExpressionError, match=r"expression 'config\.vus \+ missing\.value'"):
        render("x {{ config.vus + missing.value }} y", CONTEXT)


def test_evaluate_is_strict() -> None:
    with pytest.raises(ExpressionError, match="unknown variable 'passed'"):
        evaluate("passed && config.smoke", CONTEXT)


def test_non_strict_render_leaves_or_simplifies_unknowns() -> None:
    ctx = {"config": {"n": 2, "name": "x"}}
    text = (
        "{{ config.n * count }} {{ execution.id }}{{ config.name }} {{services.a.*.ip}} {{ foo( }}"
    )
    assert render(text, ctx, strict=False) == (
        "{{ 2 * count }} {{ execution.id }}x {{services.a.*.ip}} {{ foo( }}"
    )


def test_simplify_partially_resolves() -> None:
    assert simplify("passed && config.enabled", {"config": {"enabled": False}})[:2] == (
        "passed && false",
        False,
    )
    assert simplify("config.workers", {"config": {"workers": 2}}) == ("2", True, 2)
    assert simplify("config.on ? a : b", {"config": {"on": True}}) == ("a", False, None)
    assert simplify("unknown.thing", {}) == ("unknown.thing", False, None)


def test_references() -> None:
    assert references("{{ config.a }} and {{ shellquote(config.b) + env.X }}") == {
        "config.a",
        "config.b",
        "env.X",
    }
    assert references("config.on && passed", template=False) == {"config.on", "passed"}


# --------------------------------------------------------------------------- sandbox


HOSTILE = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ config.__class__ }}",
    "{{ config.__init__.__globals__ }}",
    "{{ env.__dict__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__.os.popen('id').read() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ namespace }}",
    "{{ range(10).__class__ }}",
    "{{ '' | attr('__class__') }}",
    "{{ config.items() }}",
    "{{ {% set x = 1 %} }}",
    "{{ request.application }}",
    "{{ config.pop('vus') }}",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_sandbox_escapes_raise(text: str) -> None:
    ctx = {**CONTEXT, "config": dict(CONTEXT["config"])}
    with pytest.raises(ExpressionError):
        render(text, ctx)
    assert ctx["config"] == CONTEXT["config"]  # nothing was mutated


@pytest.mark.parametrize("text", [t for t in HOSTILE if "__" in t and "attr(" not in t])
def test_forbidden_names_raise_even_when_not_strict(text: str) -> None:
    with pytest.raises(ExpressionError, match="is not allowed"):
        render(text, CONTEXT, strict=False)


def test_non_strict_leaves_unparsable_text_untouched() -> None:
    text = "{{ '' | attr('__class__') }}"
    assert render(text, CONTEXT, strict=False) == text


def test_python_objects_in_the_context_expose_nothing() -> None:
    class Secretive:
        password = "hunter2"

        def method(self) -> str:
            return "called"

    with pytest.raises(ExpressionError):
        evaluate("obj.password", {"obj": Secretive()})
    with pytest.raises(ExpressionError):
        evaluate("obj.method", {"obj": Secretive()})


@pytest.mark.parametrize(
    "expr",
    [
        "range(100000000)",
        "10 ** 100000",
        "(" * 500 + "1" + ")" * 500,
        "!" * 5000 + "true",
        "1" + " + 1" * 20000,
    ],
)
def test_resource_limits(expr: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expr, {})


def test_string_growth_is_bounded() -> None:
    ctx = {"s": "x" * 4_000_000}
    with pytest.raises(ExpressionError, match="longer than"):
        evaluate("s + s + s", ctx)
