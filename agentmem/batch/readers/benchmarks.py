"""Parsers for benchmark datasets: LongMemEval instances and LoCoMo conversations."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from agentmem.batch.readers.records import Conversation, ReadError, Record, _Bad, _message

__all__ = ["parse_locomo", "parse_longmemeval"]


# -- LongMemEval ------------------------------------------------------------------------------
_LME_DATE = re.compile(r"(\d{4})/(\d{2})/(\d{2})(?: \(\w+\))? (\d{2}):(\d{2})")


def _lme_date(text: Any) -> datetime:
    m = _LME_DATE.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise _Bad(f"date {text!r} is not 'YYYY/MM/DD (Day) HH:MM'")
    y, mo, d, h, mi = (int(g) for g in m.groups())
    try:
        return datetime(y, mo, d, h, mi, tzinfo=UTC)
    except ValueError as exc:
        raise _Bad(f"date {text!r}: {exc}") from exc


def parse_longmemeval(item: Any, *, file: str, index: int) -> list[Record]:
    """One LongMemEval instance: its haystack sessions, each at its ``haystack_dates`` date.

    The user is the ``question_id``; turns of a session are one second apart from the
    session's date (the dataset has dates per session only).
    """
    where = f"instance {index}"
    if not isinstance(item, Mapping):
        return [ReadError(file, where, "not an object")]
    qid = item.get("question_id")
    sessions, dates = item.get("haystack_sessions"), item.get("haystack_dates")
    sids = item.get("haystack_session_ids")
    if not isinstance(qid, str | int) or not isinstance(sessions, list) or not isinstance(dates, list):
        return [ReadError(file, where, "needs 'question_id', 'haystack_sessions' and 'haystack_dates'")]
    if len(dates) != len(sessions) or (sids is not None and (not isinstance(sids, list) or len(sids) != len(sessions))):
        return [ReadError(file, where, "haystack_sessions, haystack_dates and haystack_session_ids differ in length")]
    out: list[Record] = []
    for s, session in enumerate(sessions):
        spos = f"{where} session {s}"
        sid = str(sids[s]) if sids is not None else f"{qid}:{s}"
        try:
            start = _lme_date(dates[s])
            if not isinstance(session, list):
                raise _Bad("session is not a list")
        except _Bad as exc:
            out.append(ReadError(file, spos, str(exc)))
            continue
        messages = []
        for k, turn in enumerate(session):
            if not isinstance(turn, Mapping) or turn.get("role") not in ("user", "assistant") \
                    or not isinstance(turn.get("content"), str):
                out.append(ReadError(file, f"{spos} turn {k}", "needs 'role' (user|assistant) and 'content'"))
                continue
            if not turn["content"].strip():
                continue
            messages.append(_message(f"longmemeval:{sid}:{k}", turn["role"], turn["content"],
                                     start + timedelta(seconds=k), has_answer=turn.get("has_answer")))
        if messages:
            out.append(Conversation("longmemeval", str(qid), f"longmemeval:{sid}", tuple(messages), file, spos))
    return out


# -- LoCoMo -----------------------------------------------------------------------------------
def _locomo_date(text: Any) -> datetime:
    try:
        return datetime.strptime(str(text).strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)
    except ValueError as exc:
        raise _Bad(f"session date {text!r} is not like '1:56 pm on 8 May, 2023'") from exc


def parse_locomo(item: Any, *, file: str, index: int) -> list[Record]:
    """One LoCoMo conversation: ``session_<n>`` lists at ``session_<n>_date_time``.

    Same conventions as :func:`agentmem.bench.locomo_data.load_locomo`: the user is the
    ``sample_id``, each turn is timestamped at its session's date plus ``min(i, 59)`` seconds,
    and keeps its ``dia_id`` in the metadata.
    """
    where = f"conversation {index}"
    conv = item.get("conversation") if isinstance(item, Mapping) else None
    if not isinstance(conv, Mapping):
        return [ReadError(file, where, "needs a 'conversation' object")]
    sample = str(item.get("sample_id", index))
    out: list[Record] = []
    n = 1
    while f"session_{n}" in conv:
        spos = f"{where} session_{n}"
        turns = conv[f"session_{n}"]
        try:
            start = _locomo_date(conv.get(f"session_{n}_date_time"))
            if not isinstance(turns, list):
                raise _Bad("session is not a list")
        except _Bad as exc:
            out.append(ReadError(file, spos, str(exc)))
            n += 1
            continue
        messages = []
        for i, t in enumerate(turns):
            if not isinstance(t, Mapping) or not all(isinstance(t.get(k), str) and t.get(k) for k in ("speaker", "text", "dia_id")):
                out.append(ReadError(file, f"{spos} turn {i}", "needs 'speaker', 'text' and 'dia_id' strings"))
                continue
            messages.append(_message(f"locomo:{sample}:{t['dia_id']}", "user", t["text"],
                                     start.replace(second=min(i, 59)), speaker=t["speaker"],
                                     dia_id=t["dia_id"], session=n))
        if messages:
            out.append(Conversation("locomo", sample, f"{sample}:session_{n}", tuple(messages), file, spos))
        n += 1
    if n == 1:
        out.append(ReadError(file, where, "no 'session_1'"))
    return out
