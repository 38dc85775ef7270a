"""Shared value types: frozen dataclasses, no untyped result dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "Citation",
    "ContextPack",
    "Entity",
    "Episode",
    "Fact",
    "Hit",
    "HistoryEvent",
    "HitKind",
    "Message",
    "Scope",
    "Signal",
    "Thought",
    "Turn",
]

Signal = Literal["dense", "bm25", "graph", "thought", "episode", "time", "fact"]
HitKind = Literal["turn", "episode", "thought", "fact"]
EventKind = Literal["ADD", "UPDATE", "DELETE", "MERGE", "FORGET"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Who a record belongs to: ``tenant → user_id`` (optionally agent and session).

    Every read and write carries a scope; no query path crosses tenants.
    """

    tenant: str
    user_id: str
    agent_id: str | None = None
    session_id: str | None = None

    def owner(self) -> Scope:
        """The tenant/user part alone (what isolation is enforced on)."""
        return Scope(self.tenant, self.user_id)


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation message as handed to :meth:`Memory.add`, normalized.

    ``session_id`` overrides the call's ``session_id`` for this message (one call may then
    write to several sessions, e.g. a batch of LangGraph store items).
    """

    content: str
    speaker: str
    role: str = "user"
    timestamp: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """A stored message: the unit of raw memory (``Memory.get`` / ``update`` / ``delete``)."""

    id: str
    scope: Scope
    content: str
    speaker: str
    role: str
    timestamp: datetime
    seq: int
    content_hash: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def render(self) -> str:
        """The text indexed for this turn: ``[date] speaker: content`` (documents: ``title\ncontent``)."""
        if self.role == "document":
            return f"{self.speaker}\n{self.content}"
        return f"[{self.timestamp:%Y-%m-%d}] {self.speaker}: {self.content}"


@dataclass(frozen=True, slots=True)
class Episode:
    """A contiguous run of turns cut where the local LM was surprised (EM-LLM)."""

    id: str
    scope: Scope
    turn_ids: tuple[str, ...]
    start: datetime
    end: datetime
    text: str
    seq: int
    surprise_mean: float = 0.0
    surprise_max: float = 0.0
    boundary_method: str = "surprise"


@dataclass(frozen=True, slots=True)
class Entity:
    """A knowledge-graph entity node (normalized name)."""

    id: str
    scope: Scope
    name: str


@dataclass(frozen=True, slots=True)
class Fact:
    """A (subject, relation, object) claim with its validity and provenance.

    Fact memory (:mod:`agentmem.mechanisms.facts`) derives facts from turns: ``source_ids`` are
    the turns that state it, ``valid_from`` / ``valid_to`` bound when it held (``valid_to`` is
    set once it was superseded or ended), ``superseded_by`` names the fact that replaced it,
    ``contradicts`` the facts it is incompatible with. ``negated`` facts say something does not
    hold ("has never used Flask"). ``text`` is the fact as a sentence with its time.
    """

    id: str
    scope: Scope
    subject: str
    relation: str
    object: str
    negated: bool = False
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    source_ids: tuple[str, ...] = ()
    superseded_by: str | None = None
    contradicts: tuple[str, ...] = ()
    text: str = ""

    @property
    def current(self) -> bool:
        """Whether it still holds (not superseded, not ended)."""
        return self.valid_to is None

    def render(self) -> str:
        return self.text or f"{self.subject} {self.relation} {self.object}"


@dataclass(frozen=True, slots=True)
class Thought:
    """A conclusion the assistant reached (Think-in-Memory), with its lifecycle."""

    id: str
    scope: Scope
    text: str
    subject: str | None = None
    relation: str | None = None
    object: str | None = None
    source_ids: tuple[str, ...] = ()
    merged_from: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_recalled_at: datetime | None = None
    recall_count: int = 0
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    @property
    def live(self) -> bool:
        return self.valid_to is None


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result with provenance.

    ``signals`` maps each retrieval signal that found this record to its rank (1-based) in
    that signal's list; ``score`` is the fused score the results are ordered by.
    """

    id: str
    kind: HitKind
    text: str
    score: float
    scope: Scope
    timestamp: datetime | None
    signals: Mapping[str, int] = field(default_factory=dict)
    signal_scores: Mapping[str, float] = field(default_factory=dict)
    speaker: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    superseded_by: str | None = None
    """For a fact: the id of the fact that replaced it (it no longer holds)."""
    contradicts: tuple[str, ...] = ()
    """For a fact: the ids of the facts it is incompatible with."""


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a line of a :class:`ContextPack` came from."""

    marker: int
    id: str
    kind: HitKind
    timestamp: datetime | None
    signals: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContextPack:
    """Hits packed chronologically into a token budget, ready to put in a prompt."""

    text: str
    hits: tuple[Hit, ...]
    citations: tuple[Citation, ...]
    tokens: int
    token_budget: int
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One entry of the audit log: ADD / UPDATE / DELETE / MERGE / FORGET with before/after."""

    id: int
    scope: Scope
    record_id: str
    record_kind: str
    event: EventKind
    before: str | None
    after: str | None
    at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)
