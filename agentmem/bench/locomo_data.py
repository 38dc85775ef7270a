"""Reading the LoCoMo file (snap-research/LoCoMo ``locomo10.json`` layout) for benchmarks."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["LocomoConversation", "LocomoQuestion", "LocomoTurn", "load_locomo"]

_DIA = re.compile(r"D(\d+):(\d+)")


@dataclass(frozen=True, slots=True)
class LocomoTurn:
    dia_id: str
    session: int
    speaker: str
    text: str
    timestamp: datetime

    def message(self) -> dict[str, object]:
        """The turn as a :meth:`Memory.add` message; its ``dia_id`` is the message id."""
        return {"speaker": self.speaker, "content": self.text, "timestamp": self.timestamp, "id": self.dia_id}


@dataclass(frozen=True, slots=True)
class LocomoQuestion:
    question: str
    category: int
    evidence: tuple[str, ...]  # valid dia_ids present in the conversation


@dataclass(frozen=True, slots=True)
class LocomoConversation:
    sample_id: str
    turns: tuple[LocomoTurn, ...]
    questions: tuple[LocomoQuestion, ...]

    def sessions(self) -> dict[int, list[LocomoTurn]]:
        out: dict[int, list[LocomoTurn]] = {}
        for t in self.turns:
            out.setdefault(t.session, []).append(t)
        return out


def _session_date(text: str) -> datetime:
    # "1:56 pm on 8 May, 2023"
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def load_locomo(path: str | Path, *, categories: tuple[int, ...] = (1, 2, 3, 4)) -> list[LocomoConversation]:
    """Conversations with their turns (session date as timestamp, one second apart) and the
    questions of ``categories`` whose evidence names at least one existing turn.

    Malformed evidence ids (``"D"``, ``"D:11:26"``, ``"D8:6; D9:17"`` …) are split on ``;``
    and kept only when they match ``D<session>:<turn>`` and name a turn of the conversation.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    convs: list[LocomoConversation] = []
    for item in data:
        conv = item["conversation"]
        turns = []
        n = 1
        while f"session_{n}" in conv:
            start = _session_date(conv[f"session_{n}_date_time"])
            for i, t in enumerate(conv[f"session_{n}"]):
                turns.append(
                    LocomoTurn(t["dia_id"], n, t["speaker"], t["text"], start.replace(second=min(i, 59)))
                )
            n += 1
        known = {t.dia_id for t in turns}
        questions = []
        for q in item["qa"]:
            if q.get("category") not in categories:
                continue
            ev = [e.strip() for raw in q.get("evidence", []) for e in raw.split(";")]
            ev = [e for e in ev if _DIA.fullmatch(e) and e in known]
            if ev:
                questions.append(LocomoQuestion(q["question"], int(q["category"]), tuple(dict.fromkeys(ev))))
        convs.append(LocomoConversation(str(item.get("sample_id", len(convs))), tuple(turns), tuple(questions)))
    return convs


def session_of(dia_id: str) -> int:
    m = _DIA.fullmatch(dia_id)
    if m is None:
        raise ValueError(f"not a LoCoMo dialogue id: {dia_id!r}")
    return int(m[1])
