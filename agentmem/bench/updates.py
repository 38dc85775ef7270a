"""``agentmem bench updates``: does memory keep up with change?

Runs :class:`~agentmem.Memory` with its defaults over the scenarios of
:mod:`agentmem.bench.updates_data` and reports, separately for the synthetic scenarios and the
LoCoMo dev conversations' real updates:

* **now** — for a question about the current value: the rank of the first hit that holds it (a
  turn stating the new value, a current fact with the new value, or, when the value just
  ended, the ended fact a new turn told); ``current_first`` is the
  share ranked first, ``old_above_current`` the share where an old statement ranks higher;
* **change** — for "what changed / before" questions: recall@k of the old and the new evidence
  turns (a fact hit counts for the turns it was derived from);
* **contradiction** — precision and recall of the contradicting turn pairs that the fact memory
  flags (``Fact.contradicts``), over every synthetic scenario (controls included).

``--baseline`` runs the same with fact memory off (what the issue started from).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from agentmem.bench.locomo_data import load_locomo
from agentmem.bench.updates_data import Question, Scenario, load_locomo_updates, synthetic
from agentmem.config import FactConfig, MemoryConfig
from agentmem.types import Hit

__all__ = ["add_arguments", "run"]

_LABELS = Path(__file__).resolve().parents[2] / "docs" / "data" / "updates_locomo.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="LoCoMo JSON of the dev conversations (for the real updates)")
    p.add_argument("--labels", default=str(_LABELS), help="hand-labelled LoCoMo updates (docs/data/updates_locomo.json)")
    p.add_argument("--seed", type=int, default=2, help="synthetic scenarios' seed (1 was used for tuning)")
    p.add_argument("--split", choices=("report", "tune"), default="report",
                   help="phrasings: every one (report) or the tuning part only (tune)")
    p.add_argument("--n", type=int, default=80, help="synthetic scenarios")
    p.add_argument("--k", type=int, default=10, help="hits per question")
    p.add_argument("--no-locomo", action="store_true", help="synthetic scenarios only")
    p.add_argument("--baseline", action="store_true", help="also run with fact memory off")
    p.add_argument("--home", default=None, help="data directory (default: a temporary one)")
    p.add_argument("--ingest", type=int, default=0, metavar="N",
                   help="instead: Memory.add turns/s over the first N LoCoMo turns with fact memory off and on")


def _holds(h: Hit, new_turns: set[str], current: str) -> bool:
    if h.kind == "turn":
        return h.id in new_turns
    if h.kind == "fact":
        meta = h.metadata
        sources = set(meta.get("source_ids", ()))
        if not meta.get("current"):
            # "does John still work at X?" with no current value: the ending, told by a new turn
            return not current and h.superseded_by is None and bool(new_turns & sources)
        if current:
            return str(meta.get("object", "")).lower() == current.lower()
        return bool(new_turns & sources)
    return False


def _covered(hits: Sequence[Hit]) -> set[str]:
    out: set[str] = set()
    for h in hits:
        if h.kind == "turn":
            out.add(h.id)
        elif h.kind == "fact":
            out.update(h.metadata.get("source_ids", ()))
    return out


def _now(hits: Sequence[Hit], new: set[str], old: set[str], current: str) -> tuple[int | None, bool]:
    """(rank of the first hit holding the current value, whether an old-only statement ranks above it)."""
    for i, h in enumerate(hits, start=1):
        if _holds(h, new, current):
            return i, False
        if h.kind == "turn" and h.id in old and h.id not in new:
            rest = next((j for j, g in enumerate(hits[i:], start=i + 1) if _holds(g, new, current)), None)
            return rest, True
    return None, False


def _summary(ranks: list[int | None], stale: list[bool], change: list[float], k: int) -> dict[str, Any]:
    n = len(ranks)
    return {
        "now_questions": n,
        "current_first": round(sum(r == 1 for r in ranks) / n, 3) if n else None,
        "current_mrr": round(float(np.mean([1 / r if r else 0.0 for r in ranks])), 3) if n else None,
        "current_in_top_k": round(sum(r is not None and r <= k for r in ranks) / n, 3) if n else None,
        "old_above_current": round(sum(stale) / n, 3) if n else None,
        "change_questions": len(change),
        f"change_evidence_recall@{k}": round(float(np.mean(change)), 3) if change else None,
    }


def _ask(mem: Any, user: str, q: Question, ids: dict[str, str], k: int, now: Any) -> tuple[str, Any]:
    hits = mem.search(q.text, user_id=user, k=k, now=now)
    new = {ids[x] for x in q.new if x in ids}
    old = {ids[x] for x in q.old if x in ids}
    if q.kind == "now":
        return "now", _now(hits, new, old, q.current)
    gold = new | old
    return "change", len(_covered(hits) & gold) / len(gold) if gold else None


def _synthetic(mem: Any, scenarios: Iterable[Scenario], k: int) -> dict[str, Any]:
    ranks: list[int | None] = []
    stale: list[bool] = []
    change: list[float] = []
    predicted: set[tuple[str, frozenset[str]]] = set()
    gold: set[tuple[str, frozenset[str]]] = set()
    for sc in scenarios:
        msgs = [{"speaker": sc.speaker, "role": "user", "content": text, "timestamp": ts, "id": label}
                for label, text, ts in sc.turns]
        ids = {str(t.metadata["message_id"]): t.id for t in mem.add(msgs, user_id=sc.id)}
        label_of = {v: lab for lab, v in ids.items()}
        now = max(ts for _, _, ts in sc.turns) + timedelta(days=1)
        for q in sc.questions:
            kind, value = _ask(mem, sc.id, q, ids, k, now)
            if kind == "now":
                ranks.append(value[0])
                stale.append(value[1])
            elif value is not None:
                change.append(value)
        gold.update((sc.id, pair) for pair in sc.contradictions)
        if mem.enabled("fact"):
            facts = {f.id: f for f in mem.facts(user_id=sc.id, include_past=True)}
            for f in facts.values():
                for cid in f.contradicts:
                    other = facts.get(cid)
                    if other is None:
                        continue
                    for a in f.source_ids:
                        for b in other.source_ids:
                            if a != b and a in label_of and b in label_of:
                                predicted.add((sc.id, frozenset({label_of[a], label_of[b]})))
    out = _summary(ranks, stale, change, k)
    if mem.enabled("fact"):
        tp = len(predicted & gold)
        out["contradiction_pairs"] = {"gold": len(gold), "flagged": len(predicted), "correct": tp}
        out["contradiction_precision"] = round(tp / len(predicted), 3) if predicted else None
        out["contradiction_recall"] = round(tp / len(gold), 3) if gold else None
    return out


def _locomo(mem: Any, data: str, labels: str, k: int) -> dict[str, Any]:
    items = load_locomo_updates(labels)
    convs = load_locomo(data)
    ranks: list[int | None] = []
    stale: list[bool] = []
    change: list[float] = []
    n_turns = 0
    for ci in sorted({it.conversation for it in items}):
        c = convs[ci]
        ids: dict[str, str] = {}
        for n, turns in c.sessions().items():
            for stored in mem.add([t.message() for t in turns], user_id=c.sample_id, session_id=f"session_{n}"):
                ids[str(stored.metadata["message_id"])] = stored.id
        n_turns += len(c.turns)
        now = max(t.timestamp for t in c.turns) + timedelta(days=1)
        for it in (x for x in items if x.conversation == ci):
            q = Question(it.question, it.kind, it.new, it.old)
            kind, value = _ask(mem, c.sample_id, q, ids, k, now)
            if kind == "now":
                ranks.append(value[0])
                stale.append(value[1])
            elif value is not None:
                change.append(value)
    return {"turns": n_turns, **_summary(ranks, stale, change, k)}


def _one(args: argparse.Namespace, home: Path, facts: bool, embedder: Any) -> dict[str, Any]:
    from agentmem.memory import Memory

    config = MemoryConfig(home=home, chroma=str(home / "chroma"), device="cpu", facts=FactConfig(enabled=facts))
    mem = Memory(config, embedder=embedder)
    try:
        t0 = time.perf_counter()
        scenarios = synthetic(args.seed, args.n, split=args.split)
        out: dict[str, Any] = {
            "synthetic": {"label": "synthetic", "seed": args.seed, "split": args.split, "scenarios": len(scenarios),
                          **_synthetic(mem, scenarios, args.k)},
        }
        if not args.no_locomo:
            out["locomo"] = {"label": "locomo dev (hand-labelled updates)", **_locomo(mem, args.data, args.labels, args.k)}
        out["seconds"] = round(time.perf_counter() - t0, 1)
        return out
    finally:
        mem.close()


def _ingest(args: argparse.Namespace, root: Path, embedder: Any) -> dict[str, Any]:
    """``Memory.add`` turns/s (one call per session) with fact memory off and on, alternated 2x each,
    and the statement extractor's own time over the same turns."""
    from agentmem.memory import Memory
    from agentmem.statements import extract_statements

    turns = [t for c in load_locomo(args.data) for t in c.turns][: args.ingest]
    texts = [t.text for t in turns]
    embedder.embed(texts)  # warm the model once, so neither setting pays for it
    t0 = time.perf_counter()
    n_statements = sum(len(extract_statements(t.text, speaker=t.speaker)) for t in turns)
    extract_s = time.perf_counter() - t0
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for rep, facts in enumerate((False, True, False, True)):
        home = root / f"ingest-{rep}"
        mem = Memory(MemoryConfig(home=home, chroma=str(home / "chroma"), device="cpu",
                                  facts=FactConfig(enabled=facts)), embedder=embedder)
        try:
            t0 = time.perf_counter()
            by_session: dict[int, list[Any]] = {}
            for t in turns:
                by_session.setdefault(t.session, []).append(t)
            for n, ts in by_session.items():
                mem.add([t.message() for t in ts], user_id="u", session_id=f"session_{n}")
            rates["on" if facts else "off"].append(len(turns) / (time.perf_counter() - t0))
        finally:
            mem.close()
    return {
        "turns": len(turns), "statements": n_statements,
        "extract_turns_per_s": round(len(turns) / extract_s, 1) if extract_s else None,
        "add_turns_per_s_facts_off": [round(x, 1) for x in rates["off"]],
        "add_turns_per_s_facts_on": [round(x, 1) for x in rates["on"]],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from agentmem.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(device="cpu")
    if args.ingest:
        with tempfile.TemporaryDirectory(prefix="agentmem-updates-") as tmp:
            return {"benchmark": "updates --ingest", **_ingest(args, Path(args.home or tmp), embedder)}
    with tempfile.TemporaryDirectory(prefix="agentmem-updates-") as tmp:
        root = Path(args.home or tmp)
        result: dict[str, Any] = {"benchmark": "updates", "k": args.k, "facts": _one(args, root / "facts", True, embedder)}
        if args.baseline:
            result["baseline_no_facts"] = _one(args, root / "baseline", False, embedder)
    return result
