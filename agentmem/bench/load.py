"""``agentmem bench load``: a bounded loopback load run against ``agentmem serve``.

Fills one user with ``--turns`` synthetic turns (in-process, straight into the store), then
for each ``--workers`` setting starts the sidecar on a free loopback port (auth off, the
same SQL database and a Chroma server shared by the workers), and drives ``search`` then
``add`` requests for ``--duration`` seconds each from ``--concurrency`` asyncio clients.
Reports requests/s and p50/p95 latency per (workers, operation). The timed part lasts
``2 × len(workers) × duration`` seconds plus server start-ups.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from agentmem.bench.latency import _NAMES, _TOPICS, _VERBS, synthetic_turns

__all__ = ["add_arguments", "run"]

_BIN = Path(sys.executable).parent


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--turns", type=int, default=10_000, help="turns stored before the run")
    p.add_argument("--workers", default="1,2", help="comma-separated uvicorn worker counts")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per (workers, operation)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    p.add_argument("--db", default=None, help="SQLAlchemy URL (default: SQLite in a temporary directory)")
    p.add_argument("--chroma", default=None, help="Chroma server URL (default: start one on loopback)")
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"}


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def _spawn(cmd: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(),
                            start_new_session=True)


async def _drive(url: str, op: str, duration: float, concurrency: int, seed: int) -> dict[str, Any]:
    import httpx

    rng = random.Random(seed)
    lat: list[float] = []
    errors = 0
    counter = [0]
    deadline = time.perf_counter() + duration

    async def one(client: httpx.AsyncClient, worker: int) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            if op == "search":
                q = f"when did {rng.choice(_NAMES)} {rng.choice(_VERBS)} {rng.choice(_TOPICS)}?"
                req = ("POST", "/v1/users/bench/search", {"query": q, "k": 10})
            else:
                counter[0] += 1
                text = f"load turn {seed}-{worker}-{counter[0]}: {rng.choice(_NAMES)} {rng.choice(_VERBS)} " \
                       f"{rng.choice(_TOPICS)}"
                req = ("POST", "/v1/users/bench/memories",
                       {"messages": [{"role": "user", "content": text}], "session_id": f"load{worker}"})
            t0 = time.perf_counter()
            try:
                r = await client.request(req[0], req[1], json=req[2])
                ok = r.status_code < 300
            except httpx.HTTPError:
                ok = False
            if ok:
                lat.append(time.perf_counter() - t0)
            else:
                errors += 1

    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await asyncio.gather(*(one(client, w) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    ms = np.asarray(lat) * 1000 if lat else np.zeros(1)
    return {"op": op, "requests": len(lat), "errors": errors, "seconds": round(elapsed, 2),
            "rps": round(len(lat) / elapsed, 1), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1)}


def _warm(url: str, n_workers: int, timeout: float = 600) -> None:
    """Search until every worker has built the user's index (the first search builds it).

    Keep-alive would pin one connection to one worker, so each warm-up request opens its own
    connection, ``2 * n_workers`` at a time; warm means two rounds in a row answered within 2 s.
    """
    import httpx

    def one() -> float:
        t0 = time.perf_counter()
        with httpx.Client(base_url=url, timeout=timeout, headers={"Connection": "close"}) as client:
            client.post("/v1/users/bench/search", json={"query": "warm-up query", "k": 10})
        return time.perf_counter() - t0

    deadline, fast = time.monotonic() + timeout, 0
    with ThreadPoolExecutor(2 * n_workers) as pool:
        while fast < 2 and time.monotonic() < deadline:
            slowest = max(pool.map(lambda _: one(), range(2 * n_workers)))
            fast = fast + 1 if slowest < 2.0 else 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    from agentmem.config import MemoryConfig
    from agentmem.memory import Memory

    workers = [int(w) for w in str(args.workers).split(",")]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="agentmem-load-") as tmp:
        home = Path(tmp)
        db = args.db or f"sqlite:///{home / 'agentmem.db'}"
        chroma_proc = None
        chroma = args.chroma
        if chroma is None:
            port = _port()
            chroma_proc = _spawn([str(_BIN / "chroma"), "run", "--path", str(home / "chroma"), "--host",
                                  "127.0.0.1", "--port", str(port)])
            chroma = f"http://127.0.0.1:{port}"
            _wait(f"{chroma}/api/v2/heartbeat", chroma_proc)
        try:
            t0 = time.perf_counter()
            mem = Memory(MemoryConfig(home=home, db_url=db, chroma=chroma, device="cpu"))
            stored = len(mem.memories(user_id="bench"))
            while stored < args.turns:
                n = min(args.batch, args.turns - stored)
                mem.add(synthetic_turns(n, args.seed, stored), user_id="bench", session_id=f"s{stored // 500}")
                stored += n
            mem.close()
            fill_s = time.perf_counter() - t0
            for n_workers in workers:
                port = _port()
                server = _spawn([str(_BIN / "agentmem"), "serve", "--no-auth", "--host", "127.0.0.1", "--port",
                                 str(port), "--db", db, "--chroma", chroma, "--home", str(home), "--device", "cpu",
                                 "--workers", str(n_workers)])
                url = f"http://127.0.0.1:{port}"
                try:
                    _wait(f"{url}/readyz", server)
                    _warm(url, n_workers)
                    for op in ("search", "add"):
                        res = asyncio.run(_drive(url, op, args.duration, args.concurrency, args.seed + n_workers))
                        results.append({"workers": n_workers, **res})
                finally:
                    _stop(server)
        finally:
            if chroma_proc is not None:
                _stop(chroma_proc)
    return {"bench": "load", "turns": args.turns, "fill_seconds": round(fill_s, 1), "db": db.split(":")[0],
            "concurrency": args.concurrency, "duration_s": args.duration, "cpu_count": os.cpu_count(),
            "results": results}
