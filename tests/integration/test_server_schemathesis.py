"""Property-based run of schemathesis against the served OpenAPI: no input yields a 5xx.

Bounded (``-n`` examples per operation, coverage + fuzzing phases) to stay within the
server test budget. Episodes answer 501 by design while the engine has none; that one
operation is left out of the run then (its 501 is tested in test_server_api).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from _servers import BIN

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_no_input_makes_a_server_error(server: str, new_key: Any, unique: str, tmp_path: Path) -> None:
    key = new_key(f"st-{unique}")
    h = {"Authorization": f"Bearer {key}"}
    # some data so that generated ids sometimes hit real users
    httpx.post(f"{server}/v1/users/ada/memories", headers=h, timeout=120,
               json={"messages": [{"role": "user", "content": "I adopted a grey cat named Miso."}]})
    cmd = [str(BIN / "schemathesis"), "run", f"{server}/openapi.json", "-H", f"Authorization: Bearer {key}",
           "-c", "not_a_server_error", "-n", "6", "--phases", "examples,coverage,fuzzing", "--seed", "7",
           "--request-timeout", "60", "--max-failures", "5", "--exclude-path", "/v1/keys",
           "--exclude-path", "/v1/keys/{key_id}", "--suppress-health-check", "all", "--no-color"]
    if httpx.get(f"{server}/v1/users/ada/episodes", headers=h, timeout=60).status_code == 501:
        cmd += ["--exclude-path", "/v1/users/{user_id}/episodes"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    assert " passed" in out, out[-3000:]
