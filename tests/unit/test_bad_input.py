"""Bad input raises typed errors and leaves stored data intact."""

from __future__ import annotations

import pytest

from agentmem import AgentMemError, NotFoundError, ValidationError

GOOD = [{"role": "user", "content": "I live in Lisbon.", "id": "g1"}]


@pytest.fixture
def mem(make_memory):  # type: ignore[no-untyped-def]
    m = make_memory(max_message_chars=2000, max_messages_per_call=50)
    m.add(GOOD, user_id="u")
    return m


def stored(mem) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.content for t in mem.memories(user_id="u")]


@pytest.mark.parametrize(
    "messages",
    [
        [],
        "",
        "   ",
        [{"role": "user", "content": ""}],
        [{"role": "user"}],
        [{"content": "no role or speaker"}],
        [{"role": "wizard", "content": "x"}],
        [{"role": "user", "content": 42}],
        [{"role": "user", "content": "x", "timestamp": "not a date"}],
        [{"role": "user", "content": "x", "timestamp": True}],
        [{"role": "user", "content": "x", "metadata": "nope"}],
        [{"role": "user", "content": "nul\x00byte"}],
        [{"role": "user", "content": "x" * 2001}],
        [{"role": "user", "content": "ok"}] * 51,
        [GOOD[0], {"role": "user", "content": ""}],  # one bad message: the whole batch is refused
        [object()],
        42,
    ],
)
def test_malformed_messages_raise_and_store_nothing(mem, messages) -> None:  # type: ignore[no-untyped-def]
    before = stored(mem)
    with pytest.raises(ValidationError):
        mem.add(messages, user_id="u")
    assert stored(mem) == before


@pytest.mark.parametrize("user", ["", "  ", None, 5, "x" * 300, "a\x00b"])
def test_bad_user_ids(mem, user) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        mem.add(GOOD, user_id=user)
    with pytest.raises(ValidationError):
        mem.search("x", user_id=user)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"query": ""},
        {"query": "x", "k": 0},
        {"query": "x", "k": 10_001},
        {"query": "x", "k": "5"},
        {"query": "x", "filters": {"colour": {"$like": "red"}}},
        {"query": "x", "filters": {"$nor": [{"colour": "red"}]}},
        {"query": "x", "filters": {"colour": {"$in": "red"}}},
        {"query": "x", "filters": {"timestamp": {"$gt": "last week"}}},
        {"query": "x", "filters": {"after": "2024-05-01", "before": "2024-01-01"}},
        {"query": "x", "filters": {"metadata": ["a"]}},
        {"query": "x" * 3000},
    ],
)
def test_bad_search_arguments(mem, kwargs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        mem.search(user_id="u", **kwargs)


def test_unknown_ids_and_bad_updates(mem) -> None:  # type: ignore[no-untyped-def]
    before = stored(mem)
    for call in (
        lambda: mem.get("nope", user_id="u"),
        lambda: mem.delete("nope", user_id="u"),
        lambda: mem.update("nope", "text", user_id="u"),
    ):
        with pytest.raises(NotFoundError):
            call()
    tid = mem.memories(user_id="u")[0].id
    with pytest.raises(ValidationError):
        mem.update(tid, "", user_id="u")
    with pytest.raises(ValidationError):
        mem.update(tid, "y" * 5000, user_id="u")
    with pytest.raises(ValidationError):
        mem.recall("x", user_id="u", token_budget=0)
    assert stored(mem) == before


def test_errors_form_one_tree() -> None:
    assert issubclass(ValidationError, AgentMemError) and issubclass(NotFoundError, AgentMemError)
    assert issubclass(ValidationError, ValueError)  # plays well with callers catching ValueError


def test_bad_import_line_names_its_position(mem, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "bad.jsonl"
    p.write_text('{"role": "user", "content": "fine"}\n{not json\n')
    with pytest.raises(ValidationError, match="line 2"):
        mem.import_(p, user_id="u")
    assert stored(mem) == ["I live in Lisbon."]
