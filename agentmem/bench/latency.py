"""``agentmem bench latency``: search latency as one user's memory grows.

Synthetic conversation turns (seeded templates over a few hundred names, places, topics and
activities) are added through ``Memory.add`` in batches; at each size in ``--n`` the bench
runs ``--queries`` searches and reports p50/p95, query embedding included. With ``--home`` the
filled store persists, and a later run over the same home resumes the fill where it stopped
(turn ids are deterministic), so the timed part can be repeated on a quiet machine.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentmem.config import MemoryConfig
from agentmem.types import Scope

__all__ = ["add_arguments", "run", "synthetic_turns"]

_NAMES = ["Ada", "Rui", "Inês", "Clara", "Miguel", "Sofia", "Tomás", "Beatriz", "João", "Marta",
          "Pedro", "Lucas", "Helena", "Duarte", "Carolina", "Tiago", "Mariana", "Gonçalo", "Rita", "André"]
_TOPICS = ["the Dagster migration", "a hiking trip", "the new apartment", "Portuguese classes", "the audit",
           "a birthday party", "the cat's vaccine", "a job interview", "the garden", "a marathon",
           "a pottery course", "the quarterly report", "a concert", "a road trip", "the budget",
           "a climbing gym", "a book club", "the kitchen renovation", "a conference talk", "a volunteer shift"]
_PLACES = ["Lisbon", "Porto", "the Azores", "Sintra", "Madeira", "Coimbra", "the office", "the bakery",
           "the park", "the beach", "Berlin", "Madrid", "the library", "the station", "the market"]
_VERBS = ["talked about", "planned", "finished", "worried about", "celebrated", "cancelled", "postponed",
          "booked", "asked about", "remembered"]
_WHEN = ["on Monday", "last weekend", "yesterday", "this morning", "in May", "next week", "after work",
         "during lunch", "at night", "before the holidays"]


def synthetic_turns(n: int, seed: int, start: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed * 1_000_003 + start)
    out = []
    for i in range(start, start + n):
        text = (f"{rng.choice(_NAMES)} {rng.choice(_VERBS)} {rng.choice(_TOPICS)} in {rng.choice(_PLACES)} "
                f"{rng.choice(_WHEN)}; note {i % 997}.")
        out.append({"speaker": rng.choice(["user", "assistant"]), "content": text, "id": f"t{i}",
                    "timestamp": 1_600_000_000 + 60 * i})
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", default="10000,100000", help="comma-separated store sizes (turns)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--batch", type=int, default=2000, help="turns per add call while filling")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--home", default=None)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def run(args: argparse.Namespace) -> dict[str, Any]:
    from agentmem.memory import Memory

    sizes = sorted(int(x) for x in str(args.n).split(","))
    rng = random.Random(args.seed)
    queries = [f"when did {rng.choice(_NAMES)} {rng.choice(_VERBS)} {rng.choice(_TOPICS)}?"
               for _ in range(args.queries)]
    results = []
    per_size: list[list[float]] = []
    with tempfile.TemporaryDirectory(prefix="agentmem-latency-") as tmp:
        home = Path(args.home or tmp)
        mem = Memory(MemoryConfig(home=home, chroma=str(home / "chroma"), device=args.device))
        scope = Scope("default", "bench")
        stored = mem.services.sql.count_turns(scope)
        resumed, add_s, added = stored, 0.0, 0
        for size in sizes:
            while stored < size:
                n = min(args.batch, size - stored)
                t0 = time.perf_counter()
                mem.add(synthetic_turns(n, args.seed, stored), user_id="bench", session_id=f"s{stored // 500}")
                add_s += time.perf_counter() - t0
                stored += n
                added += n
            mem.search("warm-up query", user_id="bench", k=10)  # builds nothing new; warms caches
            lat = []
            for q in queries:
                t0 = time.perf_counter()
                mem.search(q, user_id="bench", k=10)
                lat.append((time.perf_counter() - t0) * 1000)
            # the same store as a second process (replica) sees it: cold cache, rebuilt from the stores
            cold = Memory(MemoryConfig(home=home, chroma=str(home / "chroma"), device=args.device),
                          embedder=mem.services.embedder)
            t0 = time.perf_counter()
            cold.search(queries[0], user_id="bench", k=10)
            cold_s = time.perf_counter() - t0
            cold.close()
            per_size.append([round(x, 3) for x in lat])
            results.append({
                "turns": stored,
                "search_ms_p50": round(float(np.percentile(lat, 50)), 2),
                "search_ms_p95": round(float(np.percentile(lat, 95)), 2),
                "searches_per_s": round(1000 * len(lat) / sum(lat), 1),
                "add_turns_per_s": round(added / add_s, 1) if added else None,
                "cold_first_search_s": round(cold_s, 2),
            })
        mem.close()
    return {"benchmark": "latency", "k": 10, "queries": args.queries, "device": args.device,
            "resumed_from_turns": resumed, "results": results, "plot_data": {"search_ms": per_size}}
