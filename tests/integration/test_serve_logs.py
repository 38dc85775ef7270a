"""A running ``agentmem serve`` prints its startup line at the default log level and, with
``--access-log``, one line per request."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_prints_startup_line_and_access_log(tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("agentmem")
    if not cli.exists():
        pytest.skip("the agentmem console script is not installed")
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
           "AGENTMEM_DB": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(cli), "serve", "--host", "127.0.0.1", "--port", str(port), "--home", str(tmp_path),
             "--no-auth", "--device", "cpu", "--access-log"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
        )
        try:
            deadline = time.monotonic() + 180
            while True:
                assert proc.poll() is None, log.read_text()[-2000:]
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "serve did not become healthy"
                time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = log.read_text()
    assert f"agentmem: listening on http://127.0.0.1:{port} (workers 1, db sqlite:///" in text
    assert "auth off" in text and "access log on" in text
    assert '"GET /healthz HTTP/1.1" 200' in text
