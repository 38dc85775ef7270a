"""``agentmem bench train-reader``: train the reader on the cached dev tables and write its
weights (by default the file the package ships, ``agentmem/data/reader.json``).

Every LoCoMo dev conversation (whole, and session by session as small stores) and the MuSiQue
*selection* questions are used; the 50 MuSiQue
test questions are left out (``--with-test`` adds them), so ``bench retrieval`` on them with the
shipped reader is a held-out figure.

Deterministic: the same tables and arguments give the same file. The held-out figures come
from ``agentmem bench ablation`` (cross-validated), never from these weights.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from agentmem.bench.reader_train import fit, load_table

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tables", required=True, help="directory of reader-data's {dataset}.jsonl.gz")
    p.add_argument("--datasets", default="locomo,locomo-sessions,updates,musique-triples,musique-offline")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "data" / "reader.json"))
    p.add_argument("--hidden", type=int, default=0, help="hidden units (0: a linear ranker, the shipped one)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--with-test", action="store_true", help="also train on the MuSiQue test questions")
    p.add_argument("--no-monotone", action="store_true", help="let every weight take either sign")


def run(args: argparse.Namespace) -> dict[str, Any]:
    names = [n for n in str(args.datasets).split(",") if (Path(args.tables) / f"{n}.jsonl.gz").exists()]
    tables = [load_table(Path(args.tables) / f"{n}.jsonl.gz") for n in names]
    if not args.with_test:
        tables = [t if t.name.startswith("locomo") else t.questions(t.group != "test") for t in tables]
    digest = hashlib.sha256()
    for n in names:
        digest.update((Path(args.tables) / f"{n}.jsonl.gz").read_bytes())
    monotone = not args.no_monotone and not args.hidden
    info = {"trained_on": {t.name: int(len(t.n_gold)) for t in tables}, "hidden": args.hidden,
            "steps": args.steps, "monotone": monotone, "tables_sha256": digest.hexdigest()[:16]}
    model = fit(tables, hidden=args.hidden, steps=args.steps, monotone=monotone, info=info)
    model.save(args.out)
    return {"out": args.out, **info}
