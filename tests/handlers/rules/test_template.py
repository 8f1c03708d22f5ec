"""Template semantics of SPEC §5: typed single expressions, interpolation, filters, data only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.rules.errors import TemplateError
from handlers.rules.template import compile_string, render

CONTEXT: dict[str, Any] = {
    "id": "e-1",
    "data": {
        "n": 42,
        "f": 1.5,
        "b": True,
        "z": None,
        "s": "Ana",
        "list": [1, "x"],
        "obj": {"k": "v"},
    },
    "results": {"review": {"id": "r-9"}},
    "rule": {"name": "start-review"},
    "idempotency_key": "k-1",
}


def rendered(template: str, context: dict[str, Any] = CONTEXT) -> Any:
    return render(compile_string(template), context, "rule 'r', action 0, parameter 'p'")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("{{ data.n }}", 42, id="single-keeps-int"),
        pytest.param("{{data.f}}", 1.5, id="single-no-spaces"),
        pytest.param("{{ data.b }}", True, id="single-keeps-bool"),
        pytest.param("{{ data.z }}", None, id="single-keeps-null"),
        pytest.param("{{ data.list }}", [1, "x"], id="single-keeps-list"),
        pytest.param("{{ data.obj }}", {"k": "v"}, id="single-keeps-object"),
        pytest.param("n={{ data.n }}", "n=42", id="interpolated-number"),
        pytest.param("{{ data.s }} {{ data.b }}", "Ana true", id="interpolated-bool"),
        pytest.param("[{{ data.z }}]", "[null]", id="interpolated-null"),
        pytest.param("{{ data.obj }}!", '{"k": "v"}!', id="interpolated-object"),
        pytest.param("{{ data.list.1 }}", "x", id="list-index"),
        pytest.param("{{ data.missing | default: 'none' }}", "none", id="default-missing"),
        pytest.param("{{ data.z | default: 7 }}", 7, id="default-null"),
        pytest.param("{{ data.n | default: 7 }}", 42, id="default-unused"),
        pytest.param("{{ data.missing | default: null }}", None, id="default-null-literal"),
        pytest.param("{{ data.missing | default: false }}", False, id="default-false"),
        pytest.param('{{ data.missing | default: "a|b" }}', "a|b", id="default-pipe-in-quotes"),
        pytest.param("{{ data.s | lower }}", "ana", id="lower"),
        pytest.param("{{ data.s | upper }}", "ANA", id="upper"),
        pytest.param("{{ data.n | upper }}", 42, id="upper-non-text-unchanged"),
        pytest.param("{{ data.obj | json }}", '{"k": "v"}', id="json"),
        pytest.param("{{ data.missing | default: 'X' | lower }}", "x", id="chained"),
        pytest.param("{{ results.review.id }}", "r-9", id="results"),
        pytest.param("{{ rule.name }}", "start-review", id="rule-name"),
        pytest.param("{{ idempotency_key }}", "k-1", id="idempotency-key"),
        pytest.param("plain text", "plain text", id="no-template"),
    ],
)
def test_render(template: str, expected: Any) -> None:
    assert rendered(template) == expected


def test_missing_path_without_default_names_path_and_rule() -> None:
    with pytest.raises(TemplateError) as caught:
        rendered("Hello {{ process.metadata.value.reviewer }}")
    message = str(caught.value)
    assert "rule 'r', action 0, parameter 'p'" in message
    assert "'process.metadata.value.reviewer' is missing" in message


@pytest.mark.parametrize(
    "hostile",
    ["{{ 7*7 }}", "{{ data.n }}", "{{ __class__ }}", "{% for x in y %}", "${HOME}", "../../etc"],
)
def test_event_text_is_never_evaluated(hostile: str) -> None:
    context = {"data": {"s": hostile}}
    assert rendered("{{ data.s }}", context) == hostile
    assert rendered("<{{ data.s }}>", context) == f"<{hostile}>"


def test_encode_applies_to_values_only() -> None:
    compiled = compile_string("/a/{{ data.s }}/b")
    value = render(compiled, {"data": {"s": "../x y"}}, "w", encode=lambda t: t.replace("/", "%2F"))
    assert value == "/a/..%2Fx y/b"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        pytest.param("{{ 7*7 }}", "is not a template", id="expression"),
        pytest.param("{{ a | nope }}", "unknown filter 'nope'", id="filter"),
        pytest.param("{{ a | default }}", "`| default: <literal>`", id="default-without-value"),
        pytest.param("{{ a | lower: 'x' }}", "`| lower` (no argument)", id="argument-not-taken"),
        pytest.param("{{ a", "not closed", id="unclosed"),
        pytest.param("{{ a | default: x }}", "a quoted string", id="unquoted-literal"),
        pytest.param("{{ a.__class__.__mro__ | json }} {{ }}", "is not a template", id="empty"),
    ],
)
def test_compile_errors(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_string(template)


def test_no_attribute_access_on_python_objects() -> None:
    with pytest.raises(TemplateError):
        rendered("{{ data.s.__class__ }}", {"data": {"s": "x"}})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
TEMPLATES = [
    compile_string(t)
    for t in (
        "{{ data.a }}",
        "x {{ data.a }} y {{ data.b.c | default: 1 }}",
        "{{ data.a | json }}",
        "{{ data.a.0 | lower | default: 'd' }}",
        "{{ data.b | upper | default: null }}",
    )
]


@settings(max_examples=300)
@given(data=json_values)
def test_arbitrary_json_never_crashes_the_renderer(data: Any) -> None:
    """Any document: each template renders what it says, or fails as a TemplateError."""
    rendered = []
    for template in TEMPLATES:
        try:
            rendered.append(render(template, {"data": data}, "fuzz"))
        except TemplateError:
            rendered.append(TemplateError)
    whole, interpolated, as_json, _, _ = rendered
    if isinstance(data, dict) and "a" in data:
        assert whole == data["a"]  # a lone {{ }} keeps the JSON type of what it names
        assert isinstance(as_json, str) and json.loads(as_json) == data["a"]
    else:
        assert whole is TemplateError  # a missing path without a default never renders empty
    assert interpolated is TemplateError or (
        isinstance(interpolated, str) and interpolated.startswith("x ")
    )
