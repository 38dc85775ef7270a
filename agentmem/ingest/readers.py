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

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

from agentmem.errors import ValidationError
from agentmem.ingest.normalize import parse_timestamp

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

Format = Literal["chatgpt", "claude", "longmemeval", "locomo", "jsonl"]
FORMATS: tuple[Format, ...] = ("chatgpt", "claude", "longmemeval", "locomo", "jsonl")

_CHUNK = 1 << 16
_NUMBER = frozenset("0123456789.eE+-")


@dataclass(frozen=True, slots=True)
class Conversation:
    """One session of one user, as :meth:`Memory.add` takes it.

    ``messages`` are dicts ``{id, role, speaker, content, timestamp, metadata}`` with stable
    ``id`` and timezone-aware ``timestamp``. ``user`` is ``None`` when the format names no user
    (the caller's ``--user`` applies). ``position`` says where the record starts in ``file``.
    """

    source: Format
    user: str | None
    session_id: str
    messages: tuple[dict[str, Any], ...]
    file: str
    position: str
    title: str | None = None
    empty: int = 0  # messages without text (tool calls, blank system nodes), not errors


@dataclass(frozen=True, slots=True)
class ReadError:
    """A malformed record: where it is and why it was skipped."""

    file: str
    position: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.position}: {self.reason}"


Record = Conversation | ReadError


@dataclass(slots=True)
class ReadProgress:
    """How far reading got: bytes of finished files plus bytes of the current one (for ETAs)."""

    done_bytes: int = 0
    consumed: int = 0
    file: str = ""

    @property
    def bytes_read(self) -> int:
        return self.done_bytes + self.consumed


# -- streaming JSON ---------------------------------------------------------------------------
def iter_json_array(fh: IO[str], *, progress: ReadProgress | None = None) -> Iterator[tuple[int, Any] | str]:
    """Items of a top-level JSON array, streamed: ``(index, item)``, or one error string.

    A syntax error ends the stream with a message naming the item index and character
    offset (after a syntax error the array cannot be resynchronised reliably).
    """
    dec = json.JSONDecoder()
    buf, base, pos = "", 0, 0  # base: file offset of buf[0]
    eof = False

    def fill() -> bool:
        nonlocal buf, pos, base, eof
        if eof:
            return False
        chunk = fh.read(_CHUNK)
        if not chunk:
            eof = True
            return False
        base += pos
        buf = buf[pos:] + chunk
        pos = 0
        return True

    def skip_ws() -> bool:
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf):
                return True
            if not fill():
                return False

    if not skip_ws() or buf[pos] != "[":
        yield f"offset {base + pos}: not a JSON array"
        return
    pos += 1
    index = 0
    while True:
        if not skip_ws():
            yield f"item {index} (offset {base + pos}): unexpected end of file"
            return
        if buf[pos] == "]" and index == 0:
            return
        while True:
            try:
                item, end = dec.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                if fill():
                    continue
                yield f"item {index} (offset {base + exc.pos}): {exc.msg}"
                return
            # a number may continue in the next chunk ("1." + "5e10")
            if isinstance(item, int | float) and not eof and all(c in _NUMBER for c in buf[end:]) and fill():
                continue
            break
        pos = end
        if progress is not None:
            progress.consumed = base + pos
        yield index, item
        index += 1
        if not skip_ws():
            yield f"after item {index - 1} (offset {base + pos}): unexpected end of file"
            return
        if buf[pos] == ",":
            pos += 1
        elif buf[pos] == "]":
            return
        else:
            yield f"after item {index - 1} (offset {base + pos}): expected ',' or ']'"
            return


# -- helpers ----------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _ts(value: Any, where: str) -> datetime:
    try:
        return parse_timestamp(value, where=where)
    except ValidationError as exc:
        raise _Bad(str(exc)) from exc


class _Bad(Exception):
    """A malformed record (internal: becomes a :class:`ReadError`)."""


def _message(
    mid: str, role: str, content: str, ts: datetime, *, speaker: str | None = None, **meta: Any
) -> dict[str, Any]:
    return {
        "id": mid,
        "role": role,
        "speaker": speaker or role,
        "content": content,
        "timestamp": ts,
        "metadata": {k: v for k, v in meta.items() if v is not None},
    }


# -- ChatGPT ----------------------------------------------------------------------------------
_CHATGPT_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "tool": "tool"}


