"""The item store's index text: JSON paths checked against LangGraph's own implementation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentmem import ValidationError
from agentmem.items import index_text, render_value, values_at_path
from agentmem.items.legacy import legacy_entries
from agentmem.items.model import ItemPut, check_index, check_namespace, check_ttl, matches_namespace
from agentmem.items.text import tokenize_path
from agentmem.store.item_rows import LegacyItem

VALUE: dict[str, Any] = {
    "title": "noodles", "n": 2, "ok": True, "none": None, "ratio": 0.5,
    "tags": ["ramen", "udon", 3],
    "meta": {"lang": "en", "deep": {"x": [1, {"y": "z"}]}},
    "people": [{"name": "ada", "age": 36}, {"name": "bob", "pets": ["cat"]}],
    "empty": {}, "blank": "",
}
PATHS = [
    "$", "title", "n", "ok", "none", "ratio", "tags", "tags[*]", "tags[0]", "tags[-1]", "tags[9]", "tags[x]",
    "meta", "meta.lang", "meta.deep.x[1].y", "meta.*", "*", "people[*].name", "people[*].pets[*]",
    "people[1].pets", "{title,meta.lang}", "{title,missing,people}", "people[*].{name,age}", "missing",
    "missing.deeper", "title[0]", "empty", "blank",
]


def _as_langgraph(found: Any) -> str:
    """How LangGraph's get_text_at_path spells one selected value."""
    if isinstance(found, dict | list):
        return json.dumps(found, sort_keys=True, ensure_ascii=False)
    return str(found)


@pytest.mark.parametrize("path", PATHS)
def test_values_at_path_select_what_langgraph_selects(path: str) -> None:
    embed = pytest.importorskip("langgraph.store.base.embed")
    assert tokenize_path(path) == embed.tokenize_path(path)
    assert [_as_langgraph(v) for v in values_at_path(VALUE, path)] == embed.get_text_at_path(VALUE, path)


def test_index_text_renders_selected_values_as_lines() -> None:
    assert index_text({"title": "noodles", "tags": ["ramen", "udon"]}, ["title", "tags[*]"]) == (
        "noodles\nramen\nudon", True)
    assert index_text({"food": {"likes": ["ramen", "pho"]}, "n": 1}, ["$"]) == ("food.likes: ramen, pho\nn: 1", True)
    assert index_text({"food": {"likes": "ramen"}}, ["food"]) == ("likes: ramen", True)
    assert index_text({"other": 1}, ["missing"]) == ("other: 1", False)  # kept, unranked
    assert index_text({"a": "x"}, None) == ("a: x", False)  # index=False
    assert index_text({}, ["$"]) == ("{}", False)
    assert render_value({"a": [{"b": 1}, {"b": None}]}) == ["a[0].b: 1"]


def test_validation_of_puts() -> None:
    assert check_index(None) == ["$"] and check_index(False) is None and check_index(("a", "b")) == ["a", "b"]
    for bad in ([], "title", [""], [1]):
        with pytest.raises(ValidationError):
            check_index(bad)
    for bad_ttl in (0, -1, True, float("nan"), 1e9, "5"):
        with pytest.raises(ValidationError):
            check_ttl(bad_ttl)
    for ns in ("ada", ["a.b"], ["a", ""], [1], ["a\x00"], ["x" * 256]):
        with pytest.raises(ValidationError):
            check_namespace(ns)
    assert check_namespace([], allow_empty=True) == ()
    assert ItemPut(("a",), "k", None).index is None


def test_namespace_conditions() -> None:
    assert matches_namespace(("a", "b", "f"), ("a", "*", "f"), "prefix")
    assert not matches_namespace(("a", "b"), ("a", "b", "c"), "prefix")
    assert matches_namespace(("a", "b", "d", "i"), ("*", "i"), "suffix")
    assert matches_namespace(("x",), (), "suffix")
    with pytest.raises(ValidationError):
        matches_namespace(("a",), ("a",), "infix")  # type: ignore[arg-type]


def test_legacy_rows_become_entries_with_their_timestamps() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        LegacyItem("acme", "ada", ("ada", "prefs"), "food", {"likes": "ramen"}, now - timedelta(days=2),
                   now - timedelta(days=1), None, None),
        LegacyItem("acme", "ada", ("ada", "s"), "draft", {"t": "x"}, now, now, now + timedelta(minutes=5), 5.0),
        LegacyItem("acme", "bob", ("bob",), "gone", {"t": "y"}, now, now, now - timedelta(minutes=1), 1.0),
    ]
    groups = legacy_entries(rows, now)
    assert set(groups) == {("acme", "ada")}  # bob's only row has expired
    (ns, key, text, meta, at), second = groups[("acme", "ada")]
    assert (ns, key, text, at) == (("ada", "prefs"), "food", "likes: ramen", now - timedelta(days=1))
    assert meta["created_at"] == (now - timedelta(days=2)).isoformat() and meta["ttl"] is None
    assert second[3]["expires_at"] == (now + timedelta(minutes=5)).isoformat() and second[3]["ttl"] == 5.0
