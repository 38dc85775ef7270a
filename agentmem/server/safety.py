"""Responses and logs that never fail on, or leak, stored text.

:class:`SafeJSONResponse` is the app's default response class; :func:`log_trace` is what
the error handler logs instead of an exception's message.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from fastapi.responses import JSONResponse

from agentmem.storable import repair_value

__all__ = ["SafeJSONResponse", "log_trace"]


class SafeJSONResponse(JSONResponse):
    """JSON that always encodes: text stored before input was checked (a lone surrogate, a
    NaN) is repaired on the way out (:func:`agentmem.storable.repair_value`) rather
    than failing the response."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except (UnicodeEncodeError, ValueError):
            return json.dumps(repair_value(content), ensure_ascii=False, allow_nan=False,
                              separators=(",", ":")).encode("utf-8")


def log_trace(exc: BaseException) -> str:
    """Exception types and code locations of ``exc`` and its causes, without their messages."""
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen and len(parts) < 4:
        seen.add(id(cur))
        frames = traceback.extract_tb(cur.__traceback__)
        # agentmem's own frames (where it went wrong) and the last few (what failed)
        keep = [f for f in frames[:-3] if "agentmem" in f.filename] + list(frames[-3:])
        where = "".join(traceback.format_list(keep))
        parts.append(f"{type(cur).__module__}.{type(cur).__qualname__}\n{where}")
        cur = cur.__cause__ or cur.__context__
    return "caused by ".join(parts)
