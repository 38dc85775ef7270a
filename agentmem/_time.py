"""UTC helpers: stored naive-UTC in SQL, handed out timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime

from agentmem.errors import ValidationError


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_db(dt: datetime) -> datetime:
    """Aware or naive (taken as UTC) → naive UTC for storage."""
    return as_utc(dt).replace(tzinfo=None)


def from_db(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def as_utc(dt: datetime) -> datetime:
    """``dt`` in UTC (naive taken as UTC).

    Raises
    ------
    ValidationError
        The UTC instant is outside years 1–9999 (``9999-12-31T23:59:59-14:00``).
    """
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValidationError(f"{dt.isoformat()} is outside the representable range in UTC") from exc
