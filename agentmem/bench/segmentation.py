"""``agentmem bench segmentation``: surprise episodes on LoCoMo, against fixed-size chunks.

Each LoCoMo conversation's sessions are concatenated into one stream of turns
(``"{speaker}: {text}"``, session dates removed), so the true session starts are hidden
boundaries. Reported:

* boundary precision / recall / F1 against the true session starts (a predicted boundary
  matches a true one within ±``tolerance`` turns, one-to-one) for LM surprise, surprise +
  refinement, embedding drift, and fixed-size segmentation with the same number of segments
  per conversation: ``fixed`` is the grid that starts at the first turn, ``fixed (phase
  mean)`` the mean (and range) over that grid shifted by 0, ¼, ½ and ¾ of a chunk — where one
  grid happens to fall against the session starts is luck (F1 .18–.23 across the four on
  LoCoMo dev), so the comparison is with the mean;
* episode recall on the LoCoMo questions (categories 1–4): episodes are ranked by cosine
  between the question and the episode embedding (normalised mean of its turn embeddings) and
  taken best first while they fit a token budget (tiktoken ``cl100k_base``; one that does not
  fit is skipped, as the context assembler does); recall is the fraction of evidence turns
  inside the taken episodes — the same rule for every segmentation. ``episode_recall@B`` is
  similarity alone; ``two_stage_recall@B`` is EM-LLM's recall, which gives ``--contiguity``
  (0.3, EM-LLM's ``contiguity_buffer_size``) of the budget to the temporal neighbours of the
  similar episodes (:func:`two_stage_episodes`);
* LM throughput (tokens/s) on this machine.

Surprise scores are cached under ``--cache`` (keyed by model, dtype and context) so a rerun
with other boundary parameters does not run the LM again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from agentmem.errors import ValidationError

__all__ = ["add_arguments", "load_streams", "run"]

FIXED_PHASES = (0.0, 0.25, 0.5, 0.75)  # grid shifts (fractions of a chunk) of the fixed baseline


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="../shared/data/locomo_dev.json", help="LoCoMo JSON file")
    parser.add_argument("--lm", default=None, help="surprise LM (default: bundled Gemma 3 270M GGUF)")
    parser.add_argument("--home", default=".agentmem", help="data dir (LM safetensors cache)")
    parser.add_argument("--cache", default=None, help="directory for cached surprise scores")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                        help="LM weights; auto: bf16 where the device has native bf16, else fp32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--context", type=int, default=128, help="LM context tokens before a page")
    parser.add_argument("--page", type=int, default=512, help="LM page size in tokens")
    parser.add_argument("--gamma", type=float, default=1.0)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--min-size", type=int, default=3)
    parser.add_argument("--max-size", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=500,
                        help="cut episodes over this many tokens at their most surprising turn; 0: off")
    parser.add_argument("--refine", default="modularity", choices=["modularity", "conductance"])
    parser.add_argument("--tolerance", type=int, default=1)
    parser.add_argument("--budgets", default="500,1000,2000", help="token budgets for episode recall")
    parser.add_argument("--contiguity", type=float, default=0.3,
                        help="share of the budget for temporal neighbours in two_stage_recall (EM-LLM: 0.3)")
    parser.add_argument("--conversations", type=int, default=None, help="only the first N")


def load_streams(path: str | Path) -> list[dict[str, Any]]:
    """Per conversation: turn texts, dia_ids, true session starts and the questions."""
    out: list[dict[str, Any]] = []
    for conv in json.loads(Path(path).read_text()):
        c = conv["conversation"]
        sessions = sorted(
            (k for k in c if k.startswith("session_") and not k.endswith("date_time")),
            key=lambda k: int(k.split("_")[1]),
        )
        texts: list[str] = []
        ids: list[str] = []
        starts: list[int] = []
        for k in sessions:
            if not c[k]:
                continue
            if texts:
                starts.append(len(texts))
            for turn in c[k]:
                texts.append(f"{turn['speaker']}: {turn['text']}")
                ids.append(turn["dia_id"])
        questions = [
            (q["question"], [e for e in q.get("evidence", []) if e in set(ids)])
            for q in conv["qa"]
            if q.get("category") in (1, 2, 3, 4)
        ]
        questions = [(q, ev) for q, ev in questions if ev]
        out.append({"id": conv.get("sample_id", str(len(out))), "texts": texts, "dia_ids": ids,
                    "starts": starts, "questions": questions})
    return out


def lm_scores(streams: list[dict[str, Any]], args: argparse.Namespace) -> tuple[list[np.ndarray], dict[str, float]]:
    """Mean token surprisal per turn of every stream (cached), and LM throughput."""
    from agentmem.mechanisms.episodes.segment.lm import load_logits_model, resolve_lm_dtype
    from agentmem.mechanisms.episodes.segment.scorers import LMSurpriseScorer

    dtype = resolve_lm_dtype(args.dtype, args.device)
    key = hashlib.sha256(
        json.dumps([args.lm, dtype, args.context, args.page]).encode()
    ).hexdigest()[:12]
    cache = Path(args.cache) if args.cache else None
    lm = None
    scores, tokens, seconds = [], 0, 0.0
    for s in streams:
        f = cache / f"surprise_{s['id']}_{key}.json" if cache else None
        if f is not None and f.exists():
            got = json.loads(f.read_text())
            scores.append(np.asarray(got["scores"]))
            tokens += got["tokens"]
            seconds += got["seconds"]
            continue
        if lm is None:
            lm = load_logits_model(args.lm, home=args.home, device=args.device, dtype=dtype)
        scorer = LMSurpriseScorer(lm, context=args.context, page=args.page)
        t0 = time.perf_counter()
        sc = scorer.score([x + "\n" for x in s["texts"]], np.zeros((len(s["texts"]), 0)))
        dt = time.perf_counter() - t0
        scores.append(sc)
        tokens += scorer.total
        seconds += dt
        if f is not None:
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps({"scores": sc.tolist(), "tokens": scorer.total, "seconds": dt}))
    return scores, {"tokens": tokens, "seconds": round(seconds, 1),
                    "tokens_per_s": round(tokens / seconds, 1) if seconds else 0.0}


def turn_vectors(streams: list[dict[str, Any]], args: argparse.Namespace) -> list[np.ndarray]:
    """all-MiniLM-L6-v2 embeddings of every turn (cached beside the scores)."""
    from agentmem.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    cache = Path(args.cache) if args.cache else None
    out = []
    for s in streams:
        f = cache / f"vectors_{s['id']}.npy" if cache else None
        if f is not None and f.exists():
            out.append(np.load(f))
            continue
        v = embedder.embed(s["texts"])
        if f is not None:
            f.parent.mkdir(parents=True, exist_ok=True)
            np.save(f, v)
        out.append(v)
    return out


def boundary_prf(pred: list[int], true: list[int], tolerance: int) -> tuple[int, int, int]:
    """``(matched, predicted, true)``: one-to-one matches within ``tolerance``, closest first."""
    pairs = sorted((abs(p - t), i, j) for i, p in enumerate(pred) for j, t in enumerate(true)
                   if abs(p - t) <= tolerance)
    used_p: set[int] = set()
    used_t: set[int] = set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    return len(used_p), len(pred), len(true)


def fixed_boundaries(n: int, segments: int, phase: float = 0.0) -> list[int]:
    """Boundaries of ``segments`` consecutive chunks of ``n`` items on a grid of step ``n / segments``.

    ``phase`` (a fraction of the step) shifts the grid: the first chunk grows and the last one
    shrinks by as much, the number of chunks stays (as long as every chunk keeps an item).

    >>> fixed_boundaries(12, 3), fixed_boundaries(12, 3, phase=0.5)
    ([4, 8], [6, 10])
    """
    segments = max(1, min(segments, n))
    # (i + phase) * n before the division: exact for quarter phases, so ties round as before
    return sorted({b for i in range(1, segments) if 0 < (b := round((i + phase) * n / segments)) < n})


def _fill(candidates: Iterable[int], cost: np.ndarray, budget: int, taken: list[int]) -> None:
    """Append to ``taken`` the candidates that still fit ``budget``, in order, skipping the rest.

    The rule of :func:`agentmem.recall.pack.pack_context`: one that does not fit is skipped, a
    shorter later one may still fit.
    """
    used = 0
    seen = set(taken)
    for j in candidates:
        if j not in seen and used + cost[j] <= budget:
            used += int(cost[j])
            taken.append(int(j))
            seen.add(int(j))


def two_stage_episodes(sims: np.ndarray, cost: np.ndarray, budget: int, *, contiguity: float) -> list[int]:
    """Episodes recalled within ``budget`` tokens: EM-LLM's similarity + contiguity buffers.

    The similarity buffer (``budget - round(contiguity * budget)`` tokens) takes episodes by
    descending ``sims``; the contiguity buffer (the rest) takes the temporal neighbours of
    those, ``i - 1`` then ``i + 1`` for each in the order they were taken (as
    :meth:`agentmem.mechanisms.episodes.component.EpisodeComponent.search` ranks them). Each buffer is
    filled by :func:`_fill`. ``contiguity = 0`` is similarity alone; EM-LLM's shipped configs
    give 0.3 of the retrieved tokens (``n_mem``) to the contiguity buffer.

    >>> two_stage_episodes(np.array([0.1, 0.9, 0.2, 0.5]), np.array([5, 5, 5, 5]), 20, contiguity=0.5)
    [1, 3, 0, 2]
    >>> two_stage_episodes(np.array([0.1, 0.9, 0.2, 0.5]), np.array([5, 5, 5, 5]), 20, contiguity=0.0)
    [1, 3, 2, 0]
    """
    if not 0.0 <= contiguity <= 1.0:
        raise ValidationError(f"contiguity must be in [0, 1], not {contiguity}")
    near = budget - round(contiguity * budget)
    taken: list[int] = []
    _fill(np.argsort(-sims, kind="stable"), cost, near, taken)
    seeds = list(taken)
    n = len(sims)
    neighbours = [j for i in seeds for j in (i - 1, i + 1) if 0 <= j < n]
    _fill(neighbours, cost, budget - near, taken)
    return taken


def episode_recall(
    bounds: list[int], vectors: np.ndarray, token_counts: np.ndarray, dia_ids: list[str],
    questions: list[tuple[str, list[str]]], qvecs: np.ndarray, budget: int, *, contiguity: float = 0.0,
) -> float:
    """Mean fraction of evidence turns inside the episodes recalled within ``budget`` tokens.

    Episodes are ranked by cosine between the question and the episode embedding (normalised
    mean of its turns') and recalled by :func:`two_stage_episodes`.
    """
    n = len(dia_ids)
    cuts = [0, *bounds, n]
    segs = [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
    emb = np.stack([vectors[a:b].mean(axis=0) for a, b in segs])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    cost = np.array([int(token_counts[a:b].sum()) for a, b in segs])
    where = {d: i for i, d in enumerate(dia_ids)}
    total = 0.0
    for (_, evidence), q in zip(questions, qvecs, strict=True):
        got: set[int] = set()
        for j in two_stage_episodes(emb @ q, cost, budget, contiguity=contiguity):
            got.update(range(*segs[j]))
        total += sum(where[e] in got for e in evidence) / len(evidence)
    return total / max(1, len(questions))


def _scores(
    per_conv: list[list[int]], streams: list[dict[str, Any]], vectors: list[np.ndarray],
    counts: list[np.ndarray], qvecs: list[np.ndarray], budgets: list[int], args: argparse.Namespace,
) -> dict[str, float]:
    """Boundary P/R/F1 and episode recall of one segmentation of every stream (unrounded)."""
    m = p = t = 0
    for bounds, s in zip(per_conv, streams, strict=True):
        a, b, c = boundary_prf(bounds, s["starts"], args.tolerance)
        m, p, t = m + a, p + b, t + c
    prec, rec = m / p if p else 0.0, m / t if t else 0.0
    row = {"segments": float(sum(len(b) + 1 for b in per_conv)), "precision": prec, "recall": rec,
           "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0}
    n_questions = sum(len(s["questions"]) for s in streams)
    for key, share in (("episode_recall", 0.0), ("two_stage_recall", args.contiguity)):
        for budget in budgets:
            r = sum(
                episode_recall(bounds, v, cnt, s["dia_ids"], s["questions"], q, budget, contiguity=share)
                * len(s["questions"])
                for bounds, v, cnt, s, q in zip(per_conv, vectors, counts, streams, qvecs, strict=True)
            )
            row[f"{key}@{budget}"] = r / max(1, n_questions)
    return row


def _rounded(row: dict[str, float]) -> dict[str, Any]:
    return {k: int(v) if k == "segments" else round(v, 3) for k, v in row.items()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from agentmem.embedding import SentenceTransformerEmbedder
    from agentmem.mechanisms.episodes.segment.lm import resolve_lm_dtype
    from agentmem.mechanisms.episodes.segment.scorers import drift_scores
    from agentmem.mechanisms.episodes.segment.stream import SegmentParams, segment_batch
    from agentmem.recall.tokens import TiktokenCounter

    streams = load_streams(args.data)[: args.conversations]
    budgets = [int(b) for b in str(args.budgets).split(",")]
    vectors = turn_vectors(streams, args)
    scores, speed = lm_scores(streams, args)
    embedder = SentenceTransformerEmbedder()
    counter = TiktokenCounter()
    kw = dict(window=args.window, gamma=args.gamma, min_size=args.min_size, max_size=args.max_size,
              max_tokens=args.max_tokens or None)
    raw_p, refined_p = SegmentParams(**kw, refine="off"), SegmentParams(**kw, refine=args.refine)
    counts = [np.array([counter.count(x) for x in s["texts"]]) for s in streams]
    methods: dict[str, list[list[int]]] = {m: [] for m in
                                            ("surprise", "surprise+refine", "fixed", "drift", "drift+refine")}
    for sc, v, cnt in zip(scores, vectors, counts, strict=True):
        drift = drift_scores(v, window=4)
        methods["surprise"].append(segment_batch(sc, v, raw_p, cnt))
        methods["surprise+refine"].append(segment_batch(sc, v, refined_p, cnt))
        methods["drift"].append(segment_batch(drift, v, raw_p, cnt))
        methods["drift+refine"].append(segment_batch(drift, v, refined_p, cnt))
    # Fixed-size segmentation gets the segment count of surprise + refinement (the engine's).
    for s, b in zip(streams, methods["surprise+refine"], strict=True):
        methods["fixed"].append(fixed_boundaries(len(s["texts"]), len(b) + 1))
    qvecs = [embedder.embed([q for q, _ in s["questions"]]) if s["questions"] else np.zeros((0, 1)) for s in streams]
    n_questions = sum(len(s["questions"]) for s in streams)
    data = (streams, vectors, counts, qvecs, budgets, args)
    table: dict[str, Any] = {name: _rounded(_scores(per_conv, *data)) for name, per_conv in methods.items()}
    # One grid's alignment with the session starts is luck; the baseline is the mean over phases.
    sizes = [(len(s["texts"]), len(b) + 1) for s, b in zip(streams, methods["fixed"], strict=True)]
    phases = [_scores([fixed_boundaries(n, k, phase) for n, k in sizes], *data) for phase in FIXED_PHASES]
    mean = _rounded({k: float(np.mean([r[k] for r in phases])) for k in phases[0]})
    mean["range"] = {k: [round(min(r[k] for r in phases), 3), round(max(r[k] for r in phases), 3)]
                     for k in phases[0] if k != "segments"}
    table["fixed (phase mean)"] = mean
    return {
        "data": str(args.data), "conversations": len(streams),
        "turns": sum(len(s["texts"]) for s in streams),
        "true_boundaries": sum(len(s["starts"]) for s in streams), "questions": n_questions,
        "lm": args.lm or "gemma3-270m (bundled GGUF)", "dtype": resolve_lm_dtype(args.dtype, args.device),
        "dtype_option": args.dtype, "device": args.device,
        "params": {**kw, "refine": args.refine, "tolerance": args.tolerance,
                   "lm_context": args.context, "lm_page": args.page, "contiguity": args.contiguity,
                   "fixed_phases": list(FIXED_PHASES)},
        "lm_speed": speed, "methods": table,
        "plot_data": {"trace": {
            "conversation": streams[0]["id"], "scores": [round(float(x), 4) for x in scores[0]],
            "true": list(streams[0]["starts"]), "found": methods["surprise+refine"][0], "method": "surprise+refine",
        }} if streams else {},
    }
