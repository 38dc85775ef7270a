"""The vocabulary of graph changes: entity and fact ids, a passage to add, and :class:`GraphDelta`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from agentmem.types import Scope

__all__ = ["GraphDelta", "PassageInput", "entity_id", "fact_id", "normalize_name", "topic_name"]

_NON_WORD = re.compile(r"[^\w ]+")
_SPACES = re.compile(r"\s+")
_DISAMBIGUATION = re.compile(r"(?<=\S)\s*\([^()]*\)\s*$")


def normalize_name(text: str) -> str:
    """HippoRAG's ``text_processing``: lowercase, punctuation to spaces (whitespace collapsed)."""
    return _SPACES.sub(" ", _NON_WORD.sub(" ", text.lower().replace("_", " "))).strip()


def topic_name(title: str) -> str:
    """The entity name a document title stands for: a trailing disambiguation in parentheses
    is dropped (Wikipedia's "Dracula (novel)" is about "dracula"), then :func:`normalize_name`.

    >>> topic_name("Scott Young (writer)")
    'scott young'
    """
    return normalize_name(_DISAMBIGUATION.sub("", title))


def _hash(scope: Scope, *parts: str) -> str:
    key = "\x1f".join((scope.tenant, scope.user_id, *parts))
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def entity_id(scope: Scope, name: str) -> str:
    """Deterministic id of a normalized entity name in a scope."""
    return "e" + _hash(scope, "entity", name)


def fact_id(scope: Scope, s: str, r: str, o: str) -> str:
    """Deterministic id of a normalized triple in a scope."""
    return "f" + _hash(scope, "fact", s, r, o)


@dataclass(frozen=True, slots=True)
class PassageInput:
    """A passage to add: its id (a turn id), dense vector, triples, extra entities and the
    title of the document it is (``None`` for a conversation turn)."""

    id: str
    vector: np.ndarray
    triples: Sequence[tuple[str, str, str]]
    entities: Sequence[str] = ()
    title: str | None = None


@dataclass
class GraphDelta:
    """What one add or delete changes. Ids refer to the scope the delta was planned in."""

    entities: dict[str, str] = field(default_factory=dict)  # id -> name
    entity_vecs: dict[str, np.ndarray] = field(default_factory=dict)
    facts: dict[str, tuple[str, str, str, str, str]] = field(default_factory=dict)  # id -> s,r,o,sid,oid
    fact_vecs: dict[str, np.ndarray] = field(default_factory=dict)
    passages: dict[str, np.ndarray] = field(default_factory=dict)
    mentions: set[tuple[str, str]] = field(default_factory=set)  # (entity id, passage id)
    topics: dict[str, str] = field(default_factory=dict)  # passage id -> the entity its title names
    sources: set[tuple[str, str]] = field(default_factory=set)  # (fact id, passage id)
    synonyms: dict[tuple[str, str], float] = field(default_factory=dict)  # (a < b) -> cosine
    removed_passages: set[str] = field(default_factory=set)
    removed_entities: set[str] = field(default_factory=set)
    removed_facts: set[str] = field(default_factory=set)

    def empty(self) -> bool:
        return not (self.passages or self.removed_passages or self.mentions or self.sources)
