"""``agentmem bench indexing``: turns/s of ``agentmem index`` on LoCoMo, and where time goes.

Indexes the LoCoMo conversations of ``--data`` (or the first ``--conversations`` of them) into
a fresh home for every combination of ``--workers`` and ``--episodes`` (``off``: the default
components; ``surprise``: plus episodic memory segmented by the local LM; ``drift``: by
embedding drift), and reports turns/s with the per-stage seconds of
:class:`agentmem.batch.progress.StageClock`. The embedding model is loaded once and shared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="../shared/data/locomo_dev.json")
    p.add_argument("--conversations", type=int, default=0, help="only the first N conversations (0: all)")
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    p.add_argument("--episodes", default="off,surprise", help="comma-separated: off, drift, surprise")
    p.add_argument("--chunk-turns", type=int, default=512)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--context-source", default="vectors", choices=["text", "vectors"],
                   help="RecallConfig.context_source: how the turns' in-context view is made")
    p.add_argument("--turn-window", type=int, default=128,
                   help="MemoryConfig.turn_window: tokens per window turns are read in (0: each turn alone)")


def _subset(path: Path, n: int, tmp: Path) -> Path:
    if n <= 0:
        return path
    data = json.loads(path.read_text(encoding="utf-8"))[:n]
    out = tmp / "subset.json"
    out.write_text(json.dumps(data), encoding="utf-8")
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from agentmem.batch.pipeline import IndexOptions, run_index
    from agentmem.config import EpisodeConfig, MemoryConfig, RecallConfig
    from agentmem.embedding import SentenceTransformerEmbedder
    from agentmem.kernels.device import resolve_device

    device = str(resolve_device(args.device))
    embedder = SentenceTransformerEmbedder(device=device)
    embedder.embed(["warm up"])
    results = []
    with tempfile.TemporaryDirectory(prefix="agentmem-bench-index-") as tmp:
        data = _subset(Path(args.data), args.conversations, Path(tmp))
        one_pass = _one_pass(embedder, data)
        for episodes in str(args.episodes).split(","):
            for workers in (int(w) for w in str(args.workers).split(",")):
                home = Path(tmp) / f"home-{episodes}-{workers}"
                opts = IndexOptions(paths=(str(data),), workers=workers, chunk_turns=args.chunk_turns,
                                    episodes=None if episodes == "off" else episodes)  # type: ignore[arg-type]
                t0 = time.perf_counter()
                config = MemoryConfig(home=home, device=args.device,  # every other mechanism as Memory()'s
                                      turn_window=args.turn_window,
                                      recall=RecallConfig(context_source=args.context_source))
                if episodes == "off":
                    config = replace(config, episodes=EpisodeConfig(segmenter="off"))
                s = run_index(opts, config, embedder=embedder)
                results.append({
                    "episodes": episodes, "workers": workers, "turns": s.messages_this_run,
                    "seconds": round(time.perf_counter() - t0, 2), "turns_per_s": round(s.turns_per_s, 2),
                    "stages_s": s.stages, "errors": s.counts.get("errors", 0),
                    "embedded_ahead": s.counts.get("embedded", 0),
                    "embedded_outside_plan": s.counts.get("embed_prediction_misses", 0),
                    "ratio_to_one_embedding_pass": round(s.turns_per_s / one_pass["texts_per_s"], 3),
                })
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # partial results
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"benchmark": "indexing", "data": str(args.data), "conversations": args.conversations or "all",
            "device": device, "context_source": args.context_source, "turn_window": args.turn_window, "cpus": os.cpu_count(), "loadavg_at_end": load, "one_embedding_pass": one_pass,
            "results": results}


def _one_pass(embedder: Any, data: Path) -> dict[str, Any]:
    """The embedder alone on the turns' texts (``[date] speaker: text``), one call: the indexer's
    ceiling. Timed through the embedder's ``embed`` and through sentence-transformers' own
    ``encode`` of the same model; the faster of the two is the ceiling."""
    from agentmem.batch.readers import Conversation, read_paths
    from agentmem.engine import draft_turns, provisional_turns
    from agentmem.types import Scope

    scope = Scope("default", "bench")
    texts = [t.render() for r in read_paths([data], "auto") if isinstance(r, Conversation)
             for t in provisional_turns(scope, [n for _, n in draft_turns(scope, r.messages, max_chars=32_000)])]
    t0 = time.perf_counter()
    embedder.embed(texts)
    embed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    embedder._load().encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True)
    encode_s = time.perf_counter() - t0
    sec = min(embed_s, encode_s)
    return {"texts": len(texts), "seconds": round(sec, 2), "texts_per_s": round(len(texts) / sec, 2),
            "embed_seconds": round(embed_s, 2), "encode_seconds": round(encode_s, 2)}
