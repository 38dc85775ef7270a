"""Streaming reader for a top-level JSON array (a ChatGPT export is one large array)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from agentmem.batch.readers.records import ReadProgress

__all__ = ["iter_json_array"]

_CHUNK = 1 << 16
_NUMBER = frozenset("0123456789.eE+-")


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
