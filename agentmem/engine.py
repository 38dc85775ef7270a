"""The write path in one place: normalize → turn log → embed → fan-out → catch-up.

:class:`Engine` owns every write to the turn log and tells each memory mechanism (a
:class:`~agentmem.mechanisms.base.MemoryComponent`) what changed. The facade
(:class:`agentmem.Memory`) validates ids and builds the scope, then calls it.

Turns are committed before the fan-out, so a process that dies in between leaves stored turns
a component never saw; re-adding them stores nothing, and the engine then asks every component
that implements :class:`~agentmem.mechanisms.base.CatchesUp` to consume what it missed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from agentmem._time import utcnow
from agentmem.errors import NotFoundError, ValidationError
from agentmem.mechanisms.base import TURN_KIND, MemoryComponent, Services
from agentmem.normalize import content_hash, normalize_messages, parse_timestamp
from agentmem.storable import check_value
from agentmem.store.sql import NewTurn, dumps
from agentmem.types import Scope, Turn

__all__ = ["Engine"]


def _turn_json(turn: Turn) -> str:
    return dumps({"content": turn.content, "speaker": turn.speaker, "metadata": dict(turn.metadata)})


class Engine:
    """Writes of one :class:`~agentmem.Memory`: its services and its components (turns first)."""

    def __init__(self, services: Services, components: list[MemoryComponent]) -> None:
        self.services = services
        self.components = components

    # -- add ---------------------------------------------------------------------------------
    def add(
        self, scope: Scope, messages: Any, *, timestamp: datetime | str | float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Turn]:
        """Normalize ``messages`` into turns of ``scope`` and store the new ones (see :meth:`store`).

        A message with its own ``session_id`` goes to that session of the scope's user.

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
        new = []
        for msg, caller_id in pairs:
            meta = {**(metadata or {}), **msg.metadata}
            if caller_id is not None:
                meta.setdefault("message_id", caller_id)
            session = scope.session_id if msg.session_id is None else msg.session_id
            new.append(
                NewTurn(
                    speaker=msg.speaker,
                    role=msg.role,
                    content=msg.content,
                    content_hash=content_hash(msg, session_id=session, caller_id=caller_id),
                    timestamp=msg.timestamp or default_ts,
                    session_id=session,
                    agent_id=scope.agent_id,
                    metadata=meta,
                )
            )
        return self.store(scope, new)

    def store(self, scope: Scope, new: list[NewTurn]) -> list[Turn]:
        """Log the turns not stored yet, embed them, fan them out; returns the turns stored.

        Meeting an already stored message first lets the components catch up (:meth:`catch_up`).
        """
        s = self.services
        known = s.sql.existing_hashes(scope, [n.content_hash for n in new])
        fresh = [n for n in new if n.content_hash not in known]
        sessions = [replace(scope, session_id=sid) for sid in dict.fromkeys(n.session_id for n in new)]
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
        vectors = self.embed_turns(turns)
        s.vectors.upsert(TURN_KIND, scope, [t.id for t in turns], vectors)
        for c in self.components:
            c.on_add(scope, turns, vectors, version)
        return turns

    def catch_up(self, scope: Scope) -> None:
        """Let components consume this session's stored turns they missed.

        Some of the messages were stored already, maybe by a process that died after their
        commit and before every ``on_add`` ran; re-adding them stores nothing, so this is the
        moment to heal (see :class:`~agentmem.mechanisms.base.CatchesUp`).
        """
        for c in self.components:
            # getattr, not isinstance(c, CatchesUp): since Python 3.12 a protocol check does not
            # see methods a wrapper forwards (the indexer wraps components to time them)
            catch_up = getattr(c, "catch_up", None)
            if catch_up is not None:
                catch_up(scope)

    def embed_turns(self, turns: Sequence[Turn]) -> Any:
        """The stored vectors of ``turns``: the embedder over each turn's rendering."""
        return self.services.embedder.embed([t.render() for t in turns])

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
