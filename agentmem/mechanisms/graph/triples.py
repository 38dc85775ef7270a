"""Precomputed OpenIE output: import triples without calling a model.

Accepted formats (JSON file, or JSON Lines with one document per line):

* HippoRAG's ``openie_results_*.json``: ``{"docs": [{"passage", "extracted_entities",
  "extracted_triples"}, ...]}`` (a bare list of such documents is accepted too);
* one object per document with ``"text"`` (or ``"passage"``), ``"triples"`` and optionally
  ``"entities"`` (and ``"title"``: the passage string is then ``title\\ntext``).

Documents are keyed by their passage string, so they can be matched to a corpus by the
``title\\ntext`` string HippoRAG uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentmem.errors import ValidationError

__all__ = ["PrecomputedOpenIE", "load_openie", "passage_key"]


@dataclass(frozen=True, slots=True)
class PrecomputedOpenIE:
    """The extraction of one passage."""

    passage: str
    entities: tuple[str, ...]
    triples: tuple[tuple[str, str, str], ...]


def passage_key(text: str, title: str | None = None) -> str:
    """The matching key of a passage: ``title\\ntext`` (HippoRAG's passage string), stripped."""
    return (f"{title}\n{text}" if title else text).strip()


def _triples(raw: Any, where: str) -> tuple[tuple[str, str, str], ...]:
    if not isinstance(raw, list):
        raise ValidationError(f"{where}: triples must be a list")
    out = []
    for t in raw:
        if isinstance(t, list | tuple) and len(t) == 3 and all(str(x).strip() for x in t):
            out.append((str(t[0]), str(t[1]), str(t[2])))
    return tuple(out)


def _doc(d: Mapping[str, Any], where: str) -> PrecomputedOpenIE:
    text = d.get("passage", d.get("text"))
    if not isinstance(text, str):
        raise ValidationError(f"{where}: a document needs a 'passage' or 'text' string")
    key = passage_key(text, d.get("title") if "passage" not in d else None)
    triples = _triples(d.get("extracted_triples", d.get("triples", [])), where)
    ents = d.get("extracted_entities", d.get("entities", []))
    return PrecomputedOpenIE(key, tuple(str(e) for e in ents or ()), triples)


def _records(path: Path) -> Iterable[Mapping[str, Any]]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, Mapping):  # {"docs": [...]}, or a JSON Lines file of one document
        data = data.get("docs", [data] if ("text" in data or "passage" in data) else None)
    if not isinstance(data, list):
        raise ValidationError(f"{path}: expected a list of documents or {{'docs': [...]}}")
    return data


def load_openie(path: str | Path) -> dict[str, PrecomputedOpenIE]:
    """Load a precomputed OpenIE file into ``{passage string: extraction}``.

    Raises
    ------
    ValidationError
        The file is not one of the accepted formats.
    """
    p = Path(path)
    try:
        records = _records(p)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError(f"cannot read OpenIE file {p}: {exc}") from exc
    out: dict[str, PrecomputedOpenIE] = {}
    for i, d in enumerate(records):
        if not isinstance(d, Mapping):
            raise ValidationError(f"{p}: document {i} is not an object")
        doc = _doc(d, f"{p} document {i}")
        out[doc.passage] = doc
    return out
