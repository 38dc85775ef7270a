"""The one filter dialect of agentmem: compile a filter mapping, then test documents against it.

Used by ``Memory.search`` / ``recall`` / ``memories`` (over turns), the LangGraph item store and
the sidecar's ``/store`` routes (over item values), hence the REST API, the Python client and
the LangChain retriever, which pass filters through.

Grammar (MongoDB-style, as in mem0 and LangGraph)::

    filter    := { field: value | {op: arg, ...}, ..., "$and": [filter, ...],
                   "$or": [filter, ...], "$not": filter }
    op        := $eq $ne $gt $gte $lt $lte $in $nin $contains $not

* A field is a key of the document; ``"a.b"`` and ``{"a": {"b": ...}}`` both reach the nested key
  ``b`` of ``a`` (a literal key ``"a.b"`` in the document wins over the nested reading).
* A plain value means ``$eq``; the keys of one mapping are ANDed.
* ``$gt``/``$gte``/``$lt``/``$lte`` compare numbers with numbers, strings with strings and
  datetimes with datetimes; anything else (a missing field, ``"a"`` against ``1``, booleans)
  does not match.
* ``$in``/``$nin`` take a list; a list-valued field matches ``$in`` when any element is listed.
* ``$contains``: a substring of a string field, or an element of a list field.
* A missing field equals ``None``; so ``$ne`` and ``$nin`` match it (as in MongoDB and mem0).

Any other ``$`` key is a :class:`~agentmem.errors.ValidationError`.

>>> f = compile_filter({"metadata": {"topic": {"$in": ["food", "travel"]}}, "score": {"$gte": 3}})
>>> matches(f, {"metadata": {"topic": "food"}, "score": 4})
True
>>> matches(f, {"metadata": {"topic": "work"}, "score": 4})
False
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentmem.errors import ValidationError

__all__ = ["OPERATORS", "All", "AnyOf", "Condition", "Expr", "Not", "compile_filter", "conjuncts", "matches"]

_MAX_DEPTH = 32
_MAX_NODES = 1000


@dataclass(frozen=True, slots=True)
class Condition:
    """``path op arg``: one test of one (possibly nested) field."""

    path: tuple[str, ...]
    op: str
    arg: Any


@dataclass(frozen=True, slots=True)
class All:
    """Every part matches (``$and``, or the keys of one mapping)."""

    parts: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one part matches (``$or``)."""

    parts: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The part does not match (``$not``)."""

    part: Expr


Expr = Condition | All | AnyOf | Not

_MISSING = object()


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _ordered(a: Any, b: Any) -> tuple[Any, Any] | None:
    """``(a, b)`` when the two may be ordered against each other, else ``None``."""
    if _number(a) and _number(b):
        return a, b
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a, b
    return None


def _cmp(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def run(actual: Any, arg: Any) -> bool:
        pair = _ordered(actual, arg)
        return pair is not None and test(*pair)
    return run


def _eq(actual: Any, arg: Any) -> bool:
    if actual is _MISSING:  # a missing field equals None, as in LangGraph's InMemoryStore
        actual = None
    if isinstance(actual, bool) != isinstance(arg, bool):  # True is not 1 here
        return False
    return bool(actual == arg)


def _in(actual: Any, arg: Sequence[Any]) -> bool:
    if isinstance(actual, list | tuple):
        return any(_eq(a, w) for a in actual for w in arg)
    return any(_eq(actual, w) for w in arg)


def _contains(actual: Any, arg: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(arg, str) and arg in actual
    if isinstance(actual, list | tuple):
        return any(_eq(a, arg) for a in actual)
    return False


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": _eq,
    "$ne": lambda a, b: not _eq(a, b),
    "$gt": _cmp(lambda a, b: a > b),
    "$gte": _cmp(lambda a, b: a >= b),
    "$lt": _cmp(lambda a, b: a < b),
    "$lte": _cmp(lambda a, b: a <= b),
    "$in": _in,
    "$nin": lambda a, b: not _in(a, b),
    "$contains": _contains,
}
_LOGICAL = ("$and", "$or", "$not")


def _is_ops(value: Any) -> bool:
    """Whether a mapping is a set of operators (``{"$gt": 1}``) rather than a nested document."""
    if not isinstance(value, Mapping) or not value:
        return False
    dollar = [isinstance(k, str) and k.startswith("$") for k in value]
    if any(dollar) and not all(dollar):
        raise ValidationError(f"filter {dict(value)!r} mixes operators and field names")
    return all(dollar)


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0

    def spend(self, depth: int) -> None:
        self.nodes += 1
        if depth > _MAX_DEPTH or self.nodes > _MAX_NODES:
            raise ValidationError(f"filter is too large (at most {_MAX_DEPTH} levels and {_MAX_NODES} conditions)")


def compile_filter(spec: Mapping[str, Any]) -> Expr:
    """Validate a filter mapping and compile it to an expression tree.

    Raises
    ------
    ValidationError
        The filter is not a mapping, uses an unknown operator, gives ``$in`` a non-list,
        ``$and``/``$or`` a non-list, or is deeper than 32 levels.
    """
    if not isinstance(spec, Mapping):
        raise ValidationError("filters must be a mapping")
    return _document(spec, (), _Budget(), 0)


def _document(spec: Mapping[str, Any], prefix: tuple[str, ...], budget: _Budget, depth: int) -> Expr:
    budget.spend(depth)
    parts: list[Expr] = []
    for key, value in spec.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"filter keys must be non-empty strings, got {key!r}")
        if key in ("$and", "$or"):
            if not isinstance(value, list | tuple) or not value:
                raise ValidationError(f"{key} takes a non-empty list of filters")
            subs = []
            for sub in value:
                if not isinstance(sub, Mapping):
                    raise ValidationError(f"{key} takes a list of filter mappings")
                subs.append(_document(sub, prefix, budget, depth + 1))
            parts.append(All(tuple(subs)) if key == "$and" else AnyOf(tuple(subs)))
        elif key == "$not":
            if not isinstance(value, Mapping):
                raise ValidationError("$not takes a filter mapping")
            parts.append(Not(_document(value, prefix, budget, depth + 1)))
        elif key.startswith("$"):
            raise ValidationError(f"unknown filter operator {key!r}; use one of {[*_LOGICAL, *OPERATORS]}")
        else:
            path = (*prefix, key)
            if _is_ops(value):
                parts.append(_operators(path, value, budget, depth + 1))
            elif isinstance(value, Mapping) and value:
                parts.append(_document(value, path, budget, depth + 1))
            else:
                budget.spend(depth + 1)
                parts.append(Condition(path, "$eq", value))
    return parts[0] if len(parts) == 1 else All(tuple(parts))  # {} is All(()): everything


def _operators(path: tuple[str, ...], ops: Mapping[str, Any], budget: _Budget, depth: int) -> Expr:
    parts: list[Expr] = []
    for op, arg in ops.items():
        budget.spend(depth)
        if op == "$not":
            if not _is_ops(arg):
                raise ValidationError("a field's $not takes operators, e.g. {'$not': {'$eq': 1}}")
            parts.append(Not(_operators(path, arg, budget, depth + 1)))
            continue
        if op not in OPERATORS:
            raise ValidationError(f"unknown filter operator {op!r}; use one of {[*_LOGICAL, *OPERATORS]}")
        if op in ("$in", "$nin"):
            if not isinstance(arg, list | tuple):
                raise ValidationError(f"{op} takes a list")
            arg = tuple(arg)
        parts.append(Condition(path, op, arg))
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _lookup(doc: Any, path: tuple[str, ...]) -> Any:
    if not path:
        return doc
    if not isinstance(doc, Mapping):
        return _MISSING
    for cut in range(len(path), 0, -1):  # a literal dotted key first
        key = ".".join(path[:cut])
        if key in doc:
            found = _lookup(doc[key], path[cut:])
            if found is not _MISSING:
                return found
    return _MISSING


def _resolve(doc: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    dotted = tuple(p for part in path for p in part.split("."))
    return _lookup(doc, dotted)


def matches(expr: Expr, doc: Mapping[str, Any]) -> bool:
    """Whether ``doc`` satisfies ``expr`` (from :func:`compile_filter`)."""
    if isinstance(expr, Condition):
        return OPERATORS[expr.op](_resolve(doc, expr.path), expr.arg)
    if isinstance(expr, All):
        return all(matches(p, doc) for p in expr.parts)
    if isinstance(expr, AnyOf):
        return any(matches(p, doc) for p in expr.parts)
    return not matches(expr.part, doc)


def conjuncts(expr: Expr) -> list[Expr]:
    """The top-level AND parts of an expression (itself when it is not an AND)."""
    if isinstance(expr, All):
        return [c for p in expr.parts for c in conjuncts(p)]
    return [expr]
