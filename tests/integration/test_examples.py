"""Every adapter example runs as a script, offline, with a fake chat model and a fresh home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ["langgraph_agent_memory.py", "langchain_retriever_chain.py", "agent_middleware.py"]


@pytest.mark.parametrize("script", EXAMPLES)
def test_example_runs(script: str, tmp_path: Path) -> None:
    pytest.importorskip("langchain.agents")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("AGENTMEM_URL", "AGENTMEM_API_KEY")},
        "AGENTMEM_HOME": str(tmp_path / "home"),
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
    }
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / script)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240,
    )
    assert out.returncode == 0, f"{script} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert out.stdout.strip()
