"""What the store can keep and hand back: checks on the way in, a repair on the way out.

JSON as parsed by Python admits values that no store round-trips: lone UTF-16 surrogates
(``"\\udfff"``: not encodable as UTF-8, so neither SQLite's text nor Postgres can hold them),
``NaN`` / ``Infinity`` (not JSON; Postgres ``jsonb`` refuses them), integers beyond 64 bits and
nesting deep enough to exhaust the recursion of encoders. :func:`check_value` rejects them
with a :class:`~agentmem.errors.ValidationError` before anything is written;
:func:`repair_value` makes text stored before these checks existed safe to serialize.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from agentmem.errors import ValidationError

__all__ = ["MAX_DEPTH", "MAX_INT", "check_text", "check_value", "repair_text", "repair_value"]

MAX_DEPTH = 32  # levels of nested objects/arrays in metadata
MAX_INT = 2**63 - 1  # integers must fit a signed 64-bit value


def _has_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_text(text: str, where: str) -> str:
    """``text`` unless it holds a NUL or a lone surrogate (:class:`ValidationError` then)."""
    if "\x00" in text:
        raise ValidationError(f"{where}: contains a NUL character")
    if _has_surrogate(text):
        raise ValidationError(f"{where}: contains a lone UTF-16 surrogate (not valid Unicode text)")
    return text


def check_value(value: Any, where: str, *, depth: int = 0) -> Any:
    """``value`` (JSON-like: dict, list, str, int, float, bool, None) if the store can keep it.

    Raises
    ------
    ValidationError
        A NUL or lone surrogate in a string or key, a non-finite float, an integer outside
        the signed 64-bit range, nesting deeper than :data:`MAX_DEPTH`, a non-string key or a
        type JSON cannot carry.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return check_text(value, where)
    if isinstance(value, int):
        if not -MAX_INT - 1 <= value <= MAX_INT:
            raise ValidationError(f"{where}: integer outside the signed 64-bit range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{where}: {value!r} is not a finite number (JSON has no NaN or Infinity)")
        return value
    if depth >= MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        raise ValidationError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationError(f"{where}: object keys must be strings")
            check_text(k, where)
            check_value(v, f"{where}.{k}" if k.isprintable() and len(k) < 64 else where, depth=depth + 1)
        return value
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_value(v, f"{where}[{i}]", depth=depth + 1)
        return value
    raise ValidationError(f"{where}: {type(value).__name__} is not a JSON value")


def repair_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (pairs are joined, not replaced).

    >>> repair_text("ok \\udfff") == "ok \\ufffd"
    True
    """
    if not _has_surrogate(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def repair_value(value: Any) -> Any:
    """:func:`repair_text` applied to every string and key of a JSON-like value; non-finite
    floats become ``None`` (JSON cannot carry them)."""
    if isinstance(value, str):
        return repair_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {repair_text(str(k)): repair_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [repair_value(v) for v in value]
    return value
