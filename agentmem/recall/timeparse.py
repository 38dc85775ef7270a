"""Time expressions in queries → a time window (time-aware query handling, as in LongMemEval).

``parse_time_window("what did I cook last May?", now)`` gives May 1 – June 1 of the most recent
May before ``now``. The window becomes a retrieval signal (turns inside it, ranked by
similarity) that joins fusion; it does not filter, so a wrong guess costs little.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

from agentmem.mechanisms.base import TimeWindow

__all__ = ["parse_time_window"]

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS["sept"] = 9
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "couple of": 2,
    "few": 3, "a few": 3, "several": 3,
}
_MONTH_RE = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_YEAR_RE = r"((?:19|20)\d{2})"
_NUM_RE = r"(\d+|a few|a couple of|couple of|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|few|several)"


def _month_window(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _day(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


def _shift_months(dt: datetime, months: int) -> datetime:
    y, m = divmod(dt.month - 1 + months, 12)
    return dt.replace(year=dt.year + y, month=m + 1, day=1)


def _absolute(text: str, now: datetime) -> tuple[datetime, datetime, str] | None:
    """Windows named by calendar terms: dates, month+year, month, year, relative units."""
    if m := re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", text):
        try:
            d = datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
        except ValueError:
            return None
        return d, d + timedelta(days=1), m[0]
    if m := re.search(rf"\b{_MONTH_RE}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+{_YEAR_RE}\b", text):
        return _safe_day(int(m[3]), _MONTHS[m[1][:3] if m[1][:4] != "sept" else "sept"], int(m[2]), m[0])
    if m := re.search(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_RE}\.?,?\s+{_YEAR_RE}\b", text):
        return _safe_day(int(m[3]), _MONTHS[m[2][:3]], int(m[1]), m[0])
    if m := re.search(rf"\b{_MONTH_RE}\.?,?\s+(?:of\s+)?{_YEAR_RE}\b", text):
        return (*_month_window(int(m[2]), _MONTHS[m[1][:3]]), m[0])
    if m := re.search(r"\b(yesterday|today|tonight|last night)\b", text):
        today = _day(now)
        start = today - timedelta(days=1) if m[1] in ("yesterday", "last night") else today
        return start, start + timedelta(days=1), m[0]
    if m := re.search(rf"\b{_NUM_RE}\s+(day|week|month|year)s?\s+ago\b", text):
        n = int(m[1]) if m[1].isdigit() else _NUMBERS.get(m[1].replace("a couple of", "couple of"), 1)
        unit = m[2]
        if unit == "month":
            center = _shift_months(now, -n)
            return _shift_months(center, -1), _shift_months(center, 2), m[0]
        days = {"day": 1, "week": 7, "year": 365}[unit] * n
        half = {"day": 1, "week": 4, "year": 183}[unit]
        center = _day(now) - timedelta(days=days)
        return center - timedelta(days=half), center + timedelta(days=half + 1), m[0]
    if m := re.search(r"\b(last|this|past|previous)\s+(week|month|year|weekend)\b", text):
        which, unit = m[1], m[2]
        today = _day(now)
        if unit in ("week", "weekend"):
            monday = today - timedelta(days=today.weekday())
            start = monday - timedelta(days=7) if which != "this" else monday
            if which == "past":
                return today - timedelta(days=7), today + timedelta(days=1), m[0]
            return start, start + timedelta(days=7), m[0]
        if unit == "month":
            if which == "past":
                return today - timedelta(days=31), today + timedelta(days=1), m[0]
            first = today.replace(day=1)
            start = _shift_months(first, -1) if which != "this" else first
            return start, _shift_months(start, 1), m[0]
        if which == "past":
            return today - timedelta(days=365), today + timedelta(days=1), m[0]
        year = now.year - (which != "this")
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC), m[0]
    if m := re.search(rf"\b(?:(last|this|in|during|since|before|after)\s+){_MONTH_RE}\b(?!\s+\d)", text):
        month = _MONTHS[m[2][:3]]
        year = now.year if month < now.month or (m[1] == "this") else now.year - 1
        return (*_month_window(year, month), m[0])
    if m := re.search(rf"\b{_YEAR_RE}\b", text):
        y = int(m[1])
        return datetime(y, 1, 1, tzinfo=UTC), datetime(y + 1, 1, 1, tzinfo=UTC), m[0]
    return None


def _safe_day(y: int, mo: int, d: int, src: str) -> tuple[datetime, datetime, str] | None:
    try:
        start = datetime(y, mo, d, tzinfo=UTC)
    except ValueError:
        return None
    return start, start + timedelta(days=1), src


def parse_time_window(text: str, now: datetime) -> TimeWindow | None:
    """The time window a query refers to, or ``None``.

    Parameters
    ----------
    text
        The query.
    now
        The reference time ("last May" is relative to it); timezone-aware.

    Returns
    -------
    TimeWindow or None
        ``since X`` / ``after X`` open the end, ``before X`` opens the start.

    Examples
    --------
    >>> w = parse_time_window("what did we plan in May 2023?", datetime(2024, 1, 1, tzinfo=UTC))
    >>> (w.start.date().isoformat(), w.end.date().isoformat())
    ('2023-05-01', '2023-06-01')
    """
    lowered = text.lower()
    try:
        found = _absolute(lowered, now if now.tzinfo else now.replace(tzinfo=UTC))
    except (OverflowError, ValueError):  # "10000 years ago", or a window past year 9999: no hint
        return None
    if found is None:
        return None
    start, end, src = found
    before = lowered[: lowered.find(src)] if src in lowered else ""
    if re.search(r"\b(since|after)\s*$", before) or src.startswith(("since", "after")):
        return TimeWindow(start if "since" in (before[-7:] + src[:6]) else end, None, src)
    if re.search(r"\bbefore\s*$", before) or src.startswith("before"):
        return TimeWindow(None, start, src)
    return TimeWindow(start, end, src)