def _chatgpt_text(content: Any) -> str:
    if not isinstance(content, Mapping):
        raise _Bad("message content is not an object")
    parts = content.get("parts")
    if parts is None:
        text = content.get("text")  # code / execution output nodes
        return text if isinstance(text, str) else ""
    if not isinstance(parts, list):
        raise _Bad("message content.parts is not a list")
    texts = [p if isinstance(p, str) else p.get("text", "") if isinstance(p, Mapping) else "" for p in parts]
    return "\n".join(t for t in texts if isinstance(t, str) and t)


def parse_chatgpt(item: Any, *, file: str, index: int) -> list[Record]:
    """One conversation of a ChatGPT ``conversations.json``: the active branch, root first.

    The export stores every edit/regeneration as a tree (``mapping`` node id → ``{message,
    parent, children}``); the conversation the user saw is the path from ``current_node`` up
    to the root. Timestamps are the messages' ``create_time`` (the conversation's when absent).
    """
    where = f"conversation {index}"
    try:
        if not isinstance(item, Mapping):
            raise _Bad("not an object")
        mapping = item.get("mapping")
        if not isinstance(mapping, Mapping) or not mapping:
            raise _Bad("missing 'mapping'")
        conv_id = item.get("conversation_id") or item.get("id")
        if not isinstance(conv_id, str) or not conv_id:
            raise _Bad("missing conversation 'id'")
        conv_ts = item.get("create_time")
        default_ts = _ts(conv_ts, f"{where} create_time") if conv_ts is not None else None
        node_id = item.get("current_node")
        if node_id is None:  # no current node: follow the last child from the root
            roots = [k for k, n in mapping.items() if isinstance(n, Mapping) and n.get("parent") is None]
            if len(roots) != 1:
                raise _Bad("no 'current_node' and no single root")
            node_id = roots[0]
            while True:
                kids = mapping[node_id].get("children") or []
                if not kids:
                    break
                node_id = kids[-1]
        path = []
        seen: set[str] = set()
        while node_id is not None:
            if node_id in seen:
                raise _Bad(f"cycle in the message tree at node {node_id!r}")
            seen.add(node_id)
            node = mapping.get(node_id)
            if not isinstance(node, Mapping):
                raise _Bad(f"node {node_id!r} is referenced but missing")
            path.append((node_id, node))
            node_id = node.get("parent")
        path.reverse()
    except _Bad as exc:
        return [ReadError(file, where, str(exc))]
    out: list[Record] = []
    messages, empty, last_ts = [], 0, default_ts
    for k, (nid, node) in enumerate(path):
        msg = node.get("message")
        if msg is None:
            continue  # the synthetic root
        pos = f"{where} node {nid}"
        try:
            if not isinstance(msg, Mapping):
                raise _Bad("message is not an object")
            author = msg.get("author") or {}
            role = author.get("role") if isinstance(author, Mapping) else None
            if role not in _CHATGPT_ROLES:
                raise _Bad(f"unknown author role {role!r}")
            text = _chatgpt_text(msg.get("content"))
            if not text.strip() or (msg.get("metadata") or {}).get("is_visually_hidden_from_conversation"):
                empty += 1
                continue
            raw_ts = msg.get("create_time")
            ts = _ts(raw_ts, "create_time") if raw_ts is not None else last_ts
            if ts is None:
                raise _Bad("no create_time on the message or the conversation")
            last_ts = ts
            name = author.get("name") if isinstance(author, Mapping) else None
            messages.append(
                _message(str(msg.get("id") or nid), _CHATGPT_ROLES[role], text, ts,
                         speaker=name if isinstance(name, str) and name else None, position=k)
            )
        except _Bad as exc:
            out.append(ReadError(file, pos, str(exc)))
    title = item.get("title")
    if messages:
        out.append(Conversation("chatgpt", None, f"chatgpt:{conv_id}", tuple(messages), file, where,
                                title if isinstance(title, str) else None, empty))
    return out


# -- Claude -----------------------------------------------------------------------------------
_CLAUDE_ROLES = {"human": "user", "user": "user", "assistant": "assistant"}


