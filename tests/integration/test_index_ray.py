"""``--engine ray``: a local Ray instance writing to Postgres + a Chroma server stores exactly
what the local engine stores on the same input, and resumes an interrupted job exactly."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _servers import Proc
from test_index import FIX, CrashingEmbedder, derived_state, stored_state, topic_archive

from agentmem import Memory, MemoryConfig
from agentmem.batch import IndexOptions, run_index
from agentmem.config import EpisodeConfig
from agentmem.errors import ValidationError

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:  # one local Ray for the module's tests: each job ends its actors
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {
        "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false"}})
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(400)
def test_ray_engine_matches_local_engine(tmp_path: Path, embedder: Any, pg_url: str,
                                         chroma_server: Proc, unique: str, local_ray: None) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    user = f"ray-{unique}"
    opts = IndexOptions(paths=(str(FIX),), user=user, chunk_turns=4, workers=1)

    local_home = tmp_path / "local"
    local_cfg = MemoryConfig(home=local_home, chroma=str(local_home / "chroma"), device="cpu")
    local = run_index(opts, local_cfg, embedder=embedder)

    dist_cfg = MemoryConfig(home=tmp_path / "ray", db_url=pg_url, chroma=chroma_server.url, device="cpu")
    dist = run_index(IndexOptions(**{**_fields(opts), "engine": "ray"}), dist_cfg)

    assert dist.counts["turns_added"] == local.counts["turns_added"] == 18
    assert sorted(dist.errors) == sorted(local.errors) and len(dist.errors) == 14
    a = stored_state(local_home, embedder, [user], chroma=str(local_home / "chroma"))
    b = stored_state(tmp_path / "ray", embedder, [user], db_url=pg_url, chroma=chroma_server.url)
    assert a == b


def _fields(opts: IndexOptions) -> dict[str, Any]:
    return {f: getattr(opts, f) for f in opts.__dataclass_fields__}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(400)
def test_ray_strict_stops_on_a_message_add_rejects(tmp_path: Path, embedder: Any, pg_url: str,
                                                  chroma_server: Proc, unique: str, local_ray: None) -> None:
    # well-formed JSONL whose second message is over max_message_chars: rejected by Memory.add,
    # not by the reader, so it surfaces inside a Ray worker
    archive = tmp_path / "long.jsonl"
    archive.write_text("\n".join(json.dumps({"session_id": "s1", "role": "user", "content": c, "id": f"m{i}",
                                             "timestamp": 1_700_000_000 + i})
                                 for i, c in enumerate(["short one", "x" * 300, "short two"])) + "\n")
    user = f"ray-strict-{unique}"
    cfg = MemoryConfig(home=tmp_path / "ray", db_url=pg_url, chroma=chroma_server.url, device="cpu",
                       max_message_chars=200)
    lenient = run_index(IndexOptions(paths=(str(archive),), user=user, engine="ray", workers=1), cfg)
    assert lenient.counts.get("turns_added") == 2, lenient
    assert len(lenient.errors) == 1 and "message m1" in lenient.errors[0]
    with pytest.raises(ValidationError, match=r"malformed message \(--strict\).*message m1"):
        run_index(IndexOptions(paths=(str(archive),), user=f"{user}-b", engine="ray", workers=1, strict=True), cfg)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(400)
def test_ray_resume_after_a_crash_inside_the_episode_component(tmp_path: Path, embedder: Any, pg_url: str,
                                                              chroma_server: Proc, unique: str,
                                                              local_ray: None) -> None:
    # the local engine is interrupted after session 5's last add was committed, before its
    # episodes were written (see test_index); the Ray engine resumes the job on the same stores
    archive = tmp_path / "topics.jsonl"
    topic_archive(archive, sessions=8, long_at=8)
    user = f"ray-resume-{unique}"
    opts = IndexOptions(paths=(str(archive),), user=user, chunk_turns=18, episodes="drift")
    episodes = EpisodeConfig(window=4, min_turns=2, max_turns=6, max_unit_chars=90)
    shared = {"db_url": pg_url, "chroma": chroma_server.url}
    cfg = MemoryConfig(home=tmp_path / "ray", device="cpu", max_messages_per_call=4, episodes=episodes, **shared)
    with pytest.raises(KeyboardInterrupt):
        run_index(opts, cfg, embedder=CrashingEmbedder(embedder))
    resumed = run_index(replace(opts, engine="ray", resume=True), cfg)
    assert resumed.resumed_from == 4

    local = MemoryConfig(home=tmp_path / "local", device="cpu", max_messages_per_call=4, episodes=episodes)
    run_index(opts, local, embedder=embedder)
    a = derived_state(tmp_path / "ray", embedder, user, graph=False, **shared)
    b = derived_state(tmp_path / "local", embedder, user, graph=False)
    # every turn is in an episode (a long turn's sentence units may fall on both sides of a boundary)
    assert set(b["covered"]) == set(b["turns"]) and len(b["turns"]) == 73
    floats = [(a.pop(key), b.pop(key)) for key in ("surprise", "vectors")]
    # episode seq numbers are per user: Ray may store the resumed sessions in another order
    for state in (a, b):
        state["episodes"] = [e[:5] + e[6:] for e in state["episodes"]]
    assert a == b
    for got, want in floats:
        np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(400)
def test_ray_engine_scores_surprise_in_batches_with_the_local_engines_episodes(
        tmp_path: Path, embedder: Any, pg_url: str, chroma_server: Proc, unique: str, local_ray: None) -> None:
    pytest.importorskip("transformers")
    from _tiny_lm import save_tiny_lm

    lm_dir = save_tiny_lm(tmp_path / "lm")
    episodes = EpisodeConfig(segmenter="surprise", lm=str(lm_dir), lm_dtype="float32", lm_context=4, lm_page=8,
                             window=3, min_turns=1, max_turns=4, max_unit_chars=40)
    archive = tmp_path / "topics.jsonl"
    topic_archive(archive, sessions=6, long_at=3)
    user = f"ray-surprise-{unique}"
    opts = IndexOptions(paths=(str(archive),), user=user, chunk_turns=12, workers=2, engine="ray")
    shared = {"db_url": pg_url, "chroma": chroma_server.url}
    ray_cfg = MemoryConfig(home=tmp_path / "ray", device="cpu", max_messages_per_call=4, episodes=episodes,
                           **shared)
    dist = run_index(opts, ray_cfg)
    # every window of these fresh sessions was scored in the embedding actors' batches
    assert dist.counts["surprise_windows_batched"] > 0 and dist.counts["surprise_prediction_misses"] == 0

    local_cfg = MemoryConfig(home=tmp_path / "local", device="cpu", max_messages_per_call=4, episodes=episodes)
    local = run_index(replace(opts, engine="local", workers=1), local_cfg, embedder=embedder)
    assert (local.counts["surprise_windows_batched"], local.counts["surprise_prediction_misses"]) == (
        dist.counts["surprise_windows_batched"], 0)

    def episodes_of(cfg: MemoryConfig) -> list[tuple[Any, ...]]:
        mem = Memory(cfg, embedder=embedder)
        try:
            text = {t.id: t.content for t in mem.memories(user_id=user)}
            return sorted((e.scope.session_id, tuple(text[i] for i in e.turn_ids), e.text,
                           round(e.surprise_mean, 4), round(e.surprise_max, 4), e.boundary_method)
                          for e in mem.episodes(user_id=user))
        finally:
            mem.close()

    got = episodes_of(ray_cfg)
    assert got and {e[5] for e in got} == {"surprise"} and got == episodes_of(local_cfg)


def test_embedding_pool_is_one_actor_per_gpu() -> None:
    from agentmem.batch.ray_engine import embed_pool
    from agentmem.errors import ConfigError

    assert embed_pool(4, "auto", workers=2) == (4, 1)  # one actor per GPU of the cluster
    assert embed_pool(4, "cuda", workers=2) == (4, 1)
    assert embed_pool(4, "cpu", workers=2) == (2, 0)  # device cpu: CPU actors even with GPUs
    assert embed_pool(0, "auto", workers=3) == (3, 0)
    with pytest.raises(ConfigError):
        embed_pool(0, "cuda", workers=1)

