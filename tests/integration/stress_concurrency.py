"""The issue-21 concurrency check, run by hand (not collected by pytest: it takes minutes).

8 clients × 200 mixed requests (add, search, recall, list, get, delete of an own memory) against
``agentmem serve`` on SQLite (one process) and on two replicas sharing one Postgres database and
one Chroma server (clients alternate between replicas). Reports errors (any 5xx, any unexpected
4xx, any transport error) and lost acknowledged writes (an add answered 201 whose memory is not
listed at the end, unless this run deleted it)::

    .venv/bin/python tests/integration/stress_concurrency.py [--clients 8] [--requests 200] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _servers import Proc, start_chroma, start_servers  # noqa: E402

ADMIN = "stress-admin-" + uuid.uuid4().hex


async def _client(urls: list[str], h: dict[str, str], worker: int, n: int, seed: int,
                  acked: set[str], deleted: set[str], errors: Counter[str], ops: Counter[str]) -> None:
    rnd = random.Random(seed * 1000 + worker)
    user = f"u{worker % 4}"  # two clients share each user: concurrent writers of one index
    mine: list[str] = []
    async with httpx.AsyncClient(timeout=120, headers=h) as client:
        for i in range(n):
            base = urls[(worker + i) % len(urls)]
            roll = rnd.random()
            if roll < 0.4 or not mine:
                op = "add"
                r = await client.post(f"{base}/v1/users/{user}/memories", json={"messages": [
                    {"role": "user", "content": f"Client {worker} note {i}: the {rnd.choice(['red', 'blue'])} "
                                                f"kettle {rnd.randint(0, 99)} is on shelf {i % 7}."}]})
                if r.status_code == 201:
                    ids = [m["id"] for m in r.json()["memories"]]
                    acked.update(ids)
                    mine += ids
            elif roll < 0.7:
                op = "search"
                r = await client.post(f"{base}/v1/users/{user}/search", json={"query": f"kettle on shelf {i % 7}"})
            elif roll < 0.8:
                op = "recall"
                r = await client.post(f"{base}/v1/users/{user}/recall", json={"query": "red kettle", "token_budget": 200})
            elif roll < 0.88:
                op = "list"
                r = await client.get(f"{base}/v1/users/{user}/memories", params={"limit": 50})
            elif roll < 0.95:
                op = "get"
                r = await client.get(f"{base}/v1/users/{user}/memories/{rnd.choice(mine)}")
            else:
                op = "delete"
                victim = mine.pop(rnd.randrange(len(mine)))
                r = await client.delete(f"{base}/v1/users/{user}/memories/{victim}")
                if r.status_code == 204:
                    deleted.add(victim)
            ops[op] += 1
            if r.status_code >= 400:
                errors[f"{op} {r.status_code} {r.text[:120]}"] += 1


async def _drive(urls: list[str], h: dict[str, str], clients: int, n: int, seed: int) -> dict[str, Any]:
    acked: set[str] = set()
    deleted: set[str] = set()
    errors: Counter[str] = Counter()
    ops: Counter[str] = Counter()
    t0 = time.monotonic()
    await asyncio.gather(*(_client(urls, h, w, n, seed, acked, deleted, errors, ops) for w in range(clients)))
    elapsed = time.monotonic() - t0
    stored: set[str] = set()
    async with httpx.AsyncClient(timeout=120, headers=h) as client:
        for user in {f"u{w % 4}" for w in range(clients)}:
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 1000} | ({"cursor": cursor} if cursor is not None else {})
                page = (await client.get(f"{urls[-1]}/v1/users/{user}/memories", params=params)).json()
                stored.update(m["id"] for m in page["items"])
                cursor = page["next_cursor"]
                if cursor is None:
                    break
    lost = acked - deleted - stored
    return {"requests": sum(ops.values()), "ops": dict(ops), "errors": sum(errors.values()),
            "error_kinds": dict(errors.most_common(5)), "acknowledged_adds": len(acked),
            "deleted": len(deleted), "lost": len(lost), "seconds": round(elapsed, 1)}


def _key(url: str, tenant: str) -> dict[str, str]:
    r = httpx.post(f"{url}/v1/keys", json={"tenant": tenant}, headers={"Authorization": f"Bearer {ADMIN}"})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['key']}"}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pg", default=None, help="Postgres URL for the two-replica run (skipped without)")
    p.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True, help="the SQLite run")
    p.add_argument("--logs", default=None, help="keep the servers' logs in this directory")
    args = p.parse_args()
    env = {"AGENTMEM_ADMIN_KEY": ADMIN, "AGENTMEM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        logs = Path(args.logs) if args.logs else root
        logs.mkdir(parents=True, exist_ok=True)
        if args.sqlite:
            procs: list[Proc] = start_servers(["--home", str(root / "sqlite")], log_dir=logs, env=env, timeout=300)
            try:
                url = procs[0].url
                print("sqlite, one process:", asyncio.run(_drive([url], _key(url, "stress"), args.clients,
                                                                  args.requests, args.seed)), flush=True)
            finally:
                for proc in procs:
                    proc.stop()
        if args.pg:
            chroma = start_chroma(root / "chroma", logs)
            replicas = start_servers(*[["--db", args.pg, "--chroma", chroma.url, "--home", str(root / f"h{i}")]
                                       for i in range(2)], log_dir=logs, env=env, timeout=300)
            try:
                urls = [r.url for r in replicas]
                print("postgres, two replicas:", asyncio.run(_drive(urls, _key(urls[0], f"stress-{uuid.uuid4().hex[:6]}"),
                                                                   args.clients, args.requests, args.seed)), flush=True)
            finally:
                for proc in [*replicas, chroma]:
                    proc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
