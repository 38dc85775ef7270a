"""The write path's seams: a plan of what a write embeds, vectors given to the write, a write
observer, ``Memory.maintenance``; and thought recalls that a search counts without writing."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from agentmem import Memory, MemoryConfig
from agentmem._windows import WINDOW_KEY, window_keys
from agentmem.batch.feed import embed_planned
from agentmem.config import EpisodeConfig, RecallConfig, ThoughtConfig
from agentmem.errors import StorageError
from agentmem.mechanisms.turns.component import CONTEXT_KIND, KIND
from agentmem.mechanisms.turns.passages import PASSAGE_KIND
from agentmem.types import Scope

LONG = " ".join(f"Sentence {i} tells of the long walk along the northern coast." for i in range(60))
CONTENT = {3: LONG, 4: "Ada Lovelace wrote to Charles Babbage from London."}


class Recording:
    """The test embedder, recording every text it embeds."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += list(texts)
        return np.asarray(self.inner.embed(list(texts)))


class RecordingWindows(Recording):
    """:class:`Recording` of an embedder that reads windows; a window's texts are recorded by their keys."""

    reads_windows = True

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return list(self.inner.token_counts(texts))

    def embed_windows(self, windows: Sequence[tuple[Sequence[str], Sequence[str]]]) -> np.ndarray:
        self.seen += [k for w in windows for k in window_keys(w)]
        return np.asarray(self.inner.embed_windows(windows))


class Clock:
    """A write observer: the stages entered and the counts reported."""

    def __init__(self) -> None:
        self.stages: list[str] = []
        self.counts: dict[str, int] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.stages.append(name)
        yield

    def count(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def test_the_plan_names_the_windows_turns_are_read_in(tmp_path: Any, embedder: Any) -> None:
    rec = RecordingWindows(embedder)
    mem = _memory(tmp_path, rec)
    try:
        mem.add(_messages(0, 2), user_id="u", session_id="s")
        plan = mem.maintenance.plan(_messages(2, 4), user_id="u", session_id="s")
        keys = [t for t in plan.texts if t.startswith(WINDOW_KEY)]
        # 2 is read after the stored turns 0 and 1; the long turn 3 is longer than a window, so
        # it is embedded alone; 4 and 5 share a window
        assert len(keys) == 3 and not any(t.startswith("[") and "Message 2 " in t for t in plan.texts)
        assert any(t.startswith("[") and LONG in t for t in plan.texts)
        given = dict(zip(plan.texts, embed_planned(embedder, plan.texts), strict=True))
        rec.seen.clear()
        turns = mem.add(_messages(2, 4), user_id="u", session_id="s", vectors=given)
        assert len(turns) == 4 and rec.seen == []  # nothing embedded: every vector was given
        ids, vecs = mem.services.vectors.fetch(KIND, Scope("default", "u"), [t.id for t in turns])
        stored = dict(zip(ids, vecs, strict=True))
        by_text = {json.loads(k[len(WINDOW_KEY):])[1][json.loads(k[len(WINDOW_KEY):])[2]]: k for k in keys}
        for t in turns:
            np.testing.assert_allclose(stored[t.id], given[by_text.get(t.render(), t.render())], atol=1e-6)
        other = _memory(tmp_path / "b", RecordingWindows(embedder))
        try:
            other.add(_messages(0, 2), user_id="u", session_id="s")
            planned = other.maintenance.plan(_messages(2, 4), user_id="u", session_id="s").texts
            other.services.embedder.inner.seen.clear()  # type: ignore[attr-defined]
            other.add(_messages(2, 4), user_id="u", session_id="s")
            assert sorted(set(other.services.embedder.inner.seen)) == sorted(planned)  # type: ignore[attr-defined]
        finally:
            other.close()
    finally:
        mem.close()


def _memory(tmp_path: Any, embedder: Any, **kw: Any) -> Memory:
    # The plan names the texts of the turns (renderings, in-context views, passages) and of the knowledge graph
    # (its new entities and facts); the episodes embed what they derive (a long turn's sentence
    # groups) inside the write, outside the plan, so these tests run without them.
    cfg = MemoryConfig(home=tmp_path, chroma=str(tmp_path / "chroma"), device="cpu", long_turn_chars=400,
                       passage_chars=200, passage_overlap=20, episodes=EpisodeConfig(segmenter="off"),
                       **kw.pop("config", {}))
    return Memory(cfg, embedder=embedder, **kw)


def _messages(first: int, n: int) -> list[dict[str, Any]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": CONTENT.get(i, f"Message {i} about tea."),
             "id": f"m{i}", "timestamp": 1_700_000_000 + 60 * i} for i in range(first, first + n)]


