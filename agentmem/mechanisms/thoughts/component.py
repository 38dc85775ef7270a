"""Thought memory (Think-in-Memory) as a :class:`~agentmem.mechanisms.base.MemoryComponent`.

A thought is a conclusion reached in an exchange (:mod:`agentmem.mechanisms.thoughts.extract`). This
component stores thoughts in the ``thoughts`` table (with their LSH codes), their vectors in
the Chroma kind ``"thoughts"``, and applies the policies of
:mod:`agentmem.mechanisms.thoughts.policy` — insert, merge, forget by contradiction, capacity and
decay — each in one transaction with its history entries (``ADD`` / ``MERGE`` / ``FORGET`` /
``UPDATE``, ``record_kind="thought"``) and a bump of the ``"thought"`` version.

Recall: query vector → LSH candidates (:class:`agentmem.mechanisms.thoughts.lsh.LSHIndex`) → exact cosine
re-rank → :class:`Candidate` (``kind="thought"``) for rank fusion. Only live thoughts
(``valid_to is None``) are indexed, so forgotten ones are never recalled. The per-user index
lives in a :class:`VersionedCache` keyed by the ``"thought"`` version, so another replica's
writes are seen at its next search; it is rebuilt from the stored codes (rehashed only when
the LSH parameters changed) and the Chroma vectors (re-embedded if missing).

Deleting turns drops the deleted turn ids from the thoughts' ``source_ids`` (logged as
``UPDATE``) and deletes the thoughts left without any source (logged as ``DELETE``): a thought
derived only from deleted memories goes with them; a thought stored without sources (``think``
without ``source_ids``) belongs to no memory and stays. Deleting the user drops every thought. Within one process writes of a user are serialised; two replicas writing the
same user at the same instant may each insert a near-duplicate, merged by neither.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from agentmem._time import as_utc, utcnow
from agentmem.config import ThoughtConfig
from agentmem.errors import NotFoundError, ValidationError
from agentmem.mechanisms.base import Candidate, Query, Services
from agentmem.mechanisms.thoughts import policy as policy
from agentmem.mechanisms.thoughts.center import embedding_center
from agentmem.mechanisms.thoughts.extract import ThoughtDraft, derive_thoughts, post_think
from agentmem.mechanisms.thoughts.lsh import LSHIndex
from agentmem.mechanisms.thoughts.repository import ThoughtRepository
from agentmem.mechanisms.thoughts.writes import (
    evict,
    forget_rows,
    insert_row,
    merge_row,
    same_subject_relation,
    term,
)
from agentmem.protocols import ChatModel
from agentmem.store.cache import VersionedCache
from agentmem.types import Scope, Thought, Turn

__all__ = ["THOUGHT_KIND", "ThoughtComponent"]

THOUGHT_KIND = "thoughts"


@dataclass(slots=True)
class _UserThoughts:
    """The in-memory recall state of one user: live thoughts only."""

    index: LSHIndex
    info: dict[str, tuple[str, datetime | None]]  # id -> (text, valid_from)


class ThoughtComponent:
    """Think-in-Memory thoughts: ``think`` / ``insert`` / ``forget`` / ``thoughts`` and recall.

    Parameters
    ----------
    services
        The facade's shared stores and models (``services.chat_model`` drives post-thinking).
    config
        Overrides ``services.config.thoughts``.
    """

    name = "thought"

    def __init__(self, services: Services, *, config: ThoughtConfig | None = None) -> None:
        self.services = services
        self.repo = ThoughtRepository(services.sql, self.name)
        self.config = config or services.config.thoughts
        self._cache: VersionedCache[_UserThoughts] = VersionedCache(self._build)
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._signature: str | None = None

    # -- MemoryComponent -----------------------------------------------------------------
    def on_add(self, scope: Scope, turns: Sequence[Turn], vectors: np.ndarray, version: int) -> None:
        """Nothing: thoughts come from :meth:`think`, not from raw turns."""

    def on_delete(self, scope: Scope, turns: Sequence[Turn], version: int) -> None:
        """Forgetting follows deletion: drop the deleted turn ids from the thoughts' ``source_ids``,
        and delete every thought whose sources were all deleted (it was derived only from them)."""
        gone = {tu.id for tu in turns}
        if not gone:
            return
        owner = scope.owner()
        with self._user_lock(owner):
            orphans: list[str] = []
            bumped: int | None = None
            with self.repo.begin() as conn:
                for before in self.repo.all_thoughts(conn, owner):
                    if gone.intersection(before.source_ids):
                        kept = [i for i in before.source_ids if i not in gone]
                        if kept:
                            self.repo.set_sources(conn, owner, before, kept, "source turns deleted")
                        else:  # derived only from deleted turns: it goes with them
                            self.repo.delete(conn, owner, before, "every source turn deleted")
                            orphans.append(before.id)
                if orphans:
                    bumped = self.repo.bump_version(conn, owner)
            if bumped is not None:
                self._apply(owner, bumped, added=None, forgotten=orphans)

    def on_delete_user(self, scope: Scope) -> None:
        """Drop every thought, vector and cache entry of the user."""
        owner = scope.owner()
        with self._user_lock(owner):
            self.repo.delete_user(owner)
            self.services.vectors.delete_user(THOUGHT_KIND, owner)
            self._cache.drop(owner)

    def search(self, query: Query) -> list[Candidate]:
        """Live thoughts nearest the query (LSH candidates, exact cosine), best first.

        The top ``config.recall_top`` count as recalled (held in memory: :mod:`agentmem.mechanisms.thoughts.recalls`).
        Thoughts belong to no session, speaker or role, so a filter on those returns nothing;
        a time window keeps the thoughts that became valid inside it.
        """
        flt = query.filter
        if flt.session_id is not None or flt.structured():
            return []
        owner = query.scope.owner()
        with self._cache.reading(owner, int(query.versions.get(self.name, 0))) as state:
            if not len(state.index):
                return []
            hits = state.index.query(query.vector, query.k if flt.window is None else len(state.index))
            infos = {tid: state.info.get(tid) for tid, _ in hits}
        out: list[Candidate] = []
        for tid, score in hits:
            info = infos[tid]
            if info is None:
                continue
            text, valid_from = info
            if flt.window is not None and (valid_from is None or not flt.window.contains(valid_from)):
                continue
            out.append(Candidate(tid, "thought", score, self.name, text=text, timestamp=valid_from))
            if len(out) >= query.k:
                break
        self.repo.record_recalls(owner, [c.id for c in out[: self.config.recall_top]], utcnow())
        return out

    # -- public operations ---------------------------------------------------------------
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
        """Post-thinking: store the thoughts of one exchange; returns them as stored.

        With a chat model (argument, else ``services.chat_model``) the thoughts come from
        :func:`~agentmem.mechanisms.thoughts.extract.post_think`; without one they are derived from the
        facts of the exchange. Each goes through :meth:`insert` (so it may merge into, or
        forget, existing thoughts). Returns ``[]`` when nothing was worth remembering.

        Raises
        ------
        ExtractionError
            The chat model failed or answered something unparseable (nothing is stored).
        """
        now = as_utc(now) if now is not None else utcnow()
        model = chat_model if chat_model is not None else self.services.chat_model
        drafts = (
            post_think(model, query, response, today=now.date())
            if model is not None
            else derive_thoughts(query, response, today=now.date())
        )
        if not drafts:
            return []
        vectors = self.services.embedder.embed([d.text for d in drafts])
        stored: dict[str, Thought] = {}
        for draft, vec in zip(drafts, vectors, strict=True):
            th = self._insert(scope.owner(), draft, vec, tuple(source_ids), now)
            stored[th.id] = th
        return list(stored.values())

    def insert(
        self,
        scope: Scope,
        text: str,
        *,
        subject: str | None = None,
        relation: str | None = None,
        object: str | None = None,
        source_ids: Sequence[str] = (),
        now: datetime | None = None,
    ) -> Thought:
        """Store one thought, applying merge and forget policies; returns the live result.

        That is the new thought, or the existing thought it was merged into.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("a thought needs non-empty text")
        triple = (term(subject), term(relation), term(object))
        if any(triple) and not all(triple):
            raise ValidationError("give subject, relation and object together, or none")
        draft = ThoughtDraft(" ".join(text.split()), *triple)
        vec = self.services.embedder.embed([draft.text])[0]
        return self._insert(scope.owner(), draft, vec, tuple(source_ids), as_utc(now) if now else utcnow())

    def forget(self, scope: Scope, thought_id: str, *, now: datetime | None = None) -> Thought:
        """End a thought's validity (it stays in the store and history, no longer recalled).

        Forgetting an already forgotten thought changes nothing and returns it.

        Raises
        ------
        NotFoundError
            No thought with this id in the scope.
        """
        owner = scope.owner()
        when = as_utc(now) if now else utcnow()
        with self._user_lock(owner):
            with self.repo.begin() as conn:
                th = self.repo.get(owner, thought_id, conn)
                if th is None:
                    raise NotFoundError(f"no thought {thought_id!r} for user {owner.user_id!r}")
                if not th.live:
                    return th
                forget_rows(self.repo, conn, owner, [th], when, "explicit")
                version = self.repo.bump_version(conn, owner)
            self._apply(owner, version, added=None, forgotten=[thought_id])
            return replace(th, valid_to=when)

    def thoughts(self, scope: Scope, include_forgotten: bool = False) -> list[Thought]:
        """The user's thoughts, oldest first (live only unless ``include_forgotten``)."""
        return self.repo.thoughts(scope.owner(), include_forgotten)

    def get(self, scope: Scope, thought_id: str) -> Thought:
        """One thought by id, live or forgotten (:class:`NotFoundError` if absent)."""
        th = self.repo.get(scope.owner(), thought_id)
        if th is None:
            raise NotFoundError(f"no thought {thought_id!r} for user {scope.user_id!r}")
        return th

    # -- internals -----------------------------------------------------------------------
    def _new_index(self) -> LSHIndex:
        c = self.config
        return LSHIndex(
            self.services.embedder.dim, n_planes=c.lsh_planes, hashes_per_table=c.lsh_hashes_per_table,
            n_tables=c.lsh_tables, probes=c.lsh_probes, max_scan=c.lsh_max_scan, seed=c.lsh_seed,
            center=embedding_center(self.services.embedder) if c.lsh_center else None,
        )

    def _user_lock(self, scope: Scope) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((scope.tenant, scope.user_id), threading.Lock())

    def _state(self, owner: Scope) -> _UserThoughts:
        return self._cache.get(owner, self.repo.version(owner))

    def _build(self, owner: Scope) -> _UserThoughts:
        index = self._new_index()
        rows = self.repo.live_rows(owner)
        info = {r.id: (r.text, r.valid_from) for r in rows}
        if not rows:
            return _UserThoughts(index, info)
        ids, mat = self.services.vectors.fetch(THOUGHT_KIND, owner)
        stored = {i: mat[n] for n, i in enumerate(ids) if i in info}
        missing = [r for r in rows if r.id not in stored]
        if missing:  # a write whose Chroma upsert failed after the SQL commit: heal it here
            vecs = self.services.embedder.embed([r.text for r in missing])
            self.services.vectors.upsert(THOUGHT_KIND, owner, [r.id for r in missing], vecs)
            stored.update({r.id: v for r, v in zip(missing, vecs, strict=True)})
        vectors = np.stack([stored[r.id] for r in rows])
        sig = index.signature
        codes = [r.lsh_codes["codes"] for r in rows if r.lsh_codes and r.lsh_codes.get("sig") == sig]
        if len(codes) == len(rows):
            index.insert_many([r.id for r in rows], vectors, codes=codes)
        else:  # parameters changed since the codes were stored: rehash
            index.insert_many([r.id for r in rows], vectors)
        return _UserThoughts(index, info)

    def _insert(
        self, owner: Scope, draft: ThoughtDraft, vec: np.ndarray, source_ids: tuple[str, ...], now: datetime
    ) -> Thought:
        repo = self.repo
        with self._user_lock(owner):
            state = self._state(owner)
            new_id = uuid.uuid4().hex
            with repo.begin() as conn:
                repo.ensure_user(conn, owner)
                same_sr = same_subject_relation(repo, conn, owner, draft)
                forgotten = policy.contradicted(draft.subject, draft.relation, draft.object, same_sr)
                target_id = policy.same_fact(draft.subject, draft.relation, draft.object, same_sr)
                if target_id is None and len(state.index):
                    near = (
                        state.index.exact(vec, 4)
                        if len(state.index) <= self.config.exact_merge_below
                        else state.index.query(vec, 4)
                    )
                    target_id = policy.merge_target(near, self.config.merge_threshold, exclude=forgotten)
                by_id = {th.id: th for th in same_sr}
                forget_rows(repo, conn, owner, [by_id[i] for i in forgotten], now, "contradicted", by=new_id)
                added: tuple[str, np.ndarray] | None = None
                if target_id is not None:
                    result = merge_row(repo, conn, owner, target_id, new_id, source_ids, now)
                else:
                    result = insert_row(repo, conn, owner, new_id, draft, state.index.hash(vec)[0],
                                        self._new_index_signature(), source_ids, now)
                    added = (new_id, vec)
                dropped = evict(repo, conn, owner, now, self.config, protect=result.id)
                version = repo.bump_version(conn, owner)
            self._apply(owner, version, added=added, forgotten=[*forgotten, *dropped], result=result)
            return result

    def _apply(
        self, owner: Scope, version: int, *, added: tuple[str, np.ndarray] | None, forgotten: Sequence[str],
        result: Thought | None = None,
    ) -> None:
        """After commit: Chroma and the cached index follow the SQL change."""
        if added is not None:
            self.services.vectors.upsert(THOUGHT_KIND, owner, [added[0]], added[1].reshape(1, -1))
        if forgotten:
            self.services.vectors.delete(THOUGHT_KIND, owner, list(forgotten))

        def apply(state: _UserThoughts) -> None:
            for tid in forgotten:
                if tid in state.index:
                    state.index.remove(tid)
                state.info.pop(tid, None)
            if added is not None and result is not None:
                state.index.insert(added[0], added[1])
                state.info[added[0]] = (result.text, result.valid_from)

        self._cache.advance(owner, version, apply)

    def _new_index_signature(self) -> str:
        if self._signature is None:
            self._signature = self._new_index().signature
        return self._signature

    def flush(self) -> None:
        """Write the recalls counted by searches and not written yet (``Memory.close``)."""
        self.repo.flush_recalls()
