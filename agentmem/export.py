"""The JSONL form of a user's memories: what :meth:`agentmem.Memory.export` writes and
:meth:`agentmem.Memory.import_` reads (one turn a line)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from agentmem.errors import ValidationError
from agentmem.storable import repair_value
from agentmem.types import Turn

__all__ = ["read_records", "turn_record", "write_turns"]


def turn_record(t: Turn) -> dict[str, Any]:
    """The JSONL form of a turn (what :meth:`Memory.export` writes)."""
    return {
        "id": t.metadata.get("message_id", t.id),
        "session_id": t.scope.session_id,
        "speaker": t.speaker,
        "role": t.role,
        "content": t.content,
        "timestamp": t.timestamp.isoformat(),
        "metadata": {k: v for k, v in t.metadata.items() if k != "message_id"},
    }


def write_turns(turns: Iterable[Turn], dest: str | Path | IO[str]) -> int:
    """Write ``turns`` as JSONL to a path or an open text file; returns the count."""
    n = 0
    fh = open(dest, "w", encoding="utf-8") if isinstance(dest, str | Path) else dest  # noqa: SIM115
    try:
        for t in turns:
            # repair_value: text stored before input was checked stays exportable JSON
            fh.write(json.dumps(repair_value(turn_record(t)), ensure_ascii=False, allow_nan=False) + "\n")
            n += 1
    finally:
        if isinstance(dest, str | Path):
            fh.close()
    return n


def read_records(src: str | Path | IO[str]) -> dict[str | None, list[dict[str, Any]]]:
    """The records of a JSONL file grouped by ``session_id``, in file order.

    Raises
    ------
    ValidationError
        A line that is not JSON, or not a JSON object.
    """
    fh = open(src, encoding="utf-8") if isinstance(src, str | Path) else src  # noqa: SIM115
    try:
        records = []
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValidationError(f"line {n}: not JSON ({exc.msg})") from exc
    finally:
        if isinstance(src, str | Path):
            fh.close()
    by_session: dict[str | None, list[dict[str, Any]]] = {}
    for r in records:
        if not isinstance(r, dict):
            raise ValidationError("each JSONL line must be an object")
        by_session.setdefault(r.get("session_id"), []).append(r)
    return by_session
