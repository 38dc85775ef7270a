"""``agentmem bench gpu --small`` runs on the CPU with the storage stack (chromadb, SQLAlchemy)
impossible to import: the GPU image has neither, so the command must import only leaf modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("transformers")

BLOCKED = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("chromadb", "sqlalchemy"):
            raise ImportError(f"{name} is blocked (a GPU image without the storage stack)")
        return None
sys.meta_path.insert(0, _Block())
from agentmem.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_bench_gpu_small_runs_without_the_storage_stack() -> None:
    env = dict(os.environ, PYTHONSAFEPATH="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("TRITON_INTERPRET", None)
    p = subprocess.run(
        [sys.executable, "-c", BLOCKED, "bench", "gpu", "--small", "--json",
         "--sections", "ceil,search,index,ppr,lsh,lm,embed,rescore,feed,pack"],
        capture_output=True, text=True, timeout=600, env=env, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    failed = {k: v.get("error") for k, v in out["sections"].items() if v["status"] != "ok"}
    assert not failed, failed
    s = out["sections"]
    assert s["lm"]["fp32_max_abs_diff_batched_vs_one"] < 1e-4
    assert s["ppr"]["float64_l1_vs_reference"] < 1e-6
    assert s["embed"]["min_cosine_bfloat16_vs_float32"] > 0.99
    assert all(row["ids_equal_fp32"] == 1.0 for row in s["rescore"]["rows"] if "ids_equal_fp32" in row)
    assert s["feed"]["float32_fed_max_abs_diff_vs_plain"] < 1e-6
    assert s["feed"]["min_cosine_bfloat16_vs_float32"] > 0.99
    assert s["pack"]["float32_packed_max_abs_diff_vs_padded"] < 1e-5
    assert s["pack"]["bfloat16_packed_max_abs_diff_vs_padded"] < 0.05
    assert "section | status" in p.stderr  # the one table
