"""Input the store cannot keep is refused before anything is written; what is stored exports."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from agentmem import ValidationError
from agentmem.recall.timeparse import parse_time_window
from agentmem.storable import MAX_DEPTH, check_value, repair_text, repair_value
from agentmem.store import schema as tables


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


BAD_VALUES = [
    "\udfff", "ok \ud800", {"\udfff": 1}, "nul\x00", float("nan"), float("inf"), -float("inf"),
    2**63, -(2**63) - 1, 10**5000, _nested(MAX_DEPTH + 1), {1: "x"}, object(), b"bytes",
]


@pytest.mark.parametrize("value", BAD_VALUES, ids=range(len(BAD_VALUES)))
def test_check_value_refuses_what_the_store_cannot_keep(value: object) -> None:
    with pytest.raises(ValidationError):
        check_value({"k": value}, "metadata")


@pytest.mark.parametrize("value", ["héllo 😀", 2**63 - 1, -(2**63), 1.5, None, True, _nested(MAX_DEPTH - 1), []])
def test_check_value_keeps_what_round_trips(value: object) -> None:
    assert check_value({"k": value}, "metadata") == {"k": value}


def test_repair_replaces_lone_surrogates_and_keeps_pairs() -> None:
    assert repair_text("a\udfffb") == "a\ufffdb"
    assert repair_text("\ud83d\ude00") == "😀"
    assert repair_value({"k\ud800": ["\udfff", float("nan"), 3]}) == {"k\ufffd": ["\ufffd", None, 3]}


@pytest.mark.parametrize(
    "query", ["what did I do 10000 years ago", "99999999999 days ago", "5000000 months ago", "1000000 weeks ago"]
)
def test_time_parsing_is_total(query: str) -> None:
    assert parse_time_window(query, datetime(2024, 5, 1, tzinfo=UTC)) is None


@pytest.mark.parametrize("now", [datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC)])
def test_time_parsing_at_the_ends_of_the_calendar(now: datetime) -> None:
    for q in ("yesterday", "today", "last week", "last month", "this year", "in May", "2 years ago"):
        parse_time_window(q, now)  # a window or None, never an exception


@pytest.fixture
def mem(make_memory):  # type: ignore[no-untyped-def]
    m = make_memory()
    m.add([{"role": "user", "content": "I keep bees in Porto.", "metadata": {"hive": "😀 two"}}], user_id="u")
    return m


def _count(mem) -> int:  # type: ignore[no-untyped-def]
    return len(mem.memories(user_id="u"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"messages": [{"role": "user", "content": "x", "metadata": {"k": "\udfff"}}]},
        {"messages": [{"role": "user", "content": "lone \ud800"}]},
        {"messages": [{"speaker": "ann\udfff", "content": "x"}]},
        {"messages": [{"role": "user", "content": "x"}], "metadata": {"k": float("nan")}},
        {"messages": [{"role": "user", "content": "x", "metadata": {"k": float("inf")}}]},
        {"messages": [{"role": "user", "content": "x", "metadata": {"k": 10**30}}]},
        {"messages": [{"role": "user", "content": "x", "metadata": {"k": _nested(5000)}}]},
        {"messages": [{"role": "user", "content": "x", "timestamp": "9999-12-31T23:59:59-14:00"}]},
        {"messages": [{"role": "user", "content": "x", "timestamp": "0001-01-01T00:00:00+14:00"}]},
        {"messages": [{"role": "user", "content": "x"}], "session_id": "s\udfff"},
    ],
)
def test_unstorable_input_raises_and_stores_nothing(mem, kwargs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        mem.add(user_id="u", **kwargs)
    assert _count(mem) == 1


def test_search_input_out_of_range(mem) -> None:  # type: ignore[no-untyped-def]
    assert mem.search("what did I do 10000 years ago", user_id="u")
    assert mem.search("bees yesterday", user_id="u", now=datetime.min.replace(tzinfo=UTC)) is not None
    for filters in ({"after": "0001-01-01T00:00:00+14:00"}, {"before": "9999-12-31T23:59:59-14:00"},
                    {"after": 1e300}, {"metadata": {"k": "\udfff"}}):
        with pytest.raises(ValidationError):
            mem.search("bees", user_id="u", filters=filters)
    with pytest.raises(ValidationError):
        mem.search("bees \udfff", user_id="u")
    with pytest.raises(ValidationError):
        mem.import_(io.StringIO('{"role": "user", "content": "x", "metadata": {"k": NaN}}\n'), user_id="u")
    assert _count(mem) == 1


def test_export_import_round_trip(mem, make_memory) -> None:  # type: ignore[no-untyped-def]
    mem.add([{"role": "user", "content": "Emoji 😀 and ünïcödé", "metadata": {"n": 2**63 - 1, "f": 1.5,
                                                                          "deep": _nested(MAX_DEPTH - 2)}}],
            user_id="u")
    buf = io.StringIO()
    mem.export(buf, user_id="u")
    other = make_memory()
    assert other.import_(io.StringIO(buf.getvalue()), user_id="u") == 2
    again = io.StringIO()
    other.export(again, user_id="u")
    strip = [{k: v for k, v in json.loads(line).items() if k != "id"} for line in buf.getvalue().splitlines()]
    assert strip == [{k: v for k, v in json.loads(line).items() if k != "id"}
                     for line in again.getvalue().splitlines()]


def test_a_poisoned_row_stored_earlier_still_exports_as_json(mem) -> None:  # type: ignore[no-untyped-def]
    # a row written before input was checked (the JSON column escapes the surrogate)
    with mem.services.sql.begin() as conn:
        conn.execute(sa.update(tables.turns).values(meta={"k": "\udfff", "n": float("nan")}))
    buf = io.StringIO()
    mem.export(buf, user_id="u")
    record = json.loads(buf.getvalue(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert record["metadata"] == {"k": "\ufffd", "n": None}
    assert mem.search("bees", user_id="u")