def parse_claude(item: Any, *, file: str, index: int) -> list[Record]:
    """One conversation of a Claude export (``{uuid, name, created_at, chat_messages}``)."""
    where = f"conversation {index}"
    if not isinstance(item, Mapping):
        return [ReadError(file, where, "not an object")]
    conv_id = item.get("uuid")
    msgs = item.get("chat_messages")
    if not isinstance(conv_id, str) or not conv_id or not isinstance(msgs, list):
        return [ReadError(file, where, "needs 'uuid' and a 'chat_messages' list")]
    out: list[Record] = []
    messages, empty = [], 0
    for k, m in enumerate(msgs):
        pos = f"{where} message {k}"
        try:
            if not isinstance(m, Mapping):
                raise _Bad("not an object")
            role = _CLAUDE_ROLES.get(str(m.get("sender")))
            if role is None:
                raise _Bad(f"unknown sender {m.get('sender')!r}")
            text = _text(m.get("text"))
            if not text:
                raw_blocks = m.get("content")
                blocks: list[Any] = raw_blocks if isinstance(raw_blocks, list) else []
                text = "\n".join(b["text"] for b in blocks if isinstance(b, Mapping) and isinstance(b.get("text"), str))
            if not text.strip():
                empty += 1
                continue
            raw_ts = m.get("created_at", item.get("created_at"))
            if raw_ts is None:
                raise _Bad("no created_at")
            mid = m.get("uuid")
            messages.append(_message(str(mid) if mid else f"claude:{conv_id}:{k}", role, text,
                                     _ts(raw_ts, "created_at"), position=k))
        except _Bad as exc:
            out.append(ReadError(file, pos, str(exc)))
    if messages:
        name = item.get("name")
        out.append(Conversation("claude", None, f"claude:{conv_id}", tuple(messages), file, where,
                                name if isinstance(name, str) else None, empty))
    return out


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


# -- JSONL ------------------------------------------------------------------------------------
def read_jsonl(fh: IO[str], *, file: str, progress: ReadProgress | None = None) -> Iterator[Record]:
    """The documented JSONL turn format (module docstring); consecutive lines of a session
    form one :class:`Conversation`."""
    current: tuple[str | None, str] | None = None
    messages: list[dict[str, Any]] = []
    first_line = 0
    counters: dict[tuple[str | None, str], int] = {}
    consumed = 0

    def flush() -> Iterator[Record]:
        if current is not None and messages:
            yield Conversation("jsonl", current[0], current[1], tuple(messages), file, f"line {first_line}")

    for n, line in enumerate(fh, start=1):
        consumed += len(line.encode("utf-8"))
        if progress is not None:
            progress.consumed = consumed
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, Mapping):
                raise _Bad("not a JSON object")
            sid = obj.get("session_id", obj.get("conversation"))
            content = obj.get("content", obj.get("text"))
            role = obj.get("role")
            speaker = obj.get("speaker")
            user = obj.get("user")
            if not isinstance(sid, str | int) or isinstance(sid, bool) or str(sid) == "":
                raise _Bad("needs 'session_id' (or 'conversation')")
            if not isinstance(content, str) or not content.strip():
                raise _Bad("needs a non-empty 'content' (or 'text') string")
            if role is None and speaker is None:
                raise _Bad("needs 'role' or 'speaker'")
            if role is not None and role not in ("user", "assistant", "system", "tool"):
                raise _Bad(f"unknown role {role!r}")
            if speaker is not None and not isinstance(speaker, str):
                raise _Bad("'speaker' must be a string")
            if user is not None and not isinstance(user, str):
                raise _Bad("'user' must be a string")
            if "timestamp" not in obj:
                raise _Bad("needs a 'timestamp' (ISO-8601 or epoch seconds)")
            ts = _ts(obj["timestamp"], "timestamp")
            meta = obj.get("metadata") or {}
            if not isinstance(meta, Mapping):
                raise _Bad("'metadata' must be an object")
        except json.JSONDecodeError as exc:
            yield ReadError(file, f"line {n}", f"not JSON ({exc.msg})")
            continue
        except _Bad as exc:
            yield ReadError(file, f"line {n}", str(exc))
            continue
        key = (user, str(sid))
        if key != current:
            yield from flush()
            current, messages, first_line = key, [], n
        k = counters.get(key, 0)
        counters[key] = k + 1
        mid = obj.get("id")
        messages.append({
            "id": str(mid) if mid is not None else f"jsonl:{sid}:{k}",
            "role": role or "user",
            "speaker": speaker or role,
            "content": content,
            "timestamp": ts,
            "metadata": dict(meta),
        })
    yield from flush()


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
