"""``search(filters=...)`` → :class:`TurnFilter`, validated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmem.errors import ValidationError
from agentmem.mechanisms.base import TimeWindow, TurnFilter
from agentmem.normalize import parse_timestamp
from agentmem.storable import check_text, check_value

__all__ = ["parse_filters"]

_KEYS = {"session_id", "speaker", "role", "after", "before", "metadata"}


def parse_filters(filters: Mapping[str, Any] | None) -> TurnFilter:
    """Validate a filters mapping.

    Keys: ``session_id``, ``speaker``, ``role`` (exact match), ``after`` / ``before``
    (datetime, ISO string or epoch seconds; ``after`` inclusive, ``before`` exclusive) and
    ``metadata`` (a mapping of key → value, all of which must be equal).
    """
    if filters is None:
        return TurnFilter()
    if not isinstance(filters, Mapping):
        raise ValidationError("filters must be a mapping")
    unknown = set(filters) - _KEYS
    if unknown:
        raise ValidationError(f"unknown filter keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    for key in ("session_id", "speaker", "role"):
        if key in filters and filters[key] is not None:
            if not isinstance(filters[key], str):
                raise ValidationError(f"filter {key!r} must be a string")
            check_text(filters[key], f"filter {key!r}")
    meta = filters.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise ValidationError("filter 'metadata' must be a mapping")
    check_value(meta, "filter 'metadata'")
    after = parse_timestamp(filters["after"], where="filter 'after'") if filters.get("after") is not None else None
    before = parse_timestamp(filters["before"], where="filter 'before'") if filters.get("before") is not None else None
    if after and before and after >= before:
        raise ValidationError("filter 'after' must be earlier than 'before'")
    return TurnFilter(
        session_id=filters.get("session_id"),
        speaker=filters.get("speaker"),
        role=filters.get("role"),
        window=TimeWindow(after, before, "filters") if (after or before) else None,
        metadata=dict(meta),
    )
