"""``agentmem bench turn-vectors``: dense recall of LoCoMo turns by how their vectors are made.

Each conversation's turns are rendered as the engine renders them (``[date] speaker: text``)
and every question is scored by cosine alone (the best of a turn's views), R@k over the
evidence turns, for:

* ``alone``: each turn embedded by itself;
* ``alone + text view`` / ``alone + vector view``: with the in-context view of
  :mod:`agentmem.mechanisms.turns.context` (``"text"``: the previous turn's text then this
  one, embedded; ``"vectors"``: the previous turn's vector added at ``--context-weight``);
* ``window W``: the turns of each session read in windows of ``W`` tokens
  (:func:`agentmem.mechanisms.turns.late.plan_windows`, as a write of whole sessions does),
  alone and with the vector view over those vectors;
* ``window W, turn by turn``: each turn written alone after its stored predecessors (the
  window holds it and the predecessors that fit before it), as a chat assistant that stores
  every turn on its own.

Also the tokens each way embeds, against the turns' own (the cost of a view).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="../shared/data/locomo_dev.json")
    p.add_argument("--windows", default="64,128,256", help="comma-separated window sizes in tokens")
    p.add_argument("--context-weight", type=float, default=0.5)
    p.add_argument("--no-turn-by-turn", action="store_true", help="skip the turn-by-turn rows (slower)")


def _recall(views: list[np.ndarray], qv: np.ndarray, evidence: list[list[int]], ks: tuple[int, ...]
            ) -> dict[int, list[float]]:
    scores = np.max([qv @ v.T for v in views], axis=0)
    out: dict[int, list[float]] = {k: [] for k in ks}
    for s, ev in zip(scores, evidence, strict=True):
        order = np.argsort(-s, kind="stable")
        for k in ks:
            top = set(order[:k].tolist())
            out[k].append(sum(e in top for e in ev) / len(ev))
    return out


def _turns(conv: Any) -> list[Any]:
    from datetime import UTC

    from agentmem.types import Scope, Turn

    return [Turn(id=t.dia_id, scope=Scope("default", "bench", session_id=str(t.session)), content=t.text,
                 speaker=t.speaker, role="user", timestamp=t.timestamp.astimezone(UTC), seq=i, content_hash=t.dia_id)
            for i, t in enumerate(conv.turns)]


def _stored_before(turns: list[Any]) -> Any:
    """``previous(turn, n)`` over ``turns`` as if they were stored in order."""
    def before(t: Any, n: int) -> list[Any]:
        earlier = [u for u in turns[: t.seq] if u.scope.session_id == t.scope.session_id]
        return earlier[::-1][:n]
    return before


def run(args: argparse.Namespace) -> dict[str, Any]:
    from agentmem.bench.locomo_data import load_locomo
    from agentmem.embedding import SentenceTransformerEmbedder
    from agentmem.mechanisms.turns.context import context_text, context_vectors, predecessors
    from agentmem.mechanisms.turns.late import turn_vectors

    emb = SentenceTransformerEmbedder(device="cpu")
    emb.embed(["warm up"])
    ks = (5, 10, 20)
    sizes = [int(w) for w in str(args.windows).split(",") if w]
    recall: dict[str, dict[int, list[float]]] = {}
    tokens: dict[str, int] = {}
    seconds: dict[str, float] = {}

    def add(name: str, views: list[np.ndarray], qv: np.ndarray, evidence: list[list[int]]) -> None:
        for k, v in _recall(views, qv, evidence, ks).items():
            recall.setdefault(name, {}).setdefault(k, []).extend(v)

    def timed(name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        out = fn()
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
        return out

    for conv in load_locomo(args.data):
        turns = _turns(conv)
        pos = {t.id: i for i, t in enumerate(turns)}
        qv = emb.embed([q.question for q in conv.questions])
        evidence = [[pos[e] for e in q.evidence] for q in conv.questions]
        rendered = [t.render() for t in turns]
        previous, _ = predecessors(turns, None)
        alone = timed("alone", lambda: emb.embed(rendered))  # noqa: B023
        texts = [context_text(t, turns[p]) if p >= 0 else t.render() for t, p in zip(turns, previous, strict=True)]
        text_view = timed("alone + text view", lambda: emb.embed(texts))  # noqa: B023
        own = sum(emb.token_counts(rendered))
        viewed = sum(emb.token_counts([x for x, p in zip(texts, previous, strict=True) if p >= 0]))
        tokens["alone"] = tokens.get("alone", 0) + own
        tokens["alone + text view"] = tokens.get("alone + text view", 0) + own + viewed
        add("alone", [alone], qv, evidence)
        add("alone + text view", [alone, text_view], qv, evidence)
        add("alone + vector view", [alone, context_vectors(alone, previous, weight=args.context_weight)], qv, evidence)
        for w in sizes:
            name = f"window {w}"
            vecs = timed(name, lambda: turn_vectors(emb, turns, lambda t, n: [], w))  # noqa: B023
            add(name, [vecs], qv, evidence)
            add(f"{name} + vector view", [vecs, context_vectors(vecs, previous, weight=args.context_weight)], qv,
                evidence)
            if args.no_turn_by_turn:
                continue
            by_turn = f"window {w}, turn by turn"

            before = _stored_before(turns)
            one = timed(by_turn, lambda: np.concatenate([turn_vectors(emb, [t], before, w) for t in turns]))  # noqa: B023
            add(by_turn, [one], qv, evidence)
        print(f"turn-vectors: {conv.sample_id}, {len(turns)} turns", file=sys.stderr, flush=True)
    rows = {name: {f"R@{k}": round(100 * float(np.mean(v)), 1) for k, v in r.items()} for name, r in recall.items()}
    return {"benchmark": "turn-vectors", "data": str(args.data), "questions": len(next(iter(recall.values()))[5]),
            "recall": rows, "embed_seconds": {k: round(v, 1) for k, v in seconds.items()},
            "tokens": tokens}
