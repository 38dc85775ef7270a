"""How a LangGraph store item becomes text: what is embedded, searched and recalled.

A store item's memory holds readable text, not JSON: the value's index fields rendered as
``key: value`` lines, so ``Memory.recall`` shows an item as a person would read it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from agentmem import BackendUnavailableError, ValidationError

try:
    from langgraph.store.base import IndexConfig, get_text_at_path
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise BackendUnavailableError("langgraph (langgraph-checkpoint)", "langchain") from exc

__all__ = ["field_lines", "index_fields", "render_value"]


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render_value(value: Any, prefix: str = "") -> list[str]:
    """A JSON value as readable lines: ``key: text`` per leaf, nested keys joined by ``.``,
    lists of scalars joined by ``", "``; a bare string is itself.

    >>> render_value({"food": {"likes": ["ramen", "pho"]}, "note": "no peanuts"})
    ['food.likes: ramen, pho', 'note: no peanuts']
    """
    if isinstance(value, Mapping):
        lines = []
        for k, v in value.items():
            lines.extend(render_value(v, f"{prefix}.{k}" if prefix else str(k)))
        return lines
    if isinstance(value, list | tuple):
        if all(not isinstance(v, Mapping | list | tuple) for v in value):
            text = ", ".join(_scalar(v) for v in value if v is not None and _scalar(v).strip())
            return [f"{prefix}: {text}" if prefix else text] if text else []
        return [line for i, v in enumerate(value) for line in render_value(v, f"{prefix}[{i}]")]
    if value is None:
        return []
    text = _scalar(value)
    if not text.strip():
        return []
    return [f"{prefix}: {text}" if prefix else text]


def index_fields(index: IndexConfig | None, fields: Iterable[str] | None) -> list[str]:
    """The store's default index fields from LangGraph's ``index`` config and/or ``fields``."""
    if index is None:
        return list(fields) if fields is not None else ["$"]
    if not isinstance(index, Mapping):
        raise ValidationError("index must be a LangGraph IndexConfig mapping ({'dims', 'embed', 'fields'})")
    unknown = set(index) - {"dims", "embed", "fields", "distance_type", "ann_index_config"}
    if unknown:
        raise ValidationError(f"unknown index config keys {sorted(unknown)}")
    if index.get("embed") is not None:
        warnings.warn(
            "AgentMemStore embeds with the agentmem memory's own embedder (so store items and "
            "memories are searched together); index['embed'] and index['dims'] are not used",
            stacklevel=3,
        )
    from_index = index.get("fields")
    if fields is not None and from_index is not None and list(fields) != list(from_index):
        raise ValidationError("fields and index['fields'] disagree; give one of them")
    chosen = fields if fields is not None else from_index
    return list(chosen) if chosen is not None else ["$"]


def field_lines(value: dict[str, Any], path: str) -> list[str]:
    """Readable lines for one index path: the whole value for ``"$"``, else the texts
    LangGraph finds at the path (strings as they are, other JSON rendered)."""
    if path == "$":
        return render_value(value)
    lines = []
    for text in get_text_at_path(value, path):
        try:
            found = json.loads(text)
        except ValueError:
            found = text
        lines.extend([text] if isinstance(found, str) else render_value(found))
    return [line for line in lines if line.strip()]


