"""The seam between the :class:`~agentmem.Memory` facade and the memory mechanisms.

Each mechanism (dense turns, BM25, episodes, knowledge graph, thoughts) is a
:class:`MemoryComponent`: the facade tells it what was written (``on_add`` / ``on_delete`` /
``on_delete_user``) and asks it for candidates (``search``); the facade fuses the candidates.
A component owns its derived records (SQL tables on the shared metadata, Chroma kinds, in-memory
indexes) and nothing else; it never calls another component.

Turns are committed before ``on_add`` runs, so a process that dies in between leaves stored
turns a component never saw; re-adding them stores nothing and calls no ``on_add``. A
component whose records must cover every stored turn (episodes, the graph) also implements
:class:`CatchesUp`: it knows which turns it consumed, and the facade asks it to catch up
whenever an ``add`` finds some of its messages already stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from agentmem.recall.filter_dialect import Expr, matches
from agentmem.types import Episode, HitKind, Scope, Thought, Turn

if TYPE_CHECKING:
    from agentmem.config import MemoryConfig
    from agentmem.protocols import ChatModel, Embedder, LogitsModel, TokenCounter
    from agentmem.store.sql import SqlStore
    from agentmem.store.vectors import ChromaVectors

__all__ = [
    "TURN_KIND", "Candidate", "CatchesUp", "EpisodeSource", "MemoryComponent", "PlansEmbeddings", "Query", "Services",
    "ThoughtKeeper", "TimeWindow", "TurnFilter", "turn_document",
    "min_max", "stored_vectors",
]

TURN_KIND = "turns"  # Chroma kind of the stored turn vectors (the plain view, written by the facade)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A half-open interval ``[start, end)`` of UTC datetimes; either end may be open."""

    start: datetime | None = None
    end: datetime | None = None
    source: str = ""  # the words of the query it came from, for provenance

    def contains(self, ts: datetime) -> bool:
        return (self.start is None or ts >= self.start) and (self.end is None or ts < self.end)


def turn_document(turn: Turn) -> dict[str, Any]:
    """The document a search filter sees for one turn (see :mod:`agentmem.recall.filters`)."""
    return {
        "id": turn.id,
        "session_id": turn.scope.session_id,
        "agent_id": turn.scope.agent_id,
        "speaker": turn.speaker,
        "role": turn.role,
        "content": turn.content,
        "timestamp": turn.timestamp,
        "metadata": dict(turn.metadata),
    }


@dataclass(frozen=True, slots=True)
class TurnFilter:
    """Restrictions on which turns may be returned (from ``search(filters=...)``).

    ``session_id`` / ``speaker`` / ``role`` / ``window`` are cheap to test inside an index;
    ``where`` is the rest of the filter (any expression of the filter dialect over
    :func:`turn_document`). ``allowed``, when set, is the set of this scope's turn ids that pass
    ``where`` (the facade resolves it before a search, so indexes can mask exactly).
    """

    session_id: str | None = None
    speaker: str | None = None
    role: str | None = None
    window: TimeWindow | None = None
    where: Expr | None = None
    allowed: frozenset[str] | None = None

    def structured(self) -> bool:
        """Whether anything beyond the session and the time window is restricted."""
        return self.speaker is not None or self.role is not None or self.where is not None

    def accepts(self, turn: Turn) -> bool:
        return (
            (self.session_id is None or turn.scope.session_id == self.session_id)
            and (self.speaker is None or turn.speaker == self.speaker)
            and (self.role is None or turn.role == self.role)
            and (self.window is None or self.window.contains(turn.timestamp))
            and (self.where is None or matches(self.where, turn_document(turn)))
        )


@dataclass(frozen=True, slots=True)
class Query:
    """A search request as components see it (text, its embedding, time hints, filters)."""

    text: str
    vector: np.ndarray
    scope: Scope
    k: int
    versions: Mapping[str, int]
    time_hint: TimeWindow | None = None
    filter: TurnFilter = field(default_factory=TurnFilter)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One ranked result of one component.

    For ``kind="turn"`` the id is a turn id. Episode and passage-like candidates name the turns
    they cover in ``turn_ids`` (fusion credits those turns); thoughts carry their own ``text``.
    """

    id: str
    kind: HitKind
    score: float
    signal: str
    text: str | None = None
    timestamp: datetime | None = None
    turn_ids: tuple[str, ...] = ()
    ranks: Mapping[str, int] = field(default_factory=dict)
    """Ranks in sub-signals that went into ``score`` (provenance, e.g. ``{"dense": 3}``)."""
    passage: int | None = None
    """For a long turn: the number of its best passage for the query (see ``split_passages``)."""
    features: Mapping[str, float] = field(default_factory=dict)
    """What the component knows about the candidate beyond its score, for the reader
    (:mod:`agentmem.recall.features`), e.g. the turn's raw dense and BM25 scores."""
    superseded_by: str | None = None  # a fact's provenance, copied to its Hit
    contradicts: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Services:
    """What the facade hands each component: shared stores and plugged-in models."""

    config: MemoryConfig
    sql: SqlStore
    vectors: ChromaVectors
    embedder: Embedder
    tokens: TokenCounter
    device: str = "cpu"
    chat_model: ChatModel | None = None
    logits_model: LogitsModel | None = None


