"""What an item's memory says: the value's index fields as readable ``key: value`` lines.

An item is searched and recalled through the text of its memory, so that text is written for
a reader, not as JSON. Index fields are LangGraph's JSON paths (``"$"``: the whole value,
``"a.b"``, ``"tags[*]"``, ``"list[-1]"``, ``"*"``, ``"{title,meta.lang}"``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["index_text", "render_value", "tokenize_path", "values_at_path"]

_SCALARS = (str, int, float, bool)


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


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


def tokenize_path(path: str) -> list[str]:
    """Split a JSON path into field, ``[index]`` and ``{a,b}`` tokens (LangGraph's syntax).

    >>> tokenize_path("a.b[*].{c,d.e}")
    ['a', 'b', '[*]', '{c,d.e}']
    """
    tokens: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(path):
        char = path[i]
        if char in "[{":
            if current:
                tokens.append("".join(current))
                current = []
            close = "]" if char == "[" else "}"
            depth, j = 1, i + 1
            while j < len(path) and depth:
                depth += {char: 1, close: -1}.get(path[j], 0)
                j += 1
            tokens.append(path[i:j])
            i = j
            continue
        if char == ".":
            if current:
                tokens.append("".join(current))
                current = []
        else:
            current.append(char)
        i += 1
    if current:
        tokens.append("".join(current))
    return tokens


def _walk(obj: Any, tokens: Sequence[str]) -> list[Any]:
    if not tokens:
        return [] if obj is None or not isinstance(obj, (*_SCALARS, list, dict)) else [obj]
    token, rest = tokens[0], tokens[1:]
    if token.startswith("[") and token.endswith("]"):
        if not isinstance(obj, list):
            return []
        if token == "[*]":
            return [v for item in obj for v in _walk(item, rest)]
        try:
            idx = int(token[1:-1])
        except ValueError:
            return []
        idx = idx + len(obj) if idx < 0 else idx
        return _walk(obj[idx], rest) if 0 <= idx < len(obj) else []
    if token.startswith("{") and token.endswith("}"):
        if not isinstance(obj, dict):
            return []
        out = []
        for name in (f.strip() for f in token[1:-1].split(",")):
            current: Any = obj
            for part in tokenize_path(name):
                current = current.get(part) if isinstance(current, dict) else None
            if isinstance(current, (*_SCALARS, list, dict)):
                out.append(current)
        return out
    if token == "*":
        children = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else []
        return [v for child in children for v in _walk(child, rest)]
    return _walk(obj[token], rest) if isinstance(obj, dict) and token in obj else []


def values_at_path(value: Any, path: str) -> list[Any]:
    """The JSON values a path selects, in document order (``"$"``: the value itself).

    >>> values_at_path({"tags": ["ramen", "udon"], "n": 2}, "tags[*]")
    ['ramen', 'udon']
    """
    if not path or path == "$":
        return [value]
    return _walk(value, tokenize_path(path))


def _lines(found: Any) -> list[str]:
    if isinstance(found, str):
        return [found] if found.strip() else []
    if isinstance(found, dict | list):
        return render_value(found)
    return [str(found)]


def index_text(value: Mapping[str, Any], fields: Sequence[str] | None) -> tuple[str, bool]:
    """The text an item's memory holds, and whether a query may rank the item.

    ``fields``: the JSON paths to index; ``None`` means nothing is indexed (LangGraph's
    ``index=False``). An item whose paths select nothing keeps its whole value as text but is
    not ranked either.

    >>> index_text({"title": "noodles", "tags": ["ramen", "udon"]}, ["title", "tags[*]"])
    ('noodles\\nramen\\nudon', True)
    >>> index_text({"other": 1}, ["missing"])
    ('other: 1', False)
    """
    whole = "\n".join(render_value(value)) or "{}"
    if fields is None:
        return whole, False
    lines = [line for path in fields for found in values_at_path(value, path) for line in _lines(found)]
    return ("\n".join(lines), True) if lines else (whole, False)
