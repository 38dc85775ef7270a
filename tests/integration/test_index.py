"""``agentmem index``: local engine on fixtures, idempotence, --strict, kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentmem import Memory, MemoryConfig
from agentmem.batch import IndexOptions, run_index
from agentmem.config import EpisodeConfig, GraphConfig
from agentmem.errors import ValidationError
from agentmem.mechanisms.graph import component as graph_component
from agentmem.mechanisms.graph.component import GraphComponent
from agentmem.mechanisms.graph.index import plan_add
from agentmem.mechanisms.turns.component import CONTEXT_KIND, KIND
from agentmem.types import Scope

FIX = Path(__file__).resolve().parents[1] / "fixtures_batch"
BIN = Path(sys.executable).parent


def stored_state(home: Path, embedder: Any, users: list[str], **config: Any) -> dict[str, Any]:
    """Everything that must match between two runs: turns (by message id) and vector ids."""
    mem = Memory(MemoryConfig(home=home, device="cpu", **config), embedder=embedder)
    try:
        state: dict[str, Any] = {}
        for u in users:
            turns = mem.memories(user_id=u)
            scope = Scope("default", u)
            ids = {t.id for t in turns}
            text_view = mem.services.config.recall.context_source == "text"  # else no vectors of its own
            for kind in (KIND, CONTEXT_KIND) if text_view else (KIND,):
                got = set(mem.services.vectors.fetch(kind, scope)[0])
                assert got == ids, f"{kind} vectors of {u}: {len(got)} for {len(ids)} turns"
            by_session: dict[str, list[Any]] = {}
            for t in turns:  # per-session order is input order; sessions may interleave
                by_session.setdefault(t.scope.session_id or "", []).append(
                    (t.metadata.get("message_id"), t.speaker, t.role, t.content, t.timestamp.isoformat()))
            state[u] = by_session
        return state
    finally:
        mem.close()


def test_local_engine_on_fixtures(tmp_path: Path, embedder: Any) -> None:
    errors: list[str] = []
    cfg = MemoryConfig(home=tmp_path / "h", chroma=str(tmp_path / "h" / "chroma"), device="cpu")
    opts = IndexOptions(paths=(str(FIX),), user="me", chunk_turns=4)
    s = run_index(opts, cfg, embedder=embedder, on_error=errors.append)
    assert s.counts["turns_added"] == 18 and s.counts["errors"] == 14 == len(errors) == len(s.errors)
    assert all(":" in e for e in errors)  # file: position: reason
    state = stored_state(tmp_path / "h", embedder, ["me"], chroma=str(tmp_path / "h" / "chroma"))["me"]
    # original timestamps (backdated), export ids, active ChatGPT branch
    assert state["chatgpt:conv-trip"][0] == (
        "n1", "user", "user", "I want to visit the Azores in June.", "2024-05-01T08:01:00.500000+00:00")
    assert [r[0] for r in state["chatgpt:conv-trip"]] == ["n1", "n3", "n4"]
    assert state["conv-t1:session_1"][0][1] == "Ana"
    # rerunning the same job stores nothing new and embeds nothing
    again = run_index(opts, cfg, embedder=embedder)
    assert again.counts["turns_added"] == 0 and again.counts["duplicates"] == 18
    assert again.counts["embedded"] == 0


def test_strict_fails_at_first_malformed_record(tmp_path: Path, embedder: Any) -> None:
    cfg = MemoryConfig(home=tmp_path / "h", chroma=str(tmp_path / "h" / "chroma"), device="cpu")
    opts = IndexOptions(paths=(str(FIX / "locomo.json"),), strict=True, chunk_turns=1)
    with pytest.raises(ValidationError, match=r"locomo.json: conversation 0 session_2 turn 1"):
        run_index(opts, cfg, embedder=embedder)
    # what came before the bad record is stored; the job stopped there
    mem = Memory(cfg, embedder=embedder)
    assert [t.metadata["dia_id"] for t in mem.memories(user_id="conv-t1")] == ["D1:1", "D1:2", "D1:3"]
    mem.close()


def _archive(path: Path, sessions: int, turns: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for s in range(sessions):
            for i in range(turns):
                fh.write(json.dumps({
                    "session_id": f"s{s:03d}", "role": "user" if i % 2 == 0 else "assistant",
                    "content": f"Session {s} turn {i}: we talked about topic {(s * 7 + i) % 23} in city {s % 11}.",
                    "timestamp": 1_700_000_000 + 3600 * s + 30 * i,
                }) + "\n")


def _cli(*args: str) -> list[str]:
    return [str(BIN / "agentmem"), "index", *args, "--device", "cpu", "--no-progress", "--quiet-errors"]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"}


def _watermark(db: Path) -> tuple[int, str] | None:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("SELECT watermark, status FROM index_jobs").fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else (int(row[0]), str(row[1]))


@pytest.mark.slow
def test_kill_and_resume_equals_uninterrupted_run(tmp_path: Path, embedder: Any) -> None:
    archive = tmp_path / "archive.jsonl"
    _archive(archive, sessions=40, turns=6)  # 240 turns, 40 records
    common = [str(archive), "--user", "u", "--chunk-turns", "12"]

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(*common, "--home", str(killed)), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    mark = None
    while time.monotonic() < deadline and proc.poll() is None:
        mark = _watermark(killed / "agentmem.db")
        if mark is not None and mark[0] > 0:
            break
        time.sleep(0.1)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()!r}"  # type: ignore[union-attr]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    after_kill = _watermark(killed / "agentmem.db")
    assert after_kill is not None and 0 < after_kill[0] < 40 and after_kill[1] == "running"

    resumed = subprocess.run(_cli(*common, "--home", str(killed), "--resume"), env=_env(),
                             capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["resumed_from_record"] == after_kill[0]

    fresh = tmp_path / "fresh"
    clean = subprocess.run(_cli(*common, "--home", str(fresh)), env=_env(), capture_output=True, text=True,
                           timeout=400)
    assert clean.returncode == 0, clean.stderr

    a = stored_state(killed, embedder, ["u"])
    b = stored_state(fresh, embedder, ["u"])
    assert sum(len(v) for v in b["u"].values()) == 240
    assert a == b


# -- a crash between the turns' commit and the components' on_add ----------------------------
TOPICS = [
    ["I baked sourdough bread with a new starter.", "The crust came out crispy from the dutch oven.",
     "Next I want to make pizza dough with the same flour.", "Fresh mozzarella and basil make a margherita."],
    ["The telescope captured a distant galaxy.", "Its infrared camera sees stars forming in dust clouds.",
     "Black holes grow by swallowing gas.", "I watched Jupiter and its moons from the backyard."],
    ["Our football team won the match on Saturday.", "The striker scored twice and the keeper saved a penalty.",
     "The coach changed the formation at half time.", "Next week they play the league leaders away."],
]
LONG = ("We spent a week on the island last spring. Zanzibar has white beaches and warm water. "
        "We ate grilled octopus at the night market in Stone Town. Next year we want to see the spice farms.")


def topic_archive(path: Path, sessions: int, long_at: int) -> None:
    """Sessions hopping between topics (drift boundaries); session 5 holds a turn longer than a
    unit at position ``long_at``."""
    with open(path, "w", encoding="utf-8") as fh:
        for s in range(sessions):
            texts = [x for k in range(3) for x in TOPICS[(s + k) % 3][: 2 + (s + k) % 3]]
            if s == 5:
                texts.insert(long_at, LONG)
            for i, text in enumerate(texts):
                fh.write(json.dumps({"session_id": f"s{s}", "role": "user" if i % 2 == 0 else "assistant",
                                     "content": f"{text} (session {s})",
                                     "timestamp": 1_700_000_000 + 3600 * s + 30 * i}) + "\n")


class CrashingEmbedder:
    """The test embedder, interrupted (Ctrl-C) the first time it is asked for a text about
    Zanzibar that the indexer did not predict: only a component's ``on_add`` asks for those
    (the episode component for the long turn's sentence units), so the crash falls after the
    session's turns were committed."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.fired = False

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        # a sentence unit is "speaker: sentence"; a turn's rendering and its context view carry
        # its "[date] ", and the graph's planned entity and fact texts no "speaker: "
        units = [x for x in texts if ": " in x and "] " not in x]
        if not self.fired and any("zanzibar" in x.lower() for x in units):
            self.fired = True
            raise KeyboardInterrupt
        return np.asarray(self.inner.embed(list(texts)))

    # it reads turns in windows as the real embedder does, so its run stores the same vectors
    reads_windows = True

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return list(self.inner.token_counts(texts))

    def embed_windows(self, windows: Sequence[tuple[Sequence[str], Sequence[str]]]) -> np.ndarray:
        return np.asarray(self.inner.embed_windows(windows))


def derived_state(home: Path, embedder: Any, user: str, *, graph: bool, **config: Any) -> dict[str, Any]:
    """Episodes (and the graph) with turn ids replaced by the turns' text, comparable across runs
    (the floats, ``surprise`` and ``vectors``, up to rounding)."""
    cfg = MemoryConfig(home=home, device="cpu", episodes=EpisodeConfig(segmenter="drift"),
                       graph=GraphConfig(enabled=graph), **config)
    mem = Memory(cfg, embedder=embedder)
    try:
        scope = Scope("default", user)
        text = {t.id: t.content for t in mem.memories(user_id=user)}
        eps = mem.episodes(user_id=user)
        ids, vecs = mem.services.vectors.fetch("episodes", scope, [e.id for e in eps])
        vec = dict(zip(ids, vecs, strict=True))
        state: dict[str, Any] = {
            "covered": sorted(text[i] for e in eps for i in e.turn_ids),
            "episodes": [(e.scope.session_id, [text[i] for i in e.turn_ids], e.text, e.start, e.end, e.seq,
                          e.boundary_method) for e in eps],
            "surprise": np.array([(e.surprise_mean, e.surprise_max) for e in eps]),
            "vectors": np.stack([vec[e.id] for e in eps]),
            "turns": sorted(text.values()),
        }
        if graph:
            g = mem.component("graph")
            assert isinstance(g, GraphComponent)
            idx = g.index(scope)
            state["graph"] = (
                sorted(text[p] for p in idx.passages), sorted(idx.entities.values()),
                sorted(f[:3] for f in idx.facts.values()), sorted(idx.synonyms),
                sorted((e, text[p]) for e, ps in idx.mentions.items() for p in ps),
                sorted((f, text[p]) for f, ps in idx.sources.items() for p in ps),
            )
        return state
    finally:
        mem.close()


class CrashingGraph:
    """``plan_add`` for the graph component, interrupted (Ctrl-C) the first time a passage about
    Zanzibar is added: inside the graph's ``on_add``, after the session's turns were committed."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, index: Any, scope: Any, passages: Sequence[Any], **kw: Any) -> Any:
        named = [x for p in passages for x in (*p.entities, *(w for t in p.triples for w in t))]
        if not self.fired and any("zanzibar" in x.lower() for x in named):
            self.fired = True
            raise KeyboardInterrupt
        return plan_add(index, scope, passages, **kw)


# The crash falls in session 5's third (last) add in the episode component, or in its second add
# in the graph component (which runs after the episode component). Either way only re-adding
# the stored messages (a catch-up in Memory.add) can make the crashed component consume them.
@pytest.mark.parametrize(("graph", "long_at"), [(False, 8), (True, 6)], ids=["crash-in-episodes", "crash-in-graph"])
def test_crash_after_turns_commit_resumes_to_uninterrupted_episodes(tmp_path: Path, embedder: Any,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   graph: bool, long_at: int) -> None:
    archive = tmp_path / "topics.jsonl"
    topic_archive(archive, sessions=8, long_at=long_at)  # 8 records of 9-10 turns; adds of 4 messages
    opts = IndexOptions(paths=(str(archive),), user="u", chunk_turns=18, episodes="drift")

    def config(home: Path) -> MemoryConfig:
        return MemoryConfig(home=home, device="cpu", max_messages_per_call=4, graph=GraphConfig(enabled=graph),
                            episodes=EpisodeConfig(window=4, min_turns=2, max_turns=6, max_unit_chars=90))

    # the episode component embeds the long turn's sentence units itself (the plan does not
    # name them); the graph's texts are planned, so its crash comes from plan_add instead
    crashing: CrashingEmbedder | CrashingGraph
    if graph:
        crashing = CrashingGraph()
        monkeypatch.setattr(graph_component, "plan_add", crashing)
        with pytest.raises(KeyboardInterrupt):
            run_index(opts, config(tmp_path / "killed"), embedder=embedder)
        monkeypatch.undo()
    else:
        crashing = CrashingEmbedder(embedder)
        with pytest.raises(KeyboardInterrupt):
            run_index(opts, config(tmp_path / "killed"), embedder=crashing)
    assert crashing.fired
    # the in-flight session's turns are stored, but the crashed component did not consume them
    cut = derived_state(tmp_path / "killed", embedder, "u", graph=graph)
    assert any(LONG in x for x in cut["turns"])
    if graph:  # the episode component runs before the graph's, so it did
        assert not any(LONG in x for x in cut["graph"][0])
    else:
        assert not any(LONG in x for x in cut["covered"])

    resumed = run_index(replace(opts, resume=True), config(tmp_path / "killed"), embedder=embedder)
    assert resumed.resumed_from == 4  # records 0-3 were done; 4 and 5 were in flight
    fresh = run_index(opts, config(tmp_path / "fresh"), embedder=embedder)

    a = derived_state(tmp_path / "killed", embedder, "u", graph=graph)
    b = derived_state(tmp_path / "fresh", embedder, "u", graph=graph)
    # every turn is in an episode (a long turn's sentence units may fall on both sides of a boundary)
    assert set(b["covered"]) == set(b["turns"]) and len(b["turns"]) == fresh.counts["turns_added"] == 73
    floats = [(a.pop(key), b.pop(key)) for key in ("surprise", "vectors")]
    assert a == b
    for got, want in floats:
        np.testing.assert_allclose(got, want, atol=1e-4)
    assert stored_state(tmp_path / "killed", embedder, ["u"]) == stored_state(tmp_path / "fresh", embedder, ["u"])
