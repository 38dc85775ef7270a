"""Hypothesis state machine: forgetting follows deletion, for facts and thoughts.

Random adds of dated statements (moves, jobs, contradictions, chit-chat), thoughts derived from
random turns, deletes and updates, all through :class:`Memory`. After every step:

* the stored facts equal :func:`derive_facts` over the statements of the turns still stored
  (nothing survives that only deleted turns supported, nothing is lost that a turn supports);
* every fact's and every thought's sources are stored turns, and no thought is left without
  sources (a thought derived only from deleted turns is deleted);
* search never returns a fact or thought derived from a deleted turn.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

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

from agentmem import Memory, MemoryConfig
from agentmem.mechanisms.facts.algorithms import Mention, derive_facts
from agentmem.statements import extract_statements
from agentmem.types import Scope

POOL = [
    "I live in Lisbon.", "I moved from Lisbon to Porto.", "I moved to Berlin last month.", "I live in Porto now.",
    "I work at Acme.", "I left Acme to join Globex.", "I no longer work at Globex.", "I have never used Flask.",
    "I wrote the Flask route yesterday.", "I'm a teacher.", "I became a nurse this year.",
    "The weather was lovely.", "I don't use Flask anymore.", "I use Flask.",
]
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)


class HashEmbedder:
    """A fast deterministic stand-in: hashed bag of words, unit rows."""

    name = "hash-bow"
    dim = 64

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for w in text.lower().split():
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        out[:, 0] += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class Forgetting(RuleBasedStateMachine):
    mem: Memory

    def __init__(self) -> None:
        super().__init__()
        self.user = uuid.uuid4().hex[:10]
        self.step = 0
        self.turns: dict[str, str] = {}  # stored turn id -> text

    def _ts(self) -> datetime:
        self.step += 1
        return EPOCH + timedelta(days=self.step)

    @rule(i=st.integers(0, len(POOL) - 1))
    def add(self, i: int) -> None:
        added = self.mem.add(f"{POOL[i]} ({self.step})", user_id=self.user, timestamp=self._ts())
        self.turns.update({t.id: t.content for t in added})

    @precondition(lambda self: bool(self.turns))
    @rule(data=st.data())
    def think(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(sorted(self.turns)), min_size=1, max_size=2, unique=True))
        self.mem.think("where do I live?", f"Noted: you live in City{len(self.turns)}.", user_id=self.user,
                       source_ids=ids, now=self._ts())

    @precondition(lambda self: bool(self.turns))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from(sorted(self.turns)))
        self.mem.delete(tid, user_id=self.user)
        del self.turns[tid]

    @precondition(lambda self: bool(self.turns))
    @rule(data=st.data(), i=st.integers(0, len(POOL) - 1))
    def update(self, data: st.DataObject, i: int) -> None:
        tid = data.draw(st.sampled_from(sorted(self.turns)))
        self.turns[tid] = self.mem.update(tid, POOL[i], user_id=self.user).content

    @invariant()
    def facts_are_derived_from_stored_turns_only(self) -> None:
        stored = self.mem.memories(user_id=self.user)
        assert {t.id for t in stored} == set(self.turns)
        mentions = [Mention(t.id, t.timestamp, t.seq, s) for t in stored
                    for s in extract_statements(t.content, speaker=t.speaker)]
        want = sorted(derive_facts(mentions, Scope("default", self.user)), key=lambda f: f.id)
        got = sorted(self.mem.facts(user_id=self.user, include_past=True), key=lambda f: f.id)
        assert [(f.id, f.text, f.source_ids) for f in got] == [(f.id, f.text, f.source_ids) for f in want]

    @invariant()
    def thoughts_have_stored_sources(self) -> None:
        for th in self.mem.thoughts(user_id=self.user, include_forgotten=True):
            assert th.source_ids and set(th.source_ids) <= set(self.turns)

    @invariant()
    def search_returns_nothing_derived_from_deleted_turns(self) -> None:
        live_thoughts = {th.id for th in self.mem.thoughts(user_id=self.user)}
        for h in self.mem.search("where do I live now?", user_id=self.user, k=10):
            if h.kind == "turn":
                assert h.id in self.turns
            elif h.kind == "fact":
                assert set(h.metadata["source_ids"]) <= set(self.turns)
            elif h.kind == "thought":
                assert h.id in live_thoughts


@pytest.mark.slow
def test_forgetting_follows_deletion(tmp_path: Path) -> None:
    mem = Memory(MemoryConfig(home=tmp_path, chroma=str(tmp_path / "chroma"), device="cpu"), embedder=HashEmbedder())
    Forgetting.mem = mem
    try:
        run_state_machine_as_test(
            Forgetting,
            settings=settings(max_examples=12, stateful_step_count=10, deadline=None,
                              suppress_health_check=list(HealthCheck)),
        )
    finally:
        mem.close()