def test_the_plan_names_every_text_the_write_embeds(tmp_path: Any, embedder: Any) -> None:
    rec = Recording(embedder)  # reads no windows: each turn embedded alone, the text view embedded
    mem = _memory(tmp_path, rec, config={"recall": RecallConfig(context_source="text")})
    try:
        mem.add(_messages(0, 2), user_id="u", session_id="s")  # the session has stored turns already
        batch = [*_messages(0, 2), *_messages(2, 4), {"role": "user", "content": ""}]  # stored, new, invalid
        plan = mem.maintenance.plan(batch, user_id="u", session_id="s")
        assert plan.fresh == [2, 3, 4, 5]
        assert len(plan.texts) == len(set(plan.texts)) > 2 * 4  # renderings, in-context views, passages, the graph's
        derived = [t for t in plan.texts if not t.startswith("[")]  # renderings and passages start with the date
        assert any("lovelace" in t.lower() for t in derived)  # the graph's new entities and facts
        given = dict(zip(plan.texts, embedder.embed(plan.texts), strict=True))
        rec.seen.clear()
        turns = mem.add(batch[2:6], user_id="u", session_id="s", vectors=given)
        assert len(turns) == 4 and rec.seen == []  # nothing embedded: every vector was given
        scope = Scope("default", "u")
        ids, vecs = mem.services.vectors.fetch(KIND, scope, [t.id for t in turns])
        stored = dict(zip(ids, vecs, strict=True))
        for t in turns:
            np.testing.assert_allclose(stored[t.id], given[t.render()], atol=1e-6)
        ctx_ids, _ = mem.services.vectors.fetch(CONTEXT_KIND, scope, [t.id for t in turns])
        assert set(ctx_ids) == {t.id for t in turns}
        assert mem.services.vectors.fetch(PASSAGE_KIND, scope)[0]  # the long turn's passages
        # the same add without given vectors embeds exactly the planned texts
        other = _memory(tmp_path / "b", Recording(embedder), config={"recall": RecallConfig(context_source="text")})
        try:
            other.add(_messages(0, 2), user_id="u", session_id="s")
            planned = other.maintenance.plan(batch[2:6], user_id="u", session_id="s").texts
            other.services.embedder.inner.seen.clear()  # type: ignore[attr-defined]
            other.add(batch[2:6], user_id="u", session_id="s")
            assert sorted(set(other.services.embedder.inner.seen)) == sorted(planned)  # type: ignore[attr-defined]
        finally:
            other.close()
        # vectors not given are embedded: a wrong plan costs time, never correctness
        rec.seen.clear()
        mem.add([{"role": "user", "content": "Unplanned tea.", "timestamp": 1_700_009_000}], user_id="u",
                session_id="s", vectors=given)
        assert any("Unplanned tea." in x for x in rec.seen)
    finally:
        mem.close()


def test_a_write_observer_sees_each_stage(tmp_path: Any, embedder: Any) -> None:
    clock = Clock()
    mem = _memory(tmp_path, embedder, observer=clock)
    try:
        mem.add(_messages(0, 3), user_id="u", session_id="s")
        assert {"embed", "store_chroma", "component_turns"} <= set(clock.stages)
        assert clock.counts["embed"] >= 3
        before = clock.counts["embed"]
        plan = mem.maintenance.plan(_messages(3, 2), user_id="u", session_id="s")
        mem.add(_messages(3, 2), user_id="u", session_id="s",
                vectors=dict(zip(plan.texts, embedder.embed(plan.texts), strict=True)))
        assert clock.counts["embed"] == before  # given vectors are not embedded again
    finally:
        mem.close()


def test_maintenance_answers_what_the_server_asks(tmp_path: Any, embedder: Any) -> None:
    mem = _memory(tmp_path, embedder)
    try:
        mem.add("I like green tea.", user_id="ann", tenant="t1")
        mem.add("I like coffee.", user_id="bob", tenant="t2")
        m = mem.maintenance
        m.check_ready()
        assert m.users("t1") == ["ann"] and m.has_user("t1", "ann") and not m.has_user("t1", "bob")
        assert m.memory_count("t1") == 1 and m.row_counts()["memories"] == 2
        assert m.dimension == embedder.dim and m.device == "cpu"
        np.testing.assert_allclose(m.embed_query("tea"), embedder.embed(["tea"])[0], atol=1e-5)
    finally:
        mem.close()


@contextmanager
def _statements(engine: sa.Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    sa.event.listen(engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", hook)


def test_a_search_counts_thought_recalls_without_writing(tmp_path: Any, embedder: Any) -> None:
    mem = _memory(tmp_path, embedder, config={"thoughts": ThoughtConfig(enabled=True)})
    try:
        comp: Any = mem.component("thought")
        thought = comp.insert(Scope("default", "u"), "The user plays the cello on Sundays.")
        mem.search("which instrument does the user play", user_id="u", k=3)  # builds the caches
        with _statements(mem.services.sql.engine) as seen:
            hits = mem.search("which instrument does the user play", user_id="u", k=3)
        assert any(h.id == thought.id for h in hits)
        assert "UPDATE" not in seen and "INSERT" not in seen and "DELETE" not in seen
        (listed,) = [t for t in mem.thoughts(user_id="u") if t.id == thought.id]
        assert listed.recall_count == 2 and listed.last_recalled_at is not None
        # a transaction that fails puts its recalls back: none is lost
        mem.search("which instrument does the user play", user_id="u", k=3)
        with pytest.raises(StorageError), comp.repo.begin() as conn:
            comp.repo.live(conn, Scope("default", "u"))  # writes the pending recall, then fails
            raise StorageError("boom")
        (listed,) = [t for t in mem.thoughts(user_id="u") if t.id == thought.id]
        assert listed.recall_count == 3
        # recalls still pending when the memory closes are written
        mem.search("which instrument does the user play", user_id="u", k=3)
    finally:
        mem.close()
    again = _memory(tmp_path, embedder, config={"thoughts": ThoughtConfig(enabled=True)})
    try:
        (listed,) = [t for t in again.thoughts(user_id="u") if t.id == thought.id]
        assert listed.recall_count == 4
    finally:
        again.close()
