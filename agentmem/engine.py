"""The write path in one place: normalize → turn log → embed → fan-out → catch-up.

:class:`Engine` owns every write to the turn log and tells each memory mechanism (a
:class:`~agentmem.mechanisms.base.MemoryComponent`) what changed. The facade
(:class:`agentmem.Memory`) validates ids and builds the scope, then calls it.

Turns are committed before the fan-out, so a process that dies in between leaves stored turns
a component never saw; re-adding them stores nothing, and the engine then asks every component
that implements :class:`~agentmem.mechanisms.base.CatchesUp` to consume what it missed.

Seams for batch indexing (:mod:`agentmem.batch`): :meth:`Engine.plan` lists the messages of a
call not stored yet and the texts storing them will embed (each turn's rendering and the views
components declare through :class:`~agentmem.mechanisms.base.PlansEmbeddings`), so they can be
embedded ahead, many sessions per batch; :meth:`Engine.add` takes those vectors (``vectors=``)
and the write answers from them (:class:`~agentmem.write_embedder.WriteEmbedder`). Stage
timings go to the :class:`~agentmem.protocols.WriteObserver` the engine was built with.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from agentmem._time import utcnow
from agentmem.errors import NotFoundError, ValidationError
from agentmem.mechanisms.base import TURN_KIND, MemoryComponent, Services
from agentmem.mechanisms.turns.late import turn_texts, turn_vectors
from agentmem.normalize import content_hash, normalize_messages, parse_timestamp
from agentmem.protocols import WriteObserver
from agentmem.storable import check_value
from agentmem.store.sql import NewTurn, dumps
from agentmem.types import Scope, Turn

__all__ = ["Engine", "WritePlan", "draft_turns", "provisional_turns"]

_UNSTORED_SEQ = sys.maxsize  # a provisional turn's seq: after every stored turn of its session


def draft_turns(
    scope: Scope, messages: Sequence[Any], *, max_chars: int, timestamp: datetime | str | float | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> list[tuple[int, NewTurn]]:
    """The turns ``Engine.add(scope, messages)`` makes, message by message, with their positions.

    A message ``add`` would reject is left out (``add`` itself rejects the whole call).
    """
    default_ts = utcnow() if timestamp is None else parse_timestamp(timestamp)
    out = []
    for i, m in enumerate(messages):
        try:
            pairs = normalize_messages([m], max_chars=max_chars, max_messages=1)
        except ValidationError:
            continue
        out += [(i, _new_turn(scope, msg, cid, default_ts, metadata)) for msg, cid in pairs]
    return out


def provisional_turns(scope: Scope, new: Sequence[NewTurn]) -> list[Turn]:
    """``new`` as the turns they will be once stored (no id yet; ordered after every stored turn)."""
    return [
        Turn(id="", scope=replace(scope, session_id=n.session_id, agent_id=n.agent_id), content=n.content,
             speaker=n.speaker, role=n.role, timestamp=n.timestamp, seq=_UNSTORED_SEQ, content_hash=n.content_hash,
             metadata=n.metadata)
        for n in new
    ]


def _new_turn(scope: Scope, msg: Any, caller_id: str | None, default_ts: datetime,
              metadata: Mapping[str, Any] | None) -> NewTurn:
    meta = {**(metadata or {}), **msg.metadata}
    if caller_id is not None:
        meta.setdefault("message_id", caller_id)
    session = scope.session_id if msg.session_id is None else msg.session_id
    return NewTurn(
        speaker=msg.speaker,
        role=msg.role,
        content=msg.content,
        content_hash=content_hash(msg, session_id=session, caller_id=caller_id),
        timestamp=msg.timestamp or default_ts,
        session_id=session,
        agent_id=scope.agent_id,
        metadata=meta,
    )


@dataclass(frozen=True, slots=True)
class WritePlan:
    """What :meth:`Engine.add` of some messages would do: ``fresh`` are the positions of the
    messages not stored yet, ``texts`` every text storing them embeds (each once, in order)."""

    fresh: list[int]
    texts: list[str]


def _turn_json(turn: Turn) -> str:
    return dumps({"content": turn.content, "speaker": turn.speaker, "metadata": dict(turn.metadata)})


class Engine:
    """Writes of one :class:`~agentmem.Memory`: its services and its components (turns first)."""

    def __init__(self, services: Services, components: list[MemoryComponent], *,
                 observer: WriteObserver | None = None) -> None:
        self.services = services
        self.components = components
        self.observer = observer

    def _stage(self, name: str) -> AbstractContextManager[object]:
        return self.observer.stage(name) if self.observer is not None else nullcontext()

    @contextmanager
    def _given(self, vectors: Mapping[str, Any] | None) -> Iterator[None]:
        given = getattr(self.services.embedder, "given", None)
        if vectors is None or given is None:
            yield
            return
        with given(vectors):
            yield

    # -- add ---------------------------------------------------------------------------------
    def add(
        self, scope: Scope, messages: Any, *, timestamp: datetime | str | float | None = None,
        metadata: Mapping[str, Any] | None = None, vectors: Mapping[str, Any] | None = None,
    ) -> list[Turn]:
        """Normalize ``messages`` into turns of ``scope`` and store the new ones (see :meth:`store`).

        A message with its own ``session_id`` goes to that session of the scope's user.
        ``vectors`` maps texts to their embeddings computed ahead (see :meth:`plan`).

        Raises
        ------
        ValidationError
            On any malformed message; nothing is stored then.
        """
        cfg = self.services.config
        pairs = normalize_messages(messages, max_chars=cfg.message_chars, max_messages=cfg.max_messages_per_call,
                                   max_total_chars=cfg.max_request_chars)
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ValidationError("metadata must be a mapping")
        check_value(metadata, "metadata")
        default_ts = utcnow() if timestamp is None else parse_timestamp(timestamp)
        new = [_new_turn(scope, msg, caller_id, default_ts, metadata) for msg, caller_id in pairs]
        return self.store(scope, new, vectors=vectors)

    def plan(self, scope: Scope, messages: Sequence[Any], *, timestamp: datetime | str | float | None = None,
             metadata: Mapping[str, Any] | None = None) -> WritePlan:
        """Which of ``messages`` are not stored yet, and the texts :meth:`add` of them will embed.

        The texts are each new turn's rendering (:meth:`Turn.render`), or for a turn read in a
        window of its session (:mod:`agentmem.mechanisms.turns.late`) the key of its text in
        that window (:func:`agentmem._windows.window_keys`), and the views components
        declare (:class:`~agentmem.mechanisms.base.PlansEmbeddings`), as if the new messages
        were stored in order after the session's stored turns. Messages ``add`` would reject
        are left out. Texts that only a component's own analysis produces (episode units,
        entity names) are not listed: the write embeds those itself.
        """
        drafts = draft_turns(scope, messages, max_chars=self.services.config.message_chars, timestamp=timestamp,
                             metadata=metadata)
        known = self.services.sql.existing_hashes(scope, [n.content_hash for _, n in drafts])
        fresh = [(i, n) for i, n in drafts if n.content_hash not in known]
        turns = provisional_turns(scope, [n for _, n in fresh])
        texts = turn_texts(self.services.embedder, turns, self._previous, self.services.config.turn_window)
        for c in self.components:
            planned = getattr(c, "planned_texts", None)
            if planned is not None:
                texts += planned(scope, turns)
        return WritePlan([i for i, _ in fresh], list(dict.fromkeys(texts)))

    def store(self, scope: Scope, new: list[NewTurn], *, vectors: Mapping[str, Any] | None = None) -> list[Turn]:
        """Log the turns not stored yet, embed them, fan them out; returns the turns stored.

        Meeting an already stored message first lets the components catch up (:meth:`catch_up`).
        Texts in ``vectors`` are not embedded again: their given vectors are used.
        """
        s = self.services
        known = s.sql.existing_hashes(scope, [n.content_hash for n in new])
        fresh = [n for n in new if n.content_hash not in known]
        sessions = [replace(scope, session_id=sid) for sid in dict.fromkeys(n.session_id for n in new)]
        with self._given(vectors):
            if known:
                for session in sessions:
                    self.catch_up(session)
            if not fresh:
                return []
            with s.sql.begin() as conn:
                for session in sessions:
                    s.sql.ensure_user(conn, session)
                turns = s.sql.insert_turns(conn, scope, fresh)
                if not turns:
                    return []
                version = s.sql.bump_version(conn, scope, "turns")
                s.sql.log(conn, scope, [(t.id, "turn", "ADD", None, _turn_json(t)) for t in turns])
            embedded = self.embed_turns(turns)
            s.vectors.upsert(TURN_KIND, scope, [t.id for t in turns], embedded)
            for c in self.components:
                with self._stage(f"component_{c.name}"):
                    c.on_add(scope, turns, embedded, version)
        return turns

    def catch_up(self, scope: Scope) -> None:
        """Let components consume this session's stored turns they missed.

        Some of the messages were stored already, maybe by a process that died after their
        commit and before every ``on_add`` ran; re-adding them stores nothing, so this is the
        moment to heal (see :class:`~agentmem.mechanisms.base.CatchesUp`).
        """
        for c in self.components:
            catch_up = getattr(c, "catch_up", None)
            if catch_up is not None:
                with self._stage(f"component_{c.name}"):
                    catch_up(scope)

    def embed_turns(self, turns: Sequence[Turn]) -> Any:
        """The stored vectors of ``turns`` (stored already): each turn's rendering, read in its
        session's context when the embedder can (:mod:`agentmem.mechanisms.turns.late`)."""
        s = self.services
        return turn_vectors(s.embedder, turns, self._previous, s.config.turn_window)

    def _previous(self, turn: Turn, n: int) -> list[Turn]:
        return self.services.sql.previous_turns(turn.scope, turn.scope.session_id, turn.seq, n)

    # -- update / delete -----------------------------------------------------------------------
    def update(self, scope: Scope, memory_id: str, content: str, metadata: Mapping[str, Any] | None) -> Turn:
        """Replace a turn's text (and optionally metadata); logged as UPDATE."""
        s = self.services
        current = s.sql.get_turn(scope, memory_id)
        # The content hash stays: it identifies the message as first added, so re-sending
        # that message later is still recognised as this (edited) turn.
        with s.sql.begin() as conn:
            before, after = s.sql.update_turn(
                conn, scope, current.id, content=content, metadata=None if metadata is None else dict(metadata)
            )
            # Components see an update as a delete then an add: one version step for each.
            removed_at = s.sql.bump_version(conn, scope, "turns")
            added_at = s.sql.bump_version(conn, scope, "turns")
            s.sql.log(conn, scope, [(memory_id, "turn", "UPDATE", _turn_json(before), _turn_json(after))])
        vectors = self.embed_turns([after])
        s.vectors.upsert(TURN_KIND, scope, [after.id], vectors)
        for c in self.components:
            c.on_delete(scope, [before], removed_at)
            c.on_add(scope, [after], vectors, added_at)
        return after

    def delete(self, scope: Scope, memory_ids: Sequence[str], *, missing_ok: bool = True) -> int:
        """Delete turns (and what only they supported); logged as DELETE; returns how many."""
        s = self.services
        with s.sql.begin() as conn:
            gone = s.sql.delete_turns(conn, scope, list(memory_ids))
            if not gone:
                if not missing_ok:
                    raise NotFoundError(f"no memory {memory_ids[0]!r} for user {scope.user_id!r}")
                return 0
            version = s.sql.bump_version(conn, scope, "turns")
            # forgetting: the history keeps that the memory existed and was deleted, not its text
            s.sql.forget_history(conn, scope, [t.id for t in gone])
            s.sql.log(conn, scope, [(t.id, "turn", "DELETE", None, None) for t in gone])
        s.vectors.delete(TURN_KIND, scope, [t.id for t in gone])
        for c in self.components:
            c.on_delete(scope, gone, version)
        s.sql.checkpoint()
        return len(gone)

    def delete_user(self, scope: Scope) -> int:
        """Remove a user from SQL, the vector store and every index; returns turns removed."""
        s = self.services
        for c in self.components:
            c.on_delete_user(scope)
        with s.sql.begin() as conn:
            n = s.sql.delete_user(conn, scope)
        for kind in s.vectors.kinds():
            s.vectors.delete_user(kind, scope)
        for c in self.components:  # drop caches rebuilt by a concurrent search meanwhile
            c.on_delete_user(scope)
        s.sql.checkpoint()
        return n

    def close(self) -> None:
        """Write what components hold back (``flush``), then release the SQL connections."""
        for c in self.components:
            flush = getattr(c, "flush", None)
            if flush is not None:
                flush()
        self.services.sql.engine.dispose()
