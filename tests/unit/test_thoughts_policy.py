"""Pure parts of thought memory: the policies and post-thinking prompt/parsing/derivation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from agentmem.errors import ExtractionError
from agentmem.mechanisms.thoughts import policy as p
from agentmem.mechanisms.thoughts.extract import (
    POST_THINKING,
    derive_thoughts,
    parse_thoughts,
    post_think,
)
from agentmem.types import Scope, Thought

T0 = datetime(2024, 1, 1, tzinfo=UTC)
S = Scope("t", "u")


def th(id: str, triple=(None, None, None), recalls=0, created=T0, recalled=None, valid_to=None) -> Thought:
    s, r, o = triple
    return Thought(id, S, id, s, r, o, created_at=created, updated_at=created, last_recalled_at=recalled,
                   recall_count=recalls, valid_from=created, valid_to=valid_to)


def test_contradiction_and_same_fact_are_normalized():
    live = [th("a", ("The User", "lives in", "Paris")), th("b", ("the user", "works at", "ACME")),
            th("c", ("the user", "lives in", "Paris"), valid_to=T0)]
    assert p.contradicted("the  user", "Lives In", "Berlin", live) == ["a"]
    assert p.contradicted("the user", "lives in", "paris", live) == []
    assert p.contradicted(None, None, None, live) == []
    assert p.same_fact("THE USER", "lives in", " paris ", live) == "a"


def test_merge_target_uses_threshold_and_skips_excluded():
    near = [("x", 0.97), ("y", 0.93), ("z", 0.5)]
    assert p.merge_target(near, 0.9) == "x"
    assert p.merge_target(near, 0.9, exclude=["x"]) == "y"
    assert p.merge_target(near, 0.95, exclude=["x"]) is None
    assert p.merge_target([], 0.9) is None


def test_merged_keeps_provenance_of_both():
    t = Thought("a", S, "text", source_ids=("t1", "t2"), merged_from=("old",), created_at=T0)
    m = p.merged(t, "new", ["t2", "t3"], T0 + timedelta(1))
    assert m.source_ids == ("t1", "t2", "t3") and m.merged_from == ("old", "new")
    assert m.text == "text" and m.updated_at == T0 + timedelta(1) and m.created_at == T0


def test_capacity_least_recalled_then_oldest():
    live = [th("a", recalls=3, created=T0), th("b", recalls=0, created=T0 + timedelta(2)),
            th("c", recalls=0, created=T0 + timedelta(1)), th("d", recalls=1, created=T0)]
    assert p.capacity_victims(live, 2) == ["c", "b"]
    assert p.capacity_victims(live, 2, protect=["c"]) == ["b", "d"]
    assert p.capacity_victims(live, 4) == []
    # a recent recall makes a thought "active" even if it was created long ago
    live2 = [th("x", recalls=1, created=T0, recalled=T0 + timedelta(9)), th("y", recalls=1, created=T0 + timedelta(5))]
    assert p.capacity_victims(live2, 1) == ["y"]


def test_stale_by_ttl():
    live = [th("a", created=T0), th("b", created=T0 + timedelta(20)), th("c", created=T0, recalled=T0 + timedelta(25))]
    now = T0 + timedelta(31)
    assert p.stale(live, now, timedelta(days=30)) == ["a"]
    assert p.stale(live, now, None) == []
    assert p.stale(live, now, timedelta(days=30), protect=["a"]) == []


def test_prompt_is_data_with_todays_date():
    msgs = POST_THINKING.render(today="2031-02-03", query="Q?", response="R.")
    assert msgs[0][0] == "system" and "2031-02-03" in msgs[0][1]
    assert "Q?" in msgs[1][1] and "R." in msgs[1][1]
    with pytest.raises(ValueError):
        POST_THINKING.render(today="x", query="q")


def test_parse_thoughts():
    got = parse_thoughts('Sure:\n[{"thought": " The user  likes tea. ", "subject": "the user", "relation": "likes", "object": "tea"},'
                         ' {"thought": "Half triple.", "subject": "x"}, "Plain string thought."]')
    assert [g.text for g in got] == ["The user likes tea.", "Half triple.", "Plain string thought."]
    assert got[0].triple() == ("the user", "likes", "tea") and got[1].triple() is None
    assert parse_thoughts("[]") == []
    for bad in ("no list here", "[{\"thought\": 3}]", "[1, 2]", "[{bad json}]"):
        with pytest.raises(ExtractionError):
            parse_thoughts(bad)


def test_post_think_translates_model_errors():
    class Boom:
        def generate(self, messages):
            raise TimeoutError("slow")

    with pytest.raises(ExtractionError) as err:
        post_think(Boom(), "q", "r", today=date(2024, 1, 1))
    assert isinstance(err.value.__cause__, TimeoutError)


def test_derive_thoughts_offline():
    got = derive_thoughts("I moved to Berlin last week.", "Bob works at Google. You like jazz.")
    triples = [g.triple() for g in got]
    assert ("Bob", "works at", "Google") in triples
    assert any(t is not None and t[0] == "the user" for t in triples)
    assert all(g.text.endswith(".") for g in got)
    assert derive_thoughts("hi", "hello") == []
    assert derive_thoughts("Bob works at Google.", "Bob works at Google.") == derive_thoughts("", "Bob works at Google.")
