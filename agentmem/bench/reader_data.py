"""``agentmem bench reader-data``: index a dev set with every mechanism on and cache, per
question, every component's candidate list.

Indexing is the slow part (the graph's extraction, episodes); the reader's feature tables
(:func:`agentmem.recall.features.candidate_table`) are built from the cache, so training and
evaluating (``agentmem bench ablation`` / ``train-reader``) run many times without indexing
again, and a change of features needs no new index. One file per dataset,
``{out}/{dataset}.jsonl.gz``, one line per question: ``group`` (the conversation, or the
MuSiQue split ``test`` / ``selection``), ``category``, ``n_gold``, ``text``, ``time_window``
(whether a time was parsed from it), ``gold`` (the gold record ids among the candidates) and
``lists`` (per component, its candidates).

Datasets: ``locomo`` (``--locomo``: conversations, each its own user; evidence turns are gold),
``locomo-sessions`` (small stores: each session of each conversation its own user, asked the
questions whose evidence lies in that session alone; ``group`` is still the conversation),
``updates`` (generated: ``bench updates``' synthetic scenarios from seed 1, phrasings of its
``tune`` split — a value that changes or ends in a store of a few turns; "now" questions have
the new statement as gold, "what changed" ones both; ``bench updates`` reports on seed 2 and
every phrasing),
``musique-triples`` and ``musique-offline`` (``--musique``: the directory written by ``bench
prepare-musique --selection``; every test and selection question; supporting passages are gold;
``--triples`` for the first).
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agentmem.config import EpisodeConfig, GraphConfig, MemoryConfig, RecallConfig

__all__ = ["add_arguments", "all_on_config", "read_questions", "run"]

DATASETS = ("locomo", "locomo-sessions", "updates", "musique-triples", "musique-offline")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--locomo", default="../shared/data/locomo_dev.json")
    p.add_argument("--musique", default="/tmp/mq", help="directory of `bench prepare-musique --selection`")
    p.add_argument("--triples", default="../shared/data/musique_openie_gpt35.json")
    p.add_argument("--out", required=True, help="directory for {dataset}.jsonl.gz")
    p.add_argument("--scenarios", type=int, default=240, help="updates: generated scenarios")
    p.add_argument("--home", default=None, help="data directory (default: a temporary one)")


def all_on_config(home: Path) -> MemoryConfig:
    """Every mechanism on: the graph (offline extractor unless a document carries triples),
    drift episodes, thoughts, and the reader's signal set (``bridge`` computed)."""
    return MemoryConfig(
        home=home, chroma=str(home / "chroma"), recall=RecallConfig(reader=True),
        graph=GraphConfig(enabled=True, extractor="offline"), episodes=EpisodeConfig(segmenter="drift"),
    )


class _Questions:
    """Accumulates the candidate lists of one dataset's questions (one JSON line each)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.query_ms: list[float] = []

    def question(self, mem: Any, user: str, text: str, gold: set[str], label: Callable[[str], str | None], *,
                 group: str, category: int, now: Any = None) -> None:
        from agentmem._time import as_utc, utcnow
        from agentmem.embedding import embed_query
        from agentmem.kernels.threads import one_torch_thread
        from agentmem.mechanisms.base import Query
        from agentmem.recall.timeparse import parse_time_window
        from agentmem.types import Scope

        s = mem.services
        scope = Scope("default", user)
        t0 = time.perf_counter()
        with one_torch_thread():  # as Memory.search
            q = Query(text, embed_query(s.embedder, text), scope, RecallConfig().candidates, s.sql.versions(scope),
                      time_hint=parse_time_window(text, as_utc(now) if now else utcnow()))
            lists = [c.search(q) for c in mem.components]
        self.query_ms.append(1000 * (time.perf_counter() - t0))
        found = {rid for cands in lists for c in cands for rid in (c.turn_ids or (c.id,)) if label(rid) in gold}
        self.lines.append(json.dumps({
            "group": group, "category": category, "n_gold": len(gold), "text": text,
            "time_window": q.time_hint is not None, "gold": sorted(found),
            "lists": [[_candidate(c) for c in cands] for cands in lists],
        }, ensure_ascii=False))

    def save(self, path: Path) -> None:
        """Append the questions so far to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "at", encoding="utf-8") as f:  # appends: a gzip file may hold several members
            f.write("\n".join(self.lines) + "\n")


def _candidate(c: Any) -> list[Any]:
    return [c.id, c.kind, c.score, c.signal, list(c.turn_ids), dict(c.features), dict(c.ranks)]


def read_questions(path: str | Path) -> list[dict[str, Any]]:
    """The cached questions, their candidate lists as :class:`~agentmem.mechanisms.base.Candidate`."""
    from agentmem.mechanisms.base import Candidate

    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            q["lists"] = [[Candidate(i, kind, score, signal, turn_ids=tuple(turns), features=feats, ranks=ranks)
                           for i, kind, score, signal, turns, feats, ranks in cands] for cands in q["lists"]]
            out.append(q)
    return out


def _message_ids(mem: Any, user: str) -> dict[str, str]:
    """The user's stored turn ids and the message ids they were added with."""
    from agentmem.types import Scope

    return {t.id: str(t.metadata.get("message_id")) for t in mem.services.sql.list_turns(Scope("default", user))}


