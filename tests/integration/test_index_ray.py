"""``--engine ray``: a local Ray instance writing to Postgres + a Chroma server stores exactly
what the local engine stores on the same input."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _servers import Proc
from test_index import FIX, stored_state

from agentmem import MemoryConfig
from agentmem.batch import IndexOptions, run_index
from agentmem.errors import ValidationError

ray = pytest.importorskip("ray")


@pytest.fixture
def local_ray() -> Iterator[None]:
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
