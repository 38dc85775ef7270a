"""``agentmem index``: local engine on fixtures, idempotence, --strict, kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentmem import Memory, MemoryConfig
from agentmem.batch import IndexOptions, run_index
from agentmem.errors import ValidationError
from agentmem.retrieve.turns import CONTEXT_KIND, KIND
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
            for kind in (KIND, CONTEXT_KIND):
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