def _locomo(args: argparse.Namespace, home: Path, tables: _Questions, out: Path) -> dict[str, Any]:
    """Conversation by conversation (each its own user): index it, cache its questions and
    append them to ``out``, so a run cut short leaves whole conversations behind."""
    from agentmem.bench.locomo_data import load_locomo
    from agentmem.memory import Memory

    convs = load_locomo(args.locomo)
    mem = Memory(all_on_config(home))
    index_s = 0.0
    n = 0
    out.unlink(missing_ok=True)
    for c in convs:
        t0 = time.perf_counter()
        for s, turns in c.sessions().items():
            n += len(mem.add([t.message() for t in turns], user_id=c.sample_id, session_id=f"session_{s}"))
        index_s += time.perf_counter() - t0
        ids = _message_ids(mem, c.sample_id)
        now = max(t.timestamp for t in c.turns)
        for q in c.questions:
            tables.question(mem, c.sample_id, q.question, set(q.evidence), ids.get, group=c.sample_id,
                            category=q.category, now=now)
        tables.save(out)
        tables.lines.clear()
    mem.close()
    return {"turns": n, "index_s": round(index_s, 1)}


def _locomo_sessions(args: argparse.Namespace, home: Path, tables: _Questions, out: Path) -> dict[str, Any]:
    """Every session a store of its own, asked the questions all of whose evidence it holds:
    the small stores (tens of turns) a reader must also rank well."""
    from agentmem.bench.locomo_data import load_locomo
    from agentmem.memory import Memory

    mem = Memory(all_on_config(home))
    index_s, n, stores = 0.0, 0, 0
    out.unlink(missing_ok=True)
    for c in load_locomo(args.locomo):
        for s, turns in c.sessions().items():
            asked = [q for q in c.questions if {e.split(":")[0] for e in q.evidence} == {f"D{s}"}]
            if not asked:
                continue
            user = f"{c.sample_id}-s{s}"
            t0 = time.perf_counter()
            n += len(mem.add([t.message() for t in turns], user_id=user, session_id=f"session_{s}"))
            index_s += time.perf_counter() - t0
            stores += 1
            ids = _message_ids(mem, user)
            for q in asked:
                tables.question(mem, user, q.question, set(q.evidence), ids.get, group=c.sample_id,
                                category=q.category, now=max(t.timestamp for t in turns))
        tables.save(out)
        tables.lines.clear()
    mem.close()
    return {"turns": n, "stores": stores, "index_s": round(index_s, 1)}


def _updates(args: argparse.Namespace, home: Path, tables: _Questions) -> dict[str, Any]:
    """The generated update scenarios, each its own few-turn store (:mod:`agentmem.bench.updates_data`)."""
    from datetime import timedelta

    from agentmem.bench.updates_data import synthetic
    from agentmem.memory import Memory

    mem = Memory(all_on_config(home))
    n = 0
    for sc in synthetic(1, args.scenarios, split="tune"):
        stored = mem.add([{"speaker": sc.speaker, "role": "user", "content": text, "timestamp": ts, "id": label}
                          for label, text, ts in sc.turns], user_id=sc.id)
        n += len(stored)
        ids = {t.id: str(t.metadata["message_id"]) for t in stored}
        now = max(ts for _, _, ts in sc.turns) + timedelta(days=1)
        for q in sc.questions:
            gold = set(q.new) if q.kind == "now" else set(q.new) | set(q.old)
            tables.question(mem, sc.id, q.text, gold, ids.get, group=sc.kind, category=0, now=now)
    mem.close()
    return {"turns": n, "scenarios": args.scenarios}


def _musique(args: argparse.Namespace, home: Path, tables: _Questions, *, triples: bool) -> dict[str, Any]:
    from agentmem.bench.retrieval import _documents, load_jsonl
    from agentmem.memory import Memory
    from agentmem.types import Scope

    root = Path(args.musique)
    ns = argparse.Namespace(corpus=str(root / "corpus.jsonl"), triples=args.triples if triples else None)
    docs, _ = _documents(ns)
    mem = Memory(all_on_config(home))
    t0 = time.perf_counter()
    mem.add_documents(docs, user_id="bench")
    index_s = time.perf_counter() - t0
    ids = {t.id: str(t.metadata["doc_id"]) for t in mem.services.sql.list_turns(Scope("default", "bench"))}
    for split, name in (("test", "queries.jsonl"), ("selection", "queries_selection.jsonl")):
        for q in load_jsonl(root / name):
            tables.question(mem, "bench", q["query"], set(q["gold"]), ids.get, group=split, category=0)
    mem.close()
    return {"passages": len(docs), "index_s": round(index_s, 1)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    tables = _Questions()
    out = Path(args.out) / f"{args.dataset}.jsonl.gz"
    with tempfile.TemporaryDirectory(prefix="agentmem-reader-data-") as tmp:
        home = Path(args.home or tmp)
        if args.dataset == "locomo":
            info = _locomo(args, home, tables, out)
        elif args.dataset == "locomo-sessions":
            info = _locomo_sessions(args, home, tables, out)
        else:
            out.unlink(missing_ok=True)
            if args.dataset == "updates":
                info = _updates(args, home, tables)
            else:
                info = _musique(args, home, tables, triples=args.dataset == "musique-triples")
            tables.save(out)
    return {**info, "dataset": args.dataset, "out": str(out),
            "candidates_ms_p50": round(float(np.median(tables.query_ms)), 1)}
