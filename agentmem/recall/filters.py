"""``search(filters=...)`` over turns → :class:`TurnFilter`, validated.

The dialect is :mod:`agentmem.recall.filter_dialect`; here it meets the fields of a turn:

* ``session_id`` (alias ``run_id``, mem0's name), ``agent_id``, ``speaker``, ``role``,
  ``content``, ``id`` and ``timestamp`` (compared as dates: ISO strings, datetimes, epoch
  seconds);
* ``metadata`` — ``{"metadata": {"topic": "food"}}`` or ``"metadata.topic"``;
* any other top-level key is a metadata key, as in mem0 (``{"topic": {"$ne": "work"}}``);
* ``after`` (inclusive) / ``before`` (exclusive): dates bounding ``timestamp``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from agentmem.errors import ValidationError
from agentmem.mechanisms.base import TimeWindow, TurnFilter, turn_document
from agentmem.normalize import parse_timestamp
from agentmem.recall.filter_dialect import (
    All,
    AnyOf,
    Condition,
    Expr,
    Not,
    compile_filter,
    conjuncts,
)
from agentmem.storable import check_value

__all__ = ["TURN_FIELDS", "parse_filters", "turn_document", "with_scopes"]

TURN_FIELDS = ("id", "session_id", "agent_id", "speaker", "role", "content", "timestamp", "metadata")
_ALIASES = {"run_id": "session_id"}
_FAST = ("session_id", "speaker", "role")  # masked inside the turn index itself


def _date(arg: Any) -> Any:
    if isinstance(arg, tuple):
        return tuple(_date(a) for a in arg)
    return None if arg is None else parse_timestamp(arg, where="filter 'timestamp'")


def _to_turn_fields(expr: Expr) -> Expr:
    """Rename aliases, send unknown fields to ``metadata`` and parse dates for ``timestamp``."""
    if isinstance(expr, All):
        return All(tuple(_to_turn_fields(p) for p in expr.parts))
    if isinstance(expr, AnyOf):
        return AnyOf(tuple(_to_turn_fields(p) for p in expr.parts))
    if isinstance(expr, Not):
        return Not(_to_turn_fields(expr.part))
    head, rest = expr.path[0], expr.path[1:]
    if "." in head and head.split(".", 1)[0] in (*TURN_FIELDS, *_ALIASES):
        head, *more = head.split(".")
        rest = (*more, *rest)
    head = _ALIASES.get(head, head)
    path = (head, *rest) if head in TURN_FIELDS else ("metadata", head, *rest)
    arg = expr.arg
    if path == ("timestamp",) and expr.op != "$contains":
        arg = _date(arg)
    return Condition(path, expr.op, arg)


def _as_json(value: Any) -> Any:
    """``value`` with datetimes as ISO strings (a filter may compare dates)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(v) for v in value]
    return value


def with_scopes(filters: Mapping[str, Any] | None, *, agent_id: str | None = None,
                run_id: str | None = None) -> Mapping[str, Any] | None:
    """``filters`` ANDed with ``agent_id`` / ``run_id`` given as arguments (mem0's
    ``search(query, user_id=..., agent_id=...)``)."""
    scopes = {k: v for k, v in (("agent_id", agent_id), ("run_id", run_id)) if v is not None}
    if not scopes:
        return filters
    if filters is None:
        return scopes
    if not isinstance(filters, Mapping):
        raise ValidationError("filters must be a mapping")
    out = dict(filters)
    both = out.get("$and", [])
    if not isinstance(both, list | tuple):
        raise ValidationError("$and takes a non-empty list of filters")
    out["$and"] = [*both, scopes]  # beside after / before, which stay top-level keys
    return out


def parse_filters(filters: Mapping[str, Any] | None) -> TurnFilter:
    """Validate a filters mapping (see the module docstring) and split it for the indexes.

    Top-level equality on ``session_id`` / ``speaker`` / ``role`` and the ``after`` / ``before``
    window are masked inside the turn index; everything else is the filter's ``where``
    expression, which the facade resolves to the set of matching turns before searching.

    Raises
    ------
    ValidationError
        Not a mapping, an unknown operator, a malformed date, ``after`` not before ``before``.
    """
    if filters is None:
        return TurnFilter()
    if not isinstance(filters, Mapping):
        raise ValidationError("filters must be a mapping")
    spec = {k: v for k, v in filters.items() if k not in ("after", "before")}
    if spec.get("metadata") in (None, {}):  # no restriction (what older clients send)
        spec.pop("metadata", None)
    elif "metadata" in spec and not isinstance(spec["metadata"], Mapping):
        raise ValidationError("filter 'metadata' must be a mapping")
    check_value(_as_json(spec), "filters")  # storable text and numbers only (no NUL, NaN, ...)
    after = parse_timestamp(filters["after"], where="filter 'after'") if filters.get("after") is not None else None
    before = parse_timestamp(filters["before"], where="filter 'before'") if filters.get("before") is not None else None
    if after and before and after >= before:
        raise ValidationError("filter 'after' must be earlier than 'before'")
    window = TimeWindow(after, before, "filters") if (after or before) else None
    if not spec:
        return TurnFilter(window=window)
    fast: dict[str, str] = {}
    rest: list[Expr] = []
    for part in conjuncts(_to_turn_fields(compile_filter(spec))):
        if (isinstance(part, Condition) and part.op == "$eq" and len(part.path) == 1
                and part.path[0] in _FAST and isinstance(part.arg, str) and part.path[0] not in fast):
            fast[part.path[0]] = part.arg
        else:
            rest.append(part)
    where = None if not rest else rest[0] if len(rest) == 1 else All(tuple(rest))
    return TurnFilter(
        session_id=fast.get("session_id"), speaker=fast.get("speaker"), role=fast.get("role"),
        window=window, where=where,
    )
