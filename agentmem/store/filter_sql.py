"""Push the part of a filter expression that SQL can answer exactly into a ``WHERE`` clause.

:func:`pushdown` returns a clause every matching row satisfies (a necessary condition), or
``None``; the caller still tests the full expression in Python, so a partial pushdown only
saves reading rows. Pushed: ``$eq $ne $in $nin`` with string arguments on plain string
columns, and ``$and`` / ``$or`` / ``$not`` of those. Not pushed (tested in Python only):
JSON metadata, ordering comparisons (collations differ between SQLite and Postgres),
``$contains`` (``LIKE`` is case-insensitive in SQLite). Arguments are always bound
parameters.

Each pushed clause is two-valued (never SQL ``NULL``), so ``NOT`` and ``OR`` keep Python's
meaning for rows where the column is ``NULL`` (a missing field equals ``None``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from agentmem.recall.filter_dialect import All, Condition, Expr, Not

__all__ = ["pushdown"]

Columns = Mapping[tuple[str, ...], sa.ColumnElement[Any]]


def _exact(expr: Expr, columns: Columns) -> sa.ColumnElement[bool] | None:
    """A clause equivalent to ``expr`` on every row, or ``None`` when SQL cannot say it."""
    if isinstance(expr, Condition):
        col = columns.get(expr.path)
        if col is None:
            return None
        if expr.op in ("$eq", "$ne"):
            if expr.arg is None:
                is_null = col.is_(None)
                return is_null if expr.op == "$eq" else sa.not_(is_null)
            if not isinstance(expr.arg, str) or "\x00" in expr.arg:  # Postgres text holds no NUL
                return None
            eq = sa.and_(col.is_not(None), col == expr.arg)
            return eq if expr.op == "$eq" else sa.or_(col.is_(None), col != expr.arg)
        if expr.op in ("$in", "$nin"):
            values = list(expr.arg)
            if not all(isinstance(v, str) and "\x00" not in v for v in values):
                return None
            inside = sa.and_(col.is_not(None), col.in_(values)) if values else sa.false()
            return inside if expr.op == "$in" else sa.not_(inside)
        return None
    if isinstance(expr, Not):
        inner = _exact(expr.part, columns)
        return None if inner is None else sa.not_(inner)
    parts = [_exact(p, columns) for p in expr.parts]
    if any(p is None for p in parts):
        return None
    if not parts:  # an empty AND is true, an empty OR false
        return sa.true() if isinstance(expr, All) else sa.false()
    return sa.and_(*parts) if isinstance(expr, All) else sa.or_(*parts)  # type: ignore[arg-type]


def pushdown(expr: Expr | None, columns: Columns) -> sa.ColumnElement[bool] | None:
    """A ``WHERE`` clause implied by ``expr`` over ``columns`` (field path → column), or ``None``.

    An AND pushes the parts it can; an OR or NOT is pushed only when exact.
    """
    if expr is None:
        return None
    exact = _exact(expr, columns)
    if exact is not None:
        return exact
    if isinstance(expr, All):
        parts = [c for c in (pushdown(p, columns) for p in expr.parts) if c is not None]
        return sa.and_(*parts) if parts else None
    return None
