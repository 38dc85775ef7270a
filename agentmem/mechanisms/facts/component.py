"""Fact memory as a memory component: statements in, facts with validity out.

On ``add`` every turn that is not the assistant's is read for statements (by the configured
chat model, :func:`~agentmem.mechanisms.facts.chat.chat_statements`, when ``FactConfig.extractor``
allows it; offline by :func:`agentmem.statements.extract_statements` otherwise, and for a turn
whose chat-model reply failed or did not parse, with a warning naming the turn id and the
failure, not the text); the statements are stored as
*mentions* (with the turn id and time) and the facts of each subject they touch are re-derived
from that subject's mentions (:func:`~agentmem.mechanisms.facts.algorithms.derive_facts`),
in one transaction with a bump of the ``"fact"`` version. Deleting turns deletes their
mentions and re-derives the same way, so a fact lives exactly as long as a turn supports it;
deleting the user drops both tables' rows.

Search reads the query's relations and intent (now / before / what changed): a "now" question
gets the current facts that match (and an ended one whose value it names: "does John still
work at X?"), a "before" question the superseded ones first, a "what
changed" question the current fact then the ones it replaced. Each fact is proposed as a
``kind="fact"`` candidate (its sentence says since when and what came before) followed by the
turns that state it, which the fusion credits with the same rank. Each candidate carries
``features`` for a learned reader: the fact's score, whether it is current, an ending
without successor, contradicted, and the query's intent (one-hot).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy.engine import Connection

from agentmem.config import FactConfig
from agentmem.errors import ConfigError, ExtractionError
from agentmem.mechanisms.base import Candidate, Query, Services, TimeWindow
from agentmem.mechanisms.facts.algorithms import (
    Mention,
    derive_facts,
    names_object,
    query_intent,
    query_relations,
    score_fact,
)
from agentmem.mechanisms.facts.chat import chat_statements
from agentmem.mechanisms.facts.repository import FactRepository, subject_key
from agentmem.statements import Statement, extract_statements
from agentmem.store.cache import VersionedCache
from agentmem.types import Fact, Scope, Turn

__all__ = ["FactComponent"]

log = logging.getLogger("agentmem.facts")

_SKIPPED_ROLES = frozenset({"assistant", "system", "tool"})  # they echo, they do not state the user's facts


@dataclass(frozen=True, slots=True)
class _UserFacts:
    facts: tuple[Fact, ...]
    about_user: frozenset[str]  # ids of facts stated in the first person


class FactComponent:
    """Facts with validity, supersession and contradiction (see the module docstring)."""

    name = "fact"

    def __init__(self, services: Services, *, config: FactConfig | None = None) -> None:
        self.services = services
        self.config = config or services.config.facts
        if self.config.extractor == "llm" and services.chat_model is None:
            raise ConfigError("facts.extractor='llm' needs a chat_model")
        self.chat_model = services.chat_model if self.config.extractor != "offline" else None
        self.repo = FactRepository(services.sql.engine)
        self._cache: VersionedCache[_UserFacts] = VersionedCache(self._build)

    # -- MemoryComponent -----------------------------------------------------------------
    def on_add(self, scope: Scope, turns: Sequence[Turn], vectors: np.ndarray, version: int) -> None:
        mentions: list[Mention] = []
        firsts: list[bool] = []
        for turn in turns:
            if turn.role in _SKIPPED_ROLES:
                continue
            for s in self._statements(turn):
                mentions.append(Mention(turn.id, turn.timestamp, turn.seq, s))
                firsts.append(s.first_person and turn.role != "document")
        if not mentions:
            return
        owner = scope.owner()
        with self.services.sql.begin() as conn:
            self.repo.add_mentions(conn, owner, mentions, firsts)
            self._rederive(conn, owner, {subject_key(m.statement.subject) for m in mentions})

    def on_delete(self, scope: Scope, turns: Sequence[Turn], version: int) -> None:
        """Forget what only these turns said: their mentions go, their subjects' facts are re-derived."""
        if not turns:
            return
        owner = scope.owner()
        with self.services.sql.begin() as conn:
            keys = self.repo.drop_turns(conn, owner, [t.id for t in turns])
            if keys:
                self._rederive(conn, owner, keys)

    def on_delete_user(self, scope: Scope) -> None:
        owner = scope.owner()
        with self.services.sql.begin() as conn:
            self.repo.delete_user(conn, owner)
        self._cache.drop(owner)

    def search(self, query: Query) -> list[Candidate]:
        """Facts that answer the query, each followed by the turns that state it."""
        flt = query.filter
        if flt.session_id is not None or flt.structured():
            return []
        relations = query_relations(query.text)
        owner = query.scope.owner()
        state = self._cache.get(owner, int(query.versions.get(self.name, 0)))
        if not state.facts:
            return []
        intent = query_intent(query.text)
        scored = []
        for f in state.facts:
            # "now": the current facts, and a value that ended without a successor when the
            # query names it ("Does John still work at X?" -> "John worked at X (until ...)")
            ended_named = not f.current and f.superseded_by is None and names_object(f, query.text)
            if intent == "now" and not f.current and not ended_named:
                continue
            score = score_fact(f, query.text, relations, about_user=f.id in state.about_user)
            if score <= 0 or (flt.window is not None and not _in_window(f, flt.window)):
                continue
            first = (not f.current) if intent == "before" else (f.current or ended_named)
            at = f.valid_from or f.valid_to
            # an ending answers "still?": the turn that ended it (the last source), not the first telling
            turns = f.source_ids[-1:] if intent == "now" and ended_named else f.source_ids
            scored.append((not first, -score, -at.timestamp() if at is not None else 0.0, f, turns))
        if not scored and intent == "change":
            # "when did that change?" names nothing: the latest changes (facts that replaced one)
            replaced = {f.superseded_by for f in state.facts if f.superseded_by}
            for f in state.facts:
                if f.id in replaced and f.current and f.valid_from is not None:
                    scored.append((False, -1.0, -f.valid_from.timestamp(), f, f.source_ids))
        scored.sort(key=lambda x: x[:3])
        out: list[Candidate] = []
        for _, neg_score, _, f, turns in scored[: self.config.candidates]:
            features = {  # for the reader (agentmem.recall.features reads the names it knows)
                "fact_score": -neg_score, "fact_current": float(f.current),
                "fact_ending": float(not f.current and f.superseded_by is None),
                "fact_contradicted": float(bool(f.contradicts)),
                **{f"fact_intent_{name}": float(intent == name) for name in ("now", "before", "change")},
            }
            meta = {"relation": f.relation, "subject": f.subject, "object": f.object, "current": f.current,
                    "negated": f.negated, "source_ids": list(f.source_ids),
                    "valid_from": f.valid_from.isoformat() if f.valid_from else None,
                    "valid_to": f.valid_to.isoformat() if f.valid_to else None}
            out.append(Candidate(f.id, "fact", -neg_score, self.name, text=f.text, timestamp=f.valid_from or f.valid_to,
                                 superseded_by=f.superseded_by, contradicts=f.contradicts, metadata=meta,
                                 features=features))
            out.extend(Candidate(tid, "turn", -neg_score, self.name, features=features) for tid in turns)
        return out

    # -- public operations ---------------------------------------------------------------
    def facts(self, scope: Scope, *, subject: str | None = None, include_past: bool = False) -> list[Fact]:
        """The user's facts (current ones; every one with ``include_past``), by subject then time."""
        with self.services.sql.engine.connect() as conn:
            rows = self.repo.facts(conn, scope.owner(), subject=subject)
        return [f for f, _ in rows if include_past or f.current]

    # -- internals -----------------------------------------------------------------------
    def _statements(self, turn: Turn) -> list[Statement]:
        """The turn's statements: by the chat model when there is one, else (or when it fails) offline."""
        speaker = turn.speaker if turn.role != "document" else None
        if self.chat_model is not None:
            try:
                return chat_statements(self.chat_model, turn.content, speaker=speaker, today=turn.timestamp.date())
            except ExtractionError as exc:  # the message names the failure, never the turn's text
                log.warning("fact extraction by the chat model failed for turn %s: %s; using the offline "
                            "statements", turn.id, exc)
        return extract_statements(turn.content, speaker=speaker)

    def _rederive(self, conn: Connection, owner: Scope, keys: set[str]) -> None:
        mentions, first_person = self.repo.mentions(conn, owner, keys)
        facts = derive_facts(mentions, owner)
        self.repo.replace_facts(conn, owner, keys, facts, first_person)
        self.services.sql.bump_version(conn, owner, self.name)

    def _build(self, owner: Scope) -> _UserFacts:
        with self.services.sql.engine.connect() as conn:
            rows = self.repo.facts(conn, owner)
        return _UserFacts(tuple(f for f, _ in rows), frozenset(f.id for f, first in rows if first))


def _in_window(f: Fact, window: TimeWindow) -> bool:
    at = f.valid_from or f.valid_to
    return at is not None and window.contains(at)
