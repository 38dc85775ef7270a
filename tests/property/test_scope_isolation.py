"""Hypothesis state machine: random add / search / delete / delete_user sequences over several
tenants and users never return another scope's data and never return deleted data."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from agentmem import Memory, MemoryConfig, NotFoundError

TENANTS = ["acme", "globex"]
USERS = ["ann", "bob", "cy"]
WORDS = ["cat", "dog", "lisbon", "hiking", "peanuts", "audit", "pottery", "ferry", "cake", "exam"]


@pytest.fixture(scope="module")
def shared_memory(tmp_path_factory, embedder):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("prop")
    mem = Memory(MemoryConfig(home=home, chroma=str(home / "chroma"), device="cpu"), embedder=embedder)
    yield mem
    mem.close()


def test_scopes_never_leak(shared_memory) -> None:  # type: ignore[no-untyped-def]
    class Scopes(RuleBasedStateMachine):
        @initialize()
        def setup(self) -> None:
            self.mem = shared_memory
            self.run = uuid.uuid4().hex[:8]  # fresh tenants per example: examples never interfere
            self.model: dict[tuple[str, str], dict[str, str]] = {}  # scope → {turn id: content}
            self.deleted: set[str] = set()

        def tenant(self, t: str) -> str:
            return f"{t}-{self.run}"

        @rule(t=st.sampled_from(TENANTS), u=st.sampled_from(USERS),
              words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4), n=st.integers(0, 50))
        def add(self, t: str, u: str, words: list[str], n: int) -> None:
            text = f"{' '.join(words)} {t} {u} {n}"
            turns = self.mem.add([{"role": "user", "content": text}], user_id=u, session_id="s", tenant=self.tenant(t))
            scope = self.model.setdefault((t, u), {})
            if text in scope.values():
                assert turns == []  # idempotent
            else:
                assert len(turns) == 1
                scope[turns[0].id] = text

        @rule(t=st.sampled_from(TENANTS), u=st.sampled_from(USERS), w=st.sampled_from(WORDS),
              k=st.integers(1, 20))
        def search(self, t: str, u: str, w: str, k: int) -> None:
            hits = self.mem.search(w, user_id=u, k=k, tenant=self.tenant(t))
            mine = self.model.get((t, u), {})
            assert len(hits) == min(k, len(mine))
            for h in hits:
                assert h.id in mine and h.id not in self.deleted
                assert (h.scope.tenant, h.scope.user_id) == (self.tenant(t), u)
                assert h.text == mine[h.id]

        @rule(t=st.sampled_from(TENANTS), u=st.sampled_from(USERS), data=st.data())
        def delete_one(self, t: str, u: str, data: st.DataObject) -> None:
            mine = self.model.get((t, u), {})
            if not mine:
                return
            tid = data.draw(st.sampled_from(list(mine)))  # insertion order: stable across replays
            # another scope deleting it must not find it
            other = next(x for x in USERS if x != u)
            before = dict(mine)
            with pytest.raises(NotFoundError):
                self.mem.delete(tid, user_id=other, tenant=self.tenant(t))
            assert mine == before
            self.mem.delete(tid, user_id=u, tenant=self.tenant(t))
            del mine[tid]
            self.deleted.add(tid)

        @rule(t=st.sampled_from(TENANTS), u=st.sampled_from(USERS))
        def delete_user(self, t: str, u: str) -> None:
            n = self.mem.delete_user(u, tenant=self.tenant(t))
            gone = self.model.pop((t, u), {})
            assert n == len(gone)
            self.deleted |= set(gone)

        @invariant()
        def counts_match(self) -> None:
            if not hasattr(self, "mem"):
                return
            for (t, u), mine in self.model.items():
                stored = self.mem.memories(user_id=u, tenant=self.tenant(t))
                assert {x.id for x in stored} == set(mine)

    Scopes.TestCase.settings = settings(
        max_examples=15, stateful_step_count=20, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Scopes.TestCase().runTest()
