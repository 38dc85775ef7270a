"""Hypothesis state machine: random insert / merge / forget / recall against a plain model.

After every step: the live set equals the model's, no two live thoughts are above the merge
threshold (merges go through LSH: ``exact_merge_below=0``), every live thought is found first
by its own text, forgotten thoughts are never recalled, and counts agree with the history.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from agentmem.config import MemoryConfig, ThoughtConfig
from agentmem.embedding import SentenceTransformerEmbedder
from agentmem.mechanisms.base import Query, Services
from agentmem.mechanisms.thoughts.component import ThoughtComponent
from agentmem.mechanisms.thoughts.policy import norm_term
from agentmem.recall.tokens import TiktokenCounter
from agentmem.store.sql import SqlStore, create_engine
from agentmem.store.vectors import ChromaVectors, open_chroma
from agentmem.types import Scope, Thought

THRESHOLD = 0.9
CAPACITY = 5
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# (text, subject, relation, object): near-duplicates, contradictions and unrelated thoughts.
POOL: list[tuple[str, str | None, str | None, str | None]] = [
    ("The user is allergic to peanuts.", None, None, None),
    ("The user is allergic to peanuts!", None, None, None),
    ("the user is allergic to peanuts", None, None, None),
    ("The user lives in Paris.", "the user", "lives in", "Paris"),
    ("The user lives in Berlin.", "the user", "lives in", "Berlin"),
    ("The user lives in Tokyo.", "The User", "lives in", "tokyo"),
    ("The user has moved to Tokyo.", "the user", "lives in", "Tokyo"),
    ("Bob works at Google.", "Bob", "works at", "Google"),
    ("Bob works at Microsoft.", "Bob", "works at", "Microsoft"),
    ("The user's favourite band is Radiohead.", None, None, None),
    ("The user's favorite band is Radiohead.", None, None, None),
    ("The assistant recommended a lentil curry for dinner.", None, None, None),
    ("The user is training for a marathon in October.", None, None, None),
    ("The user's daughter starts school in September.", None, None, None),
    ("The user prefers window seats on flights.", None, None, None),
    ("The user drives an electric car.", None, None, None),
]
QUERIES = ["what is the user allergic to?", "where does the user live?", "where does Bob work?",
           "which music does the user like?", "travel preferences", "dinner ideas"]


class CachedEmbedder:
    """The bundled embedder with every text embedded once (examples then cost no model calls)."""

    def __init__(self, inner: SentenceTransformerEmbedder, texts: Sequence[str]) -> None:
        self.name, self.dim = inner.name, inner.dim
        self._inner = inner
        self._cache = dict(zip(texts, inner.embed(list(texts)), strict=True))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, self._inner.embed(missing), strict=True))
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


@pytest.fixture(scope="module")
def services(tmp_path_factory) -> Services:
    home = tmp_path_factory.mktemp("thoughts-sm")
    return Services(
        config=MemoryConfig(home=home),
        sql=SqlStore(create_engine(f"sqlite:///{home}/t.db")),
        vectors=ChromaVectors(open_chroma("memory", home), prefix=f"sm{uuid.uuid4().hex[:10]}"),
        embedder=CachedEmbedder(SentenceTransformerEmbedder(), [p[0] for p in POOL] + QUERIES),
        tokens=TiktokenCounter(),
    )


def _last_active(t: Thought) -> datetime:
    return max((d for d in (t.last_recalled_at, t.updated_at, t.created_at) if d is not None), default=EPOCH)


def test_thought_store_state_machine(services):
    emb = services.embedder
    vec = {p[0]: emb.embed([p[0]])[0] for p in POOL}

    class ThoughtMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.scope = Scope("sm", uuid.uuid4().hex)  # a fresh user per example
            self.comp = ThoughtComponent(
                services,
                config=ThoughtConfig(merge_threshold=THRESHOLD, capacity=CAPACITY, exact_merge_below=0),
            )
            self.live: dict[str, str] = {}  # id -> text (the vector it is indexed under)
            self.forgotten: set[str] = set()
            self.merges = 0

        def search(self, text: str, k: int = 10) -> list:
            q = Query(text, emb.embed([text])[0], self.scope, k, services.sql.versions(self.scope))
            hits = self.comp.search(q)
            assert not {h.id for h in hits} & self.forgotten, "a forgotten thought was recalled"
            return hits

        @rule(i=st.integers(0, len(POOL) - 1))
        def insert(self, i: int) -> None:
            text, s, r, o = POOL[i]
            pre = {t.id: t for t in self.comp.thoughts(self.scope)}
            key = (norm_term(s), norm_term(r), norm_term(o))
            contra = {t.id for t in pre.values() if s and (norm_term(t.subject), norm_term(t.relation)) == key[:2]
                      and norm_term(t.object) != key[2]}
            same = [t.id for t in pre.values() if s and (norm_term(t.subject), norm_term(t.relation), norm_term(t.object)) == key]
            target = same[0] if same else None
            if target is None:
                near = sorted(((float(vec[self.live[tid]] @ vec[text]), tid) for tid in pre if tid not in contra), reverse=True)
                if near and near[0][0] >= THRESHOLD:
                    target = near[0][1]
            got = self.comp.insert(self.scope, text, subject=s, relation=r, object=o)
            if target is not None:
                assert got.id == target, "expected a merge into the nearest near-duplicate"
                self.merges += 1
            else:
                assert got.id not in pre
                self.live[got.id] = text
            for tid in contra:
                self.forgotten.add(tid)
                del self.live[tid]
            if len(self.live) > CAPACITY:  # least recalled, least recently active, oldest first
                pool = sorted((t for t in pre.values() if t.id in self.live and t.id != got.id),
                              key=lambda t: (t.recall_count, _last_active(t), t.created_at, t.id))
                for t in pool[: len(self.live) - CAPACITY]:
                    self.forgotten.add(t.id)
                    del self.live[t.id]

        @precondition(lambda self: self.live)
        @rule(data=st.data())
        def forget(self, data: st.DataObject) -> None:
            # self.live keeps insertion order; ids are random uuids, so sorting by id would make
            # the same draw pick a different thought when Hypothesis replays the example.
            tid = data.draw(st.sampled_from(list(self.live)))
            assert not self.comp.forget(self.scope, tid).live
            del self.live[tid]
            self.forgotten.add(tid)

        @rule(q=st.sampled_from(QUERIES + [p[0] for p in POOL]))
        def recall(self, q: str) -> None:
            qv = emb.embed([q])[0]
            for h in self.search(q):
                assert h.id in self.live
                assert h.score == pytest.approx(float(vec[self.live[h.id]] @ qv), abs=1e-4)

        @invariant()
        def live_set_matches_model(self) -> None:
            assert {t.id for t in self.comp.thoughts(self.scope)} == set(self.live)
            everything = self.comp.thoughts(self.scope, include_forgotten=True)
            assert {t.id for t in everything if not t.live} == self.forgotten

        @invariant()
        def no_live_near_duplicates(self) -> None:
            ids = sorted(self.live)
            for a in range(len(ids)):
                for b in range(a + 1, len(ids)):
                    assert float(vec[self.live[ids[a]]] @ vec[self.live[ids[b]]]) < THRESHOLD

        @invariant()
        def every_live_thought_found_by_its_text(self) -> None:
            for tid, text in self.live.items():
                assert self.search(text, k=3)[0].id == tid

        @invariant()
        def counts_agree_with_history(self) -> None:
            ev = [e for e in services.sql.history(self.scope) if e.record_kind == "thought"]
            total = len(self.live) + len(self.forgotten)
            assert sum(e.event == "ADD" for e in ev) == total
            assert sum(e.event == "MERGE" for e in ev) == self.merges
            assert {e.record_id for e in ev if e.event == "FORGET"} == self.forgotten
            assert sum(e.event == "FORGET" for e in ev) == len(self.forgotten)
            merged_from = sum(len(t.merged_from) for t in self.comp.thoughts(self.scope, include_forgotten=True))
            assert merged_from == self.merges

    run_state_machine_as_test(
        ThoughtMachine,
        settings=settings(max_examples=40, stateful_step_count=20, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )
