"""Readers for conversation archives: ChatGPT and Claude exports, LongMemEval, LoCoMo, JSONL.

Every reader is a generator over one file that yields, in file order, either a
:class:`Conversation` (one session of one user: messages with stable ids and their original
timestamps, ready for :meth:`agentmem.Memory.add`) or a :class:`ReadError` (file, position,
reason) for a malformed record — never an exception for bad data and never a silent skip.
Messages that are legitimately empty (a ChatGPT tool call, a system node with no text) are
counted in :attr:`Conversation.empty`, not reported as errors.

Parsing is separated from I/O: ``parse_*`` functions turn one decoded JSON item into records
(pure, unit-testable), and :func:`iter_json_array` streams the items of a top-level JSON
array (a ChatGPT export is one large array) without loading the whole file.

Message ids are the export's own ids where it has them (ChatGPT node ids, Claude message
uuids) and ``"<source>:<conversation>:<index>"`` otherwise, so re-reading a file yields the
same ids and :meth:`~agentmem.Memory.add` stores every message exactly once.

The JSONL turn format (one message a line, ``docs/batch.md``)::

    {"session_id": "s1", "role": "user", "content": "hi", "timestamp": "2024-05-01T09:00:00Z",
     "id": "m1", "user": "ada", "speaker": "Ada", "metadata": {...}}

``session_id`` (or ``conversation``) and ``content`` (or ``text``) are required; ``role`` or
``speaker`` names who spoke. Consecutive lines of one session form one record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from agentmem.batch.readers.benchmarks import parse_locomo, parse_longmemeval
from agentmem.batch.readers.exports import parse_chatgpt, parse_claude
from agentmem.batch.readers.jsonl import read_jsonl
from agentmem.batch.readers.jsonstream import iter_json_array
from agentmem.batch.readers.records import (
    FORMATS,
    Conversation,
    Format,
    ReadError,
    ReadProgress,
    Record,
)
from agentmem.errors import ValidationError

__all__ = [
    "FORMATS",
    "Conversation",
    "Format",
    "ReadError",
    "ReadProgress",
    "Record",
    "detect_format",
    "expand_paths",
    "iter_json_array",
    "parse_chatgpt",
    "parse_claude",
    "parse_locomo",
    "parse_longmemeval",
    "read_file",
    "read_jsonl",
    "read_paths",
]


# -- files and detection ----------------------------------------------------------------------
_PARSERS: dict[str, Callable[..., list[Record]]] = {
    "chatgpt": parse_chatgpt,
    "claude": parse_claude,
    "longmemeval": parse_longmemeval,
    "locomo": parse_locomo,
}


def _sniff_item(item: Any) -> Format | None:
    if not isinstance(item, Mapping):
        return None
    if "mapping" in item:
        return "chatgpt"
    if "chat_messages" in item:
        return "claude"
    if "haystack_sessions" in item:
        return "longmemeval"
    if "conversation" in item and isinstance(item["conversation"], Mapping):
        return "locomo"
    return None


def detect_format(path: str | Path) -> Format:
    """The format of ``path``: ``.jsonl`` files are JSONL; JSON arrays by their first item's keys.

    Raises
    ------
    ValidationError
        The file is neither JSONL nor a JSON array whose first item looks like a known format.
    """
    p = Path(path)
    if p.suffix.lower() in (".jsonl", ".ndjson"):
        return "jsonl"
    with open(p, encoding="utf-8") as fh:
        for got in iter_json_array(fh):
            if isinstance(got, str):
                raise ValidationError(f"{p}: cannot detect the format: {got}")
            fmt = _sniff_item(got[1])
            if fmt is None:
                break
            return fmt
    raise ValidationError(
        f"{p}: cannot detect the format (expected a ChatGPT/Claude export, LongMemEval, LoCoMo "
        "or .jsonl); pass --format"
    )


def read_file(path: str | Path, fmt: Format | Literal["auto"] = "auto",
              *, progress: ReadProgress | None = None) -> Iterator[Record]:
    """Records of one file, in file order (see the module docstring)."""
    p = Path(path)
    name = str(p)
    try:
        kind = detect_format(p) if fmt == "auto" else fmt
    except (ValidationError, OSError, UnicodeDecodeError) as exc:
        yield ReadError(name, "file", str(exc))
        return
    try:
        with open(p, encoding="utf-8") as fh:
            if kind == "jsonl":
                yield from read_jsonl(fh, file=name, progress=progress)
                return
            parse = _PARSERS[kind]
            for got in iter_json_array(fh, progress=progress):
                if isinstance(got, str):
                    yield ReadError(name, got.split(":")[0], f"malformed JSON: {got}")
                    return
                yield from parse(got[1], file=name, index=got[0])
    except (OSError, UnicodeDecodeError) as exc:
        yield ReadError(name, "file", f"cannot read: {exc}")


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Files named, and ``*.json`` / ``*.jsonl`` files under directories named, sorted."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in (".json", ".jsonl", ".ndjson")))
        else:
            out.append(p)
    return out


def read_paths(paths: list[str | Path], fmt: Format | Literal["auto"] = "auto",
               *, progress: ReadProgress | None = None) -> Iterator[Record]:
    """Records of every file in ``paths`` (directories expanded), in a deterministic order."""
    for p in expand_paths(paths):
        if progress is not None:
            progress.file, progress.consumed = str(p), 0
        yield from read_file(p, fmt, progress=progress)
        if progress is not None:
            progress.done_bytes += p.stat().st_size if p.exists() else 0
            progress.consumed = 0
