"""Start real ``agentmem serve`` / ``chroma run`` processes on free loopback ports for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """A started process and the URL it answers on."""

    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
                "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"})
    env.update(extra or {})
    return env


def _spawn(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    fh = open(log, "wb")  # noqa: SIM115 - closed with the process
    # A process group of its own, so that stop() ends uvicorn's workers too.
    return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def wait_until(proc: Proc, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.url} exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            if httpx.get(proc.url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.stop()
    raise RuntimeError(f"{proc.url}{path} not up after {timeout}s:\n{proc.tail()}")


def start_chroma(path: Path, log_dir: Path) -> Proc:
    port = free_port()
    cmd = [str(BIN / "chroma"), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    proc = Proc(_spawn(cmd, log_dir / f"chroma-{port}.log", _env(None)), f"http://127.0.0.1:{port}",
                log_dir / f"chroma-{port}.log")
    wait_until(proc, "/api/v2/heartbeat", 60)
    return proc


def spawn_server(*args: str, log_dir: Path, env: dict[str, str] | None = None) -> Proc:
    """``agentmem serve ARGS`` on a free port (not waited for: see :func:`wait_until`)."""
    port = free_port()
    cmd = [str(BIN / "agentmem"), "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", *args]
    log = log_dir / f"server-{port}.log"
    return Proc(_spawn(cmd, log, _env(env)), f"http://127.0.0.1:{port}", log)


def start_servers(*arg_sets: list[str], log_dir: Path, env: dict[str, str] | None = None,
                  timeout: float = 120) -> list[Proc]:
    """Start several servers at once (their model loads overlap) and wait for all."""
    procs = [spawn_server(*a, log_dir=log_dir, env=env) for a in arg_sets]
    try:
        for p in procs:
            wait_until(p, "/readyz", timeout)
    except Exception:
        for p in procs:
            p.stop()
        raise
    return procs