@runtime_checkable
class MemoryComponent(Protocol):
    """A memory mechanism plugged into the facade."""

    name: str
    """Its signal name in :attr:`Hit.signals` and its version counter name."""

    def on_add(self, scope: Scope, turns: Sequence[Turn], vectors: np.ndarray, version: int) -> None:
        """New turns were committed (``vectors`` are their embeddings, row-aligned).

        ``version`` is the user's ``"turns"`` version after that commit: a cache built at
        ``version - 1`` may apply the change in place, any other must be rebuilt.
        """
        ...

    def on_delete(self, scope: Scope, turns: Sequence[Turn], version: int) -> None:
        """These turns were deleted (``version`` as in :meth:`on_add`): remove what only they supported."""
        ...

    def on_delete_user(self, scope: Scope) -> None:
        """The user is gone: drop every derived record and cache of theirs."""
        ...

    def search(self, query: Query) -> list[Candidate]:
        """Up to ``query.k`` candidates, best first."""
        ...


@runtime_checkable
class CatchesUp(Protocol):
    """A component that can consume stored turns it has not seen yet (optional, beside :class:`MemoryComponent`)."""

    def catch_up(self, scope: Scope) -> int:
        """Consume, as ``on_add`` would have, the stored turns of ``scope.session_id``'s session
        (turns without a session when ``None``) that this component has not consumed; returns
        how many. Cheap when there are none: it runs on every ``add`` that meets a stored message.
        """
        ...


@runtime_checkable
class PlansEmbeddings(Protocol):
    """A component that can list the texts its ``on_add`` embeds (optional, beside :class:`MemoryComponent`).

    The write path asks before storing (:meth:`agentmem.engine.Engine.plan`), so that batch
    indexing can embed those texts ahead, many sessions per batch, and hand the vectors to the write.
    """

    def planned_texts(self, scope: Scope, turns: Sequence[Turn]) -> list[str]:
        """The texts ``on_add(scope, turns, ...)`` will embed, besides each turn's rendering.

        ``turns`` are not stored yet: they have no id and follow every stored turn of their
        session. A text missing here is embedded by ``on_add`` itself (slower, never wrong).
        """
        ...


@runtime_checkable
class EpisodeSource(Protocol):
    """A component that lists a user's episodes (what :meth:`Memory.episodes` delegates to)."""

    def episodes(self, scope: Scope, *, session_id: str | None = None, include_open: bool = True) -> list[Episode]:
        """The scope's episodes in time order (the still-open tail too, unless ``include_open=False``)."""
        ...


@runtime_checkable
class ThoughtKeeper(Protocol):
    """A component that stores, lists and forgets thoughts (what :meth:`Memory.think` and its
    siblings delegate to)."""

    def think(
        self,
        scope: Scope,
        query: str,
        response: str,
        *,
        chat_model: ChatModel | None = None,
        now: datetime | None = None,
        source_ids: Sequence[str] = (),
    ) -> list[Thought]:
        """Store the thoughts of one exchange; returns them as stored."""
        ...

    def forget(self, scope: Scope, thought_id: str, *, now: datetime | None = None) -> Thought:
        """End a thought's validity."""
        ...

    def thoughts(self, scope: Scope, include_forgotten: bool = False) -> list[Thought]:
        """The scope's thoughts (live ones, or all with ``include_forgotten``)."""
        ...


def stored_vectors(services: Services, scope: Scope, turns: Sequence[Turn]) -> np.ndarray:
    """The vectors ``Memory.add`` stored for ``turns`` (row-aligned), as ``on_add`` got them.

    For components catching up on turns stored before a crash; a vector the crash kept from
    being written is embedded again from the same text.
    """
    if not turns:
        return np.zeros((0, services.embedder.dim), dtype=np.float32)
    ids, vecs = services.vectors.fetch(TURN_KIND, scope.owner(), [x.id for x in turns])
    have = dict(zip(ids, vecs, strict=True))
    missing = [x for x in turns if x.id not in have]
    if missing:
        have.update(zip([x.id for x in missing], services.embedder.embed([x.render() for x in missing]), strict=True))
    return np.stack([np.asarray(have[x.id], dtype=np.float32) for x in turns])


def min_max(x: np.ndarray, *, constant: float) -> np.ndarray:
    """``(x - min) / (max - min)``, in ``x``'s dtype; every value ``constant`` when all are equal.

    >>> min_max(np.array([2.0, 4.0, 3.0]), constant=0.0).tolist()
    [0.0, 1.0, 0.5]
    >>> min_max(np.array([3.0, 3.0]), constant=1.0).tolist()
    [1.0, 1.0]
    """
    if x.size == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    if hi - lo <= 1e-12:
        return np.full_like(x, constant)
    return (x - lo) / (hi - lo)
