"""``agentmem bench ppr``: batched personalized PageRank on the CPU against one query.

For each undirected graph (``nodes:edges``; every edge stored both ways, uniform random weights;
random endpoints, or ``--shape ring`` for local gathers)
and ``--batch`` reset vectors of five random seeds each, it times, interleaved over
``--repeats`` rounds (best round reported, wall clock and process CPU time):

- one query with the scipy reference :func:`~agentmem.kernels.ppr.personalized_pagerank`;
- one query and the batch with :func:`~agentmem.kernels.ppr.personalized_pagerank_torch` on the
  CPU (the C kernel), float64 and float32, for each of ``--threads``;

and reports ``batch / best one-query path`` ratios (the best float64 one-query time: scipy's or the
kernel's with any of ``--threads``; ``_over_one_thread``: against one query on one thread) and
the largest difference of the batch from the reference over its vectors. Only leaf
modules are imported (numpy, scipy, torch, the kernels).
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["add_arguments", "random_graph", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--graphs", default="18000:50000,100000:500000", help="comma-separated nodes:edges")
    p.add_argument("--batch", type=int, default=64, help="reset vectors solved together")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts for the batch")
    p.add_argument("--repeats", type=int, default=7, help="interleaved rounds; the best is reported")
    p.add_argument("--shape", choices=["random", "ring"], default="random",
                   help="random edges, or a ring (node i linked to the next edges/nodes ones: local gathers)")


def random_graph(n: int, m: int, b: int, seed: int = 0, *, shape: str = "random") -> tuple[Any, np.ndarray]:
    """A :class:`~agentmem.kernels.ppr.Transition` of ``m`` undirected edges over ``n`` nodes
    (random endpoints, or for ``shape="ring"`` node ``i`` linked to the next ``m // n`` nodes) with
    random weights, and ``[b, n]`` resets of five random seeds each."""
    from agentmem.kernels.ppr import Transition

    rng = np.random.default_rng(seed)
    if shape == "ring":
        k = max(1, m // n)
        src = np.repeat(np.arange(n), k)
        dst = (src + np.tile(np.arange(1, k + 1), n)) % n
    else:
        src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    w = rng.random(len(src))
    adj = sp.coo_matrix((np.r_[w, w], (np.r_[src, dst], np.r_[dst, src])), shape=(n, n))
    resets = np.zeros((b, n))
    for i in range(b):
        resets[i, rng.integers(0, n, 5)] = 1.0
    return Transition.from_adjacency(adj), resets


def _best(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds of each function over interleaved rounds, after one warm call."""
    best = {k: (float("inf"), float("inf")) for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for k, fn in fns.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            w, c = time.perf_counter() - w0, time.process_time() - c0
            best[k] = (min(best[k][0], w), min(best[k][1], c))
    return best


def _graph_row(n: int, m: int, b: int, threads: list[int], repeats: int, shape: str) -> dict[str, Any]:
    from agentmem.kernels.ppr import personalized_pagerank, personalized_pagerank_torch

    tr, resets = random_graph(n, m, b, shape=shape)
    fns: dict[str, Callable[[], Any]] = {"scipy_1": functools.partial(personalized_pagerank, tr, resets[0])}
    for name, dt in (("f64", torch.float64), ("f32", torch.float32)):
        solve = functools.partial(personalized_pagerank_torch, tr, device="cpu", dtype=dt)
        for t in threads:
            fns[f"c_{name}_1_t{t}"] = functools.partial(solve, resets[0], threads=t)
            fns[f"c_{name}_{b}_t{t}"] = functools.partial(solve, resets, threads=t)
    best = _best(fns, repeats)
    ones = ["scipy_1"] + [f"c_f64_1_t{t}" for t in threads]
    one_wall = min(best[k][0] for k in ones)
    one_cpu = min(best[k][1] for k in ones)
    one_thread = min(best[k][0] for k in ("scipy_1", "c_f64_1_t1") if k in best)
    row: dict[str, Any] = {"shape": shape, "nodes": n, "stored_entries": int(tr.pt.nnz), "batch": b}
    for k, (w, c) in best.items():
        row[f"{k}_ms"] = round(w * 1e3, 2)
        row[f"{k}_cpu_ms"] = round(c * 1e3, 2)
        if f"_{b}_" in k:
            row[f"{k}_over_one"] = round(w / one_wall, 2)
            row[f"{k}_cpu_over_one"] = round(c / one_cpu, 2)
            row[f"{k}_over_one_thread"] = round(w / one_thread, 2)
    check = [0, b - 1]
    ref = np.stack([personalized_pagerank(tr, resets[i]) for i in check])
    for name, dt in (("f64", torch.float64), ("f32", torch.float32)):
        got = personalized_pagerank_torch(tr, resets, device="cpu", dtype=dt)[check].double().numpy()
        row[f"c_{name}_max_abs_diff"] = float(np.abs(got - ref).max())
    row["load_average"] = round(os.getloadavg()[0], 1)
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    threads = [int(t) for t in str(args.threads).split(",") if t.strip()]
    rows = []
    for spec in str(args.graphs).split(","):
        n, m = (int(v) for v in spec.split(":"))
        rows.append(_graph_row(n, m, int(args.batch), threads, int(args.repeats), str(args.shape)))
    return {"benchmark": "ppr", "cpus": os.cpu_count(), "repeats": int(args.repeats), "rows": rows}
