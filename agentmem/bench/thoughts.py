"""``agentmem bench thoughts``: LSH recall@k against exact search, fraction scanned, throughput.

Data (said in the result, per size):

* ``minilm`` — real all-MiniLM-L6-v2 embeddings of generated memory-like sentences
  ("Maria recently bought hiking boots and tax forms in Lagos last week ..."), embedded here
  (about 200 sentences/s on 2 busy cores, so used up to ``--real-max`` vectors);
* ``mixture`` — a fast synthetic stand-in for larger sizes: a hierarchical Gaussian mixture on
  the unit sphere (a shared mean direction, topics, sub-topics, noise), its parameters chosen to
  resemble MiniLM sentence embeddings (norm of the corpus mean ≈ 0.4, as measured; nearest
  neighbours somewhat *less* similar than real data at the same size, so it is the harder case).

* ``vectors`` — your own embeddings, ``--vectors FILE.npy`` (``[n, dim]``, unit rows), e.g. a
  real store's turn embeddings; sizes above the file's row count are skipped.

Queries are held-out points of the same distribution. ``--center`` picks what the index hashes:
``x − mean`` of the stored vectors (``data``), ``x − c`` with ``c`` the embedder's calibration
center (``embedder``: what the live thought store does, see :mod:`agentmem.mechanisms.thoughts.center`), or
``x`` (``none``; ``--no-center`` is an alias).
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import numpy as np
import torch

from agentmem.mechanisms.thoughts.lsh import LSHIndex

__all__ = ["add_arguments", "mixture", "run", "sentences"]

_NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Yusuf", "Zoe", "Maria", "Chen", "Priya", "Omar", "Lena", "Tomas", "Aiko", "Kwame", "Sofia"]  # noqa: SIM905
_ACTS = ["likes", "hates", "is allergic to", "wants to try", "recently bought", "keeps forgetting",
         "is learning about", "cooked", "recommended", "is worried about", "collects", "sold",
         "borrowed", "lost", "painted", "repaired"]
_THINGS = ["sushi", "pizza", "tacos", "ramen", "jazz", "records", "vintage", "cameras", "mountain", "bikes", "sourdough", "bread", "chess", "openings", "python", "programming", "rust", "compilers", "yoga", "classes", "marathon", "training", "oil", "painting", "houseplants", "coffee", "beans", "green", "tea", "board", "games", "sci-fi", "novels", "french", "cheese", "hiking", "boots", "electric", "guitars", "watercolors", "tax", "forms", "car", "insurance", "dentist", "appointments", "birthday", "gifts", "wedding", "plans", "garden", "tomatoes", "salsa", "dancing", "podcasts", "old", "maps", "poetry", "books", "cat", "food", "dog", "toys", "solar", "panels", "kitchen", "knives", "running", "shoes", "winter", "coats"]  # noqa: SIM905
_PLACES = ["in Paris", "in Tokyo", "at work", "at home", "in Berlin", "near the lake", "at the gym",
           "in Lagos", "downtown", "at the office", "in Lima", "on vacation", "in Seoul", "at school",
           "in the garden", "in Oslo"]
_WHEN = ["on Monday", "last week", "yesterday", "this morning", "in March", "every weekend",
         "since 2019", "two days ago", "on Friday night", "after lunch", "in the summer", "before the trip"]
_WHY = ["because it reminds them of childhood", "with a friend", "for the first time", "again",
        "despite the cost", "to relax", "for a project", "as a surprise", "", "", "", ""]


def sentences(n: int, *, seed: int = 0) -> list[str]:
    """``n`` generated memory-like sentences (people, actions, things, places, times)."""
    rng = random.Random(seed)
    return [
        f"{rng.choice(_NAMES)} {rng.choice(_ACTS)} {' '.join(rng.sample(_THINGS, 2))} "
        f"{rng.choice(_PLACES)} {rng.choice(_WHEN)} {rng.choice(_WHY)}".strip() + "."
        for _ in range(n)
    ]


def mixture(
    n: int, dim: int = 384, *, seed: int = 0, mean_weight: float = 0.5, sub_per_topic: int = 20,
    topic_spread: float = 0.8, noise: float = 0.85,
) -> np.ndarray:
    """``[n, dim]`` unit vectors from a hierarchical mixture resembling sentence embeddings."""
    rng = np.random.default_rng(seed)
    n_topics = max(8, int(np.sqrt(n) / 4))
    u = rng.standard_normal(dim).astype(np.float32)
    u /= np.linalg.norm(u)
    topics = rng.standard_normal((n_topics, dim)).astype(np.float32) / np.sqrt(dim)
    subs = topics[:, None, :] + topic_spread * rng.standard_normal(
        (n_topics, sub_per_topic, dim)
    ).astype(np.float32) / np.sqrt(dim)
    subs = subs.reshape(-1, dim)
    subs /= np.linalg.norm(subs, axis=1, keepdims=True)
    out = np.empty((n, dim), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        x = mean_weight * u + subs[rng.integers(0, len(subs), m)]
        x += noise * rng.standard_normal((m, dim), dtype=np.float32) / np.float32(np.sqrt(dim))
        out[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", default="10000,100000", help="store sizes, comma-separated")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--data", choices=["auto", "minilm", "mixture"], default="auto",
                        help="auto: MiniLM sentences up to --real-max vectors, the mixture beyond")
    parser.add_argument("--vectors", default=None, help=".npy of real embeddings [n, dim] (overrides --data)")
    parser.add_argument("--real-max", type=int, default=10_000)
    parser.add_argument("--planes", type=int, default=16)
    parser.add_argument("--hashes-per-table", type=int, default=2)
    parser.add_argument("--tables", type=int, default=16)
    parser.add_argument("--probes", type=int, default=128)
    parser.add_argument("--max-scan", type=float, default=None)
    parser.add_argument("--center", choices=["data", "embedder", "none"], default="data")
    parser.add_argument("--no-center", action="store_true", help="same as --center none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="torch device for bulk hashing (default CPU)")


def _data(n: int, args: argparse.Namespace) -> tuple[str, np.ndarray]:
    total = n + args.queries
    if args.vectors:
        rows = np.load(args.vectors, mmap_mode="r")
        pick = np.random.default_rng(args.seed).permutation(len(rows))[:total]
        return "vectors", np.ascontiguousarray(rows[np.sort(pick)], dtype=np.float32)
    kind = args.data if args.data != "auto" else ("minilm" if total <= args.real_max + args.queries else "mixture")
    if kind == "minilm":
        from agentmem.embedding import SentenceTransformerEmbedder

        return kind, SentenceTransformerEmbedder().embed(sentences(total, seed=args.seed))
    return kind, mixture(total, seed=args.seed)


def _exact_topk(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    xt, qt = torch.from_numpy(x), torch.from_numpy(q)
    best = []
    for s in range(0, len(q), 64):
        best.append(torch.topk(qt[s : s + 64] @ xt.T, k, dim=1).indices.numpy())
    return np.concatenate(best)


def _center(stored: np.ndarray, args: argparse.Namespace) -> np.ndarray | None:
    mode = "none" if args.no_center else args.center
    if mode == "data":
        return stored.mean(axis=0)
    if mode == "embedder":
        from agentmem.embedding import SentenceTransformerEmbedder
        from agentmem.mechanisms.thoughts.center import embedding_center

        return embedding_center(SentenceTransformerEmbedder())
    return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    available = len(np.load(args.vectors, mmap_mode="r")) if args.vectors else None
    for n in [int(v) for v in str(args.n).split(",") if v.strip()]:
        if available is not None and n + args.queries > available:
            continue
        kind, data = _data(n, args)
        rng = np.random.default_rng(args.seed + 1)
        data = data[rng.permutation(len(data))]  # held-out queries drawn from the whole set
        queries, stored = data[: args.queries], data[args.queries :]
        del data
        center = _center(stored, args)
        idx = LSHIndex(
            stored.shape[1], n_planes=args.planes, hashes_per_table=args.hashes_per_table,
            n_tables=args.tables, probes=args.probes, max_scan=args.max_scan, seed=args.seed,
            center=center, device=args.device,
        )
        keys = [str(i) for i in range(n)]
        t0 = time.perf_counter()
        idx.insert_many(keys, stored)
        t_insert = time.perf_counter() - t0
        single = min(1000, n)  # one-at-a-time inserts, into a copy of the same parameters
        small = LSHIndex(stored.shape[1], n_planes=args.planes, hashes_per_table=args.hashes_per_table,
                         n_tables=args.tables, probes=args.probes, seed=args.seed, center=center)
        t0 = time.perf_counter()
        for i in range(single):
            small.insert(keys[i], stored[i])
        t_single = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = idx.query_many(queries, args.k)
        t_query = time.perf_counter() - t0
        truth = _exact_topk(stored, queries, args.k)
        recall = float(np.mean([
            len({int(key) for key, _ in g} & set(t.tolist())) / args.k for g, t in zip(got, truth, strict=True)
        ]))
        rows.append({
            "n": n, "data": kind, "recall_at_k": round(recall, 4),
            "scan_fraction": round(idx.stats.scan_fraction, 4),
            "bulk_insert_per_s": round(n / t_insert), "single_insert_per_s": round(single / t_single),
            "queries_per_s": round(len(queries) / t_query, 1),
        })
        del stored, idx, small
    return {
        "benchmark": "thoughts-lsh",
        "k": args.k,
        "queries": args.queries,
        "params": {"planes": args.planes, "hashes_per_table": args.hashes_per_table, "tables": args.tables,
                   "probes": args.probes, "max_scan": args.max_scan,
                   "center": "none" if args.no_center else args.center},
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
    }
