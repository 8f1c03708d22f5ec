"""The rule index: selective, in file order, and never drops a rule that matches."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.rules import paths
from handlers.rules.index import RuleIndex
from handlers.rules.match import Node, compile_when
from handlers.rules.source import Source


def compile_all(patterns: list[dict[str, Any]]) -> list[Node]:
    nodes = []
    for pattern in patterns:
        source = Source(data=pattern)
        node = compile_when(source, pattern, ())
        assert node is not None, source.problems
        nodes.append(node)
    return nodes


def test_lookup_is_selective_and_ordered() -> None:
    patterns: list[dict[str, Any]] = [
        {"type": "PROCESS_ITEM.CREATED", "data.processItemDefinitionCode": f"CODE_{i}"}
        for i in range(1000)
    ]
    patterns.append({"data.processItemDefinitionCode": {"prefix": "CODE_1"}})  # not indexable
    patterns.append({"type": ["PROCESS.CREATED", "PROCESS.STATE_CHANGED"]})
    patterns.append({"data.processItemDefinitionCode": {"regex": "CODE_1.*"}})  # not indexable
    index = RuleIndex(compile_all(patterns))
    event = {"type": "PROCESS_ITEM.CREATED", "data": {"processItemDefinitionCode": "CODE_17"}}
    assert candidates(index, event) == [17, 1000, 1002]
    assert candidates(index, {"type": "PROCESS.STATE_CHANGED", "data": {}}) == [1001, 1002]


def candidates(index: RuleIndex, event: dict[str, Any]) -> list[int]:
    lookup = index.lookup(event)
    assert not lookup.deferred
    return sorted(lookup.direct)


def test_numbers_and_booleans_meet_as_json_does() -> None:
    index = RuleIndex(compile_all([{"data.n": 1}, {"data.n": True}, {"data.n": "1"}]))
    assert candidates(index, {"data": {"n": 1.0}}) == [0]
    assert candidates(index, {"data": {"n": True}}) == [1]
    assert candidates(index, {"data": {"n": ["x", "1"]}}) == [2]


def test_rules_told_apart_by_fetched_data_wait_for_it() -> None:
    patterns: list[dict[str, Any]] = [
        {"type": "PROCESS.STATE_CHANGED", "process.processDefinitionRef.code": f"P{i}"}
        for i in range(100)
    ]
    index = RuleIndex(compile_all(patterns))
    assert index.lookup({"type": "PROCESS.CREATED"}).deferred == []  # no fetch needed
    lookup = index.lookup({"type": "PROCESS.STATE_CHANGED"})
    assert lookup.direct == set()
    assert lookup.roots == {"process"}
    enriched = {
        "type": "PROCESS.STATE_CHANGED",
        "process": {"processDefinitionRef": {"code": "P42"}},
    }
    assert lookup.after_enrichment(enriched) == {42}


values = st.sampled_from(["A", "AB", "B", "C", 1, 2.0, True, None])
conditions = st.dictionaries(
    st.sampled_from(["type", "data.a", "data.b", "process.c"]),
    st.one_of(
        values,
        st.lists(values, min_size=1, max_size=3),
        st.sampled_from(
            [{"prefix": "A"}, {"prefix": ""}, {"prefix": "AB"}, ["B", {"prefix": "A"}]]
        ),
    ),
    max_size=3,
)
events = st.fixed_dictionaries(
    {
        "type": values,
        "data": st.fixed_dictionaries({"a": values, "b": st.one_of(values, st.lists(values))}),
        "process": st.fixed_dictionaries({"c": values}),
    }
)


@settings(max_examples=500)
@given(patterns=st.lists(conditions, max_size=12), event=events)
def test_index_never_drops_a_matching_rule(patterns: list[dict[str, Any]], event: Any) -> None:
    nodes = compile_all(patterns)
    unenriched = {k: v for k, v in event.items() if k != "process"}
    lookup = RuleIndex(nodes).lookup(unenriched)
    found = lookup.direct | lookup.after_enrichment(event)
    for position, node in enumerate(nodes):
        if node.evaluate(event, paths.MATCH_ROOTS):
            assert position in found
