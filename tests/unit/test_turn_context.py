"""The in-context view: the vector form against a per-row reference, the turn component's views
(text and vectors) equal after incremental adds and after a rebuild, and what the plan lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentmem import Memory, MemoryConfig
from agentmem.config import EpisodeConfig, GraphConfig, RecallConfig
from agentmem.mechanisms.turns.component import TurnComponent
from agentmem.mechanisms.turns.context import context_text, context_vectors
from agentmem.types import Scope


def _reference(plain: np.ndarray, previous: np.ndarray, weight: float, before: np.ndarray | None) -> np.ndarray:
    out = []
    for i, p in enumerate(previous):
        v = plain[i].astype(np.float64)
        if p >= 0:
            v = v + weight * plain[p]
        elif p == -2:
            assert before is not None
            v = v + weight * before[i]
        else:
            out.append(plain[i])
            continue
        out.append(v / np.linalg.norm(v))
    return np.asarray(out, dtype=np.float32)


@pytest.mark.parametrize("weight", [0.0, 0.5, 2.0])
def test_context_vectors_match_a_per_row_reference(weight: float) -> None:
    rng = np.random.default_rng(0)
    plain = rng.normal(size=(9, 16)).astype(np.float32)
    plain /= np.linalg.norm(plain, axis=1, keepdims=True)
    before = rng.normal(size=(9, 16)).astype(np.float32)
    previous = np.array([-1, 0, 1, -2, 3, -1, -2, 6, 2])
    got = context_vectors(plain, previous, weight=weight, before=before)
    np.testing.assert_allclose(got, _reference(plain, previous, weight, before), atol=1e-6)
    assert got.dtype == np.float32 and not np.shares_memory(got, plain)


def test_context_vectors_need_before_for_rows_marked_given() -> None:
    with pytest.raises(ValueError, match="before"):
        context_vectors(np.eye(2, dtype=np.float32), np.array([-1, -2]), weight=0.5)


def _views(mem: Memory, user: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    comp = mem.component("turns")
    assert isinstance(comp, TurnComponent)
    scope = Scope("default", user)
    version = mem.services.sql.versions(scope).get(comp.name, 0)
    out = {}
    rebuilt = comp._build(scope)
    with comp._cache.reading(scope, version) as live:
        for t in mem.memories(user_id=user):
            r, b = live.plain.row_of(t.id), rebuilt.plain.row_of(t.id)
            assert r is not None and b is not None
            out[t.content] = (live.ctx.rows_vectors(np.array([r]))[0], rebuilt.ctx.rows_vectors(np.array([b]))[0])
    return out


@pytest.mark.parametrize("source", ["text", "vectors"])
def test_incremental_views_equal_rebuilt_ones_across_add_calls(tmp_path: Path, embedder: Any, source: str) -> None:
    cfg = MemoryConfig(home=tmp_path, device="cpu", graph=GraphConfig(enabled=False), turn_window=0,
                       episodes=EpisodeConfig(segmenter="off"), recall=RecallConfig(context_source=source))  # type: ignore[arg-type]
    mem = Memory(cfg, embedder=embedder)
    try:
        mem.add([{"role": "user", "content": "Did you see the game last night?"},
                 {"role": "assistant", "content": "Yes, the last minute goal was amazing."}],
                user_id="u", session_id="s1")
        mem.add([{"role": "user", "content": "Who scored it?"}], user_id="u", session_id="s1")  # follows a stored turn
        mem.add([{"role": "user", "content": "Let's plan the trip to Porto."}], user_id="u", session_id="s2")
        views = _views(mem, "u")
        for live, rebuilt in views.values():
            np.testing.assert_allclose(live, rebuilt, atol=1e-6)
        turns = {t.content: t for t in mem.memories(user_id="u")}
        plain = dict(zip(turns, embedder.embed([t.render() for t in turns.values()]), strict=True))
        # a session's first turn is its own view; "Who scored it?" is read after the goal turn
        first = views["Let's plan the trip to Porto."][0]
        np.testing.assert_allclose(first, plain["Let's plan the trip to Porto."], atol=1e-2)
        if source == "vectors":
            want = plain["Who scored it?"] + 0.5 * plain["Yes, the last minute goal was amazing."]
            want /= np.linalg.norm(want)
        else:
            want = embedder.embed([context_text(turns["Who scored it?"],
                                                turns["Yes, the last minute goal was amazing."])])[0]
        np.testing.assert_allclose(views["Who scored it?"][0], want, atol=1e-2)
    finally:
        mem.close()


def test_the_text_view_is_the_previous_turn_then_the_rendering(tmp_path: Path, embedder: Any) -> None:
    mem = Memory(MemoryConfig(home=tmp_path, device="cpu", graph=GraphConfig(enabled=False), turn_window=0,
                              episodes=EpisodeConfig(segmenter="off"), recall=RecallConfig(context_source="text")),
                 embedder=embedder)
    try:
        mem.add([{"role": "user", "content": "Where to?", "speaker": "Ana"}], user_id="u", session_id="s")
        plan = mem.maintenance.plan([{"role": "user", "content": "Porto!", "speaker": "Ben"}], user_id="u",
                                    session_id="s")
        assert any(t.startswith("Ana: Where to?\n[") and t.endswith("] Ben: Porto!") for t in plan.texts)
        vectors_only = Memory(MemoryConfig(home=tmp_path / "v", device="cpu", graph=GraphConfig(enabled=False), turn_window=0,
                                           episodes=EpisodeConfig(segmenter="off"),
                                           recall=RecallConfig(context_source="vectors")), embedder=embedder)
        try:
            vectors_only.add([{"role": "user", "content": "Where to?", "speaker": "Ana"}], user_id="u", session_id="s")
            texts = vectors_only.maintenance.plan([{"role": "user", "content": "Porto!", "speaker": "Ben"}],
                                                  user_id="u", session_id="s").texts
            assert len(texts) == 1 and texts[0].endswith("] Ben: Porto!")  # the rendering alone
        finally:
            vectors_only.close()
    finally:
        mem.close()
