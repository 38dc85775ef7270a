"""``agentmem bench ablation``: every mechanism alone, all on with plain RRF, all on with the
reader, on the cached candidate tables of ``agentmem bench reader-data``.

Rows (Recall@k per dataset, LoCoMo also per category):

* each signal's own list (``turns``, ``time``, ``episode``, ``graph``, ``bridge``);
* ``default RRF`` (turns, time and thoughts: the engine before the reader), ``all RRF`` (every
  signal, plain RRF), ``multi_hop`` (:meth:`RecallConfig.multi_hop`);
* ``reader (cross-validated)``: each question scored by a reader that never saw it
  (:func:`agentmem.bench.reader_train.cross_validated`: LoCoMo leave-one-conversation-out,
  MuSiQue test questions by a reader trained on LoCoMo and the selection questions);
* ``reader (transfer)``: trained on conversations only for MuSiQue, on documents only for LoCoMo;
* ``reader (shipped)``: the weights in the package (trained on all of these tables: not a
  held-out figure, shown to check that the shipped file is the trained one).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentmem.bench.reader_train import (
    Table,
    baseline_scores,
    cross_validated,
    load_table,
    recall,
    transfer,
)

__all__ = ["add_arguments", "run"]

_SIGNAL_ROWS = ("turns", "time", "episode", "graph", "bridge")
_FUSIONS = {"default RRF": "rrf_default", "all RRF": "rrf", "multi_hop": "multi_hop"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tables", required=True, help="directory of reader-data's {dataset}.jsonl.gz")
    p.add_argument("--datasets", default="locomo,locomo-sessions,updates,musique-triples,musique-offline")
    p.add_argument("--split", default="test", help="MuSiQue questions to report: test, selection or all")
    p.add_argument("--hidden", type=int, default=0, help="reader hidden units (0: a linear ranker, the shipped one)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--no-monotone", action="store_true", help="let every weight take either sign")
    p.add_argument("--no-transfer", action="store_true")


def _ks(name: str) -> tuple[int, ...]:
    return (5, 10, 20) if name.startswith("locomo") else (2, 5, 10)


def _report(table: Table, scores: np.ndarray, split: str) -> dict[str, Any]:
    ks = _ks(table.name)
    r = recall(table, scores, ks)
    keep = np.ones(len(r), dtype=bool) if split == "all" or table.name.startswith("locomo") else table.group == split
    row: dict[str, Any] = {f"R@{k}": round(100 * float(r[keep, j].mean()), 1) for j, k in enumerate(ks)}
    if table.name.startswith("locomo"):
        row["by_category"] = {
            str(c): {f"R@{k}": round(100 * float(r[table.category == c, j].mean()), 1) for j, k in enumerate(ks)}
            for c in sorted(set(table.category.tolist()))
        }
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    from agentmem.recall.reader import default_reader

    names = [n for n in str(args.datasets).split(",") if (Path(args.tables) / f"{n}.jsonl.gz").exists()]
    tables = {n: load_table(Path(args.tables) / f"{n}.jsonl.gz") for n in names}
    fit_args = {"hidden": args.hidden, "steps": args.steps, "monotone": not args.no_monotone}
    rows: dict[str, dict[str, Any]] = {}
    evaluated = {n: t for n, t in tables.items() if n.startswith(("locomo", "musique"))}
    for name, t in evaluated.items():
        for sig in _SIGNAL_ROWS:
            rows.setdefault(f"{sig} alone", {})[name] = _report(t, baseline_scores(t, sig), args.split)
        for label, place in _FUSIONS.items():
            rows.setdefault(label, {})[name] = _report(t, baseline_scores(t, place), args.split)
    t0 = time.perf_counter()
    for name, scores in cross_validated(tables, **fit_args).items():
        rows.setdefault("reader (cross-validated)", {})[name] = _report(tables[name], scores, args.split)
    train_s = time.perf_counter() - t0
    if not args.no_transfer:
        for name, scores in transfer(tables, **fit_args).items():
            rows.setdefault("reader (transfer)", {})[name] = _report(tables[name], scores, args.split)
    shipped = default_reader()
    for name, t in evaluated.items():
        rows.setdefault("reader (shipped, trained on all)", {})[name] = _report(t, shipped.score(t.x), args.split)
    return {"benchmark": "ablation", "datasets": names, "split": args.split,
            "questions": {n: int(len(t.n_gold)) for n, t in tables.items()}, "rows": rows,
            "cross_validation_s": round(train_s, 1), "reader": fit_args}
