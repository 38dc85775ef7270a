"""The one filter dialect: operators, logic, nesting, errors, and SQL pushdown against Python."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from agentmem.errors import ValidationError
from agentmem.recall.filter_dialect import compile_filter, matches
from agentmem.store.filter_sql import pushdown

DOC = {
    "topic": "food", "score": 3, "flag": True, "tags": ["a", "b"], "note": "likes ramen",
    "user": {"city": "Lisbon", "age": 41}, "a.b": "literal", "none": None,
}


@pytest.mark.parametrize(
    ("flt", "want"),
    [
        ({"topic": "food"}, True),
        ({"topic": {"$eq": "food"}}, True),
        ({"topic": {"$ne": "other"}}, True),
        ({"topic": {"$ne": "food"}}, False),
        ({"missing": {"$ne": "x"}}, True),  # a missing field is not "x"
        ({"missing": {"$nin": ["x"]}}, True),
        ({"missing": None}, True),  # missing equals None (LangGraph's InMemoryStore)
        ({"missing": {"$gt": 0}}, False),
        ({"topic": {"$in": ["food", "travel"]}}, True),
        ({"topic": {"$in": []}}, False),
        ({"topic": {"$nin": ["food"]}}, False),
        ({"tags": {"$in": ["b", "z"]}}, True),  # any element listed
        ({"tags": {"$contains": "a"}}, True),
        ({"note": {"$contains": "ramen"}}, True),
        ({"note": {"$contains": "Ramen"}}, False),  # case-sensitive
        ({"score": {"$gt": 2, "$lte": 3}}, True),
        ({"score": {"$gte": 3.5}}, False),
        ({"score": {"$lt": "4"}}, False),  # number vs string: not comparable, no match
        ({"flag": 1}, False),  # True is not 1
        ({"flag": {"$gt": 0}}, False),
        ({"topic": {"$gt": "eggs"}}, True),
        ({"user": {"city": "Lisbon"}}, True),  # nested document
        ({"user.city": "Lisbon"}, True),  # dotted path
        ({"user.age": {"$gte": 40}}, True),
        ({"a.b": "literal"}, True),  # a literal dotted key wins
        ({"$or": [{"topic": "x"}, {"score": 3}]}, True),
        ({"$or": [{"topic": "x"}, {"score": 4}]}, False),
        ({"$and": [{"topic": "food"}, {"score": {"$lt": 3}}]}, False),
        ({"$not": {"topic": "food"}}, False),
        ({"topic": {"$not": {"$in": ["x", "y"]}}}, True),
        ({"$not": {"$or": [{"topic": "x"}, {"user": {"age": 41}}]}}, False),
        ({"topic": "food", "score": 4}, False),  # keys are ANDed
    ],
)
def test_operators(flt, want) -> None:  # type: ignore[no-untyped-def]
    assert matches(compile_filter(flt), DOC) is want


def test_datetimes_compare_as_datetimes() -> None:
    f = compile_filter({"at": {"$gte": datetime(2024, 1, 1, tzinfo=UTC)}})
    assert matches(f, {"at": datetime(2024, 5, 1, tzinfo=UTC)})
    assert not matches(f, {"at": "2024-05-01"})


@pytest.mark.parametrize(
    "flt",
    [
        {"topic": {"$regex": "f.*"}},
        {"$nor": [{"a": 1}]},
        {"topic": {"$in": "food"}},
        {"$or": {"a": 1}},
        {"$and": []},
        {"$not": [{"a": 1}]},
        {"topic": {"$eq": 1, "name": 2}},  # operators mixed with fields
        {"topic": {"$not": "x"}},
        "topic = food",
    ],
)
def test_bad_filters_raise(flt) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        compile_filter(flt)


def test_depth_is_bounded() -> None:
    deep: dict = {"a": 1}
    for _ in range(40):
        deep = {"$not": deep}
    with pytest.raises(ValidationError, match="too large"):
        compile_filter(deep)


# -- pushdown: SQL's answer must be Python's answer -----------------------------------------
ROWS = [
    {"id": i, "session_id": s, "agent_id": a, "role": r}
    for i, (s, a, r) in enumerate(
        [("s1", "bot", "user"), ("s1", None, "assistant"), ("s2", "bot", "user"), (None, "crm", "user"),
         ("s2", None, "tool"), (None, None, "assistant")]
    )
]
PUSHED = [
    {"session_id": "s1"},
    {"session_id": {"$ne": "s1"}},
    {"session_id": None},
    {"agent_id": {"$ne": None}},
    {"agent_id": {"$in": ["bot", "crm"]}},
    {"agent_id": {"$nin": ["bot"]}},
    {"agent_id": {"$in": []}},
    {"$not": {"agent_id": "bot"}},
    {"$or": [{"session_id": "s2"}, {"agent_id": "crm"}]},
    {"$not": {"$or": [{"session_id": "s2"}, {"role": {"$nin": ["user"]}}]}},
    {"session_id": {"$gt": "s1"}},  # not pushed (collation): Python decides
    {"role": "user", "session_id": {"$contains": "2"}},  # half pushed
    {"$or": [{"role": "tool"}, {"session_id": {"$contains": "1"}}]},  # not pushed
    {"agent_id": {"$in": ["a\x00b"]}},  # not pushed: Postgres text holds no NUL
]


@pytest.mark.parametrize("flt", PUSHED)
def test_pushdown_agrees_with_python(flt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'f.db'}")
    md = sa.MetaData()
    table = sa.Table("t", md, sa.Column("id", sa.Integer, primary_key=True),
                     *(sa.Column(c, sa.String(32)) for c in ("session_id", "agent_id", "role")))
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), ROWS)
        expr = compile_filter(flt)
        clause = pushdown(expr, {(c,): table.c[c] for c in ("session_id", "agent_id", "role")})
        q = sa.select(table.c.id, table.c.session_id, table.c.agent_id, table.c.role).order_by(table.c.id)
        if clause is not None:
            q = q.where(clause)
        fetched = [r._asdict() for r in conn.execute(q)]
    python = [r["id"] for r in ROWS if matches(expr, r)]
    assert [r["id"] for r in fetched if matches(expr, r)] == python
    if PUSHED.index(flt) < 10:  # pushed whole: SQL alone already gives the answer
        assert [r["id"] for r in fetched] == python
    elif PUSHED.index(flt) == 11:
        assert clause is not None and len(fetched) < len(ROWS)
    else:
        assert clause is None
