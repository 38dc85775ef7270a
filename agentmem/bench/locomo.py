"""``agentmem bench locomo``: turn- and session-level recall on LoCoMo conversations.

Each conversation is indexed as its own user (turns with speaker and session date, session id
``session_N``, message id = ``dia_id``); questions of categories 1–4 are searched in that
user's memory, "now" being the last session's date. Recall@k is the fraction of a question's
evidence turns (sessions) among the top k hits (their sessions), averaged over questions.

``--graph offline`` adds the knowledge graph (each turn a passage, facts from the offline
extractor, no LLM); ``--primary`` / ``--head`` / ``--graph-lexical-weight`` set how it is
fused and scored, as in ``agentmem bench retrieval``. The engine's default has no graph.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentmem.bench.locomo_data import load_locomo, session_of
from agentmem.bench.progress import Progress
from agentmem.config import SEGMENTERS, EpisodeConfig, GraphConfig, MemoryConfig, RecallConfig

__all__ = ["add_arguments", "memory_config", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="LoCoMo JSON (locomo10.json layout)")
    p.add_argument("--k", default="5,10,20", help="comma-separated cut-offs")
    d = RecallConfig()
    p.add_argument("--lexical-weight", type=float, default=d.lexical_weight,
                   help="BM25 share of the turn score (0 = dense only, 1 = BM25 only)")
    p.add_argument("--contiguity", type=float, default=d.contiguity, help="neighbour weight (0 = off)")
    p.add_argument("--speaker-boost", type=float, default=d.speaker_boost)
    p.add_argument("--no-context-view", action="store_true", help="search each turn by its own vector only")
    p.add_argument("--context-source", choices=["text", "vectors"], default=d.context_source,
                   help="a turn's in-context view: its text after the previous turn's, or vectors added")
    p.add_argument("--turn-window", type=int, default=MemoryConfig().turn_window,
                   help="tokens per window a session's turns are read in (0: each turn embedded alone)")
    p.add_argument("--context-weight", type=float, default=d.context_weight,
                   help="the predecessor's share of a turn's in-context view (vectors)")
    p.add_argument("--graph", choices=("off", "offline"), default="offline",
                   help="knowledge graph memory: on with the offline extractor (Memory()'s default) or off")
    p.add_argument("--episodes", choices=SEGMENTERS, default=EpisodeConfig().segmenter,
                   help="episode segmenter (default: Memory()'s, auto)")
    p.add_argument("--no-reader", action="store_true", help="plain RRF instead of the learned reader")
    p.add_argument("--primary", default=d.primary,
                   help="signal whose order fusion keeps below RRF's head; 'none': plain RRF")
    p.add_argument("--head", type=int, default=d.head, help="RRF records kept above the primary's order")
    p.add_argument("--graph-lexical-weight", type=float, default=GraphConfig().lexical_weight,
                   help="BM25 weight in the graph's query-to-fact score (0: HippoRAG 2's dense-only)")
    p.add_argument("--home", default=None, help="data directory (default: a temporary one)")
    p.add_argument("--conversations", type=int, default=None, help="only the first N conversations")


def memory_config(args: argparse.Namespace, home: Path) -> MemoryConfig:
    """The :class:`MemoryConfig` the bench runs with, from its parsed arguments."""
    recall = RecallConfig(
        lexical_weight=args.lexical_weight,
        contiguity=args.contiguity,
        speaker_boost=args.speaker_boost,
        context_view=not args.no_context_view, context_source=args.context_source,
        context_weight=args.context_weight,
        primary=None if args.primary in (None, "none") else str(args.primary),
        head=args.head,
        reader=not args.no_reader,
    )
    graph = GraphConfig(
        enabled=args.graph != "off", extractor="offline", lexical_weight=args.graph_lexical_weight
    )
    return MemoryConfig(home=home, chroma=str(home / "chroma"), recall=recall, graph=graph,
                        episodes=EpisodeConfig(segmenter=args.episodes), turn_window=args.turn_window)


def run(args: argparse.Namespace) -> dict[str, Any]:
    ks = [int(x) for x in str(args.k).split(",")]
    convs = load_locomo(args.data)[: args.conversations]
    with tempfile.TemporaryDirectory(prefix="agentmem-locomo-") as tmp:
        home = Path(args.home or tmp)
        from agentmem.memory import Memory

        config = memory_config(args, home)
        mem = Memory(config)
        t0 = time.perf_counter()
        n_turns = 0
        quiet = bool(getattr(args, "quiet", False))
        sessions = Progress("locomo: sessions indexed", sum(len(c.sessions()) for c in convs), enabled=not quiet)
        for c in convs:
            for n, turns in c.sessions().items():
                n_turns += len(mem.add([t.message() for t in turns], user_id=c.sample_id, session_id=f"session_{n}"))
                sessions.step()
        index_s = time.perf_counter() - t0
        turn_hits: dict[int, list[float]] = {k: [] for k in ks}
        sess_hits: dict[int, list[float]] = {k: [] for k in ks}
        by_cat: dict[int, dict[int, list[float]]] = {}
        lat = []
        kmax = max(ks)
        asked = Progress("locomo: questions", sum(len(c.questions) for c in convs), enabled=not quiet)
        for c in convs:
            now = max(t.timestamp for t in c.turns)
            for q in c.questions:
                asked.step()
                t1 = time.perf_counter()
                hits = mem.search(q.question, user_id=c.sample_id, k=kmax, now=now)
                lat.append((time.perf_counter() - t1) * 1000)
                got = [h.metadata.get("message_id") for h in hits]
                ev = set(q.evidence)
                ev_sessions = {session_of(e) for e in ev}
                for k in ks:
                    top = got[:k]
                    r = len(ev & set(top)) / len(ev)
                    turn_hits[k].append(r)
                    by_cat.setdefault(q.category, {kk: [] for kk in ks})[k].append(r)
                    top_sessions = {session_of(g) for g in top if g}
                    sess_hits[k].append(len(ev_sessions & top_sessions) / len(ev_sessions))
        mem.close()

    def pct(xs: list[float]) -> float:
        return round(100 * float(np.mean(xs)), 1) if xs else 0.0

    return {
        "benchmark": "locomo",
        "n_conversations": len(convs),
        "n_turns": n_turns,
        "n_questions": len(turn_hits[ks[0]]),
        "turn_recall": {str(k): pct(v) for k, v in turn_hits.items()},
        "session_recall": {str(k): pct(v) for k, v in sess_hits.items()},
        "turn_recall_by_category": {
            str(cat): {str(k): pct(v) for k, v in d.items()} for cat, d in sorted(by_cat.items())
        },
        "index_s": round(index_s, 1),
        "add_turns_per_s": round(n_turns / index_s, 1) if index_s else None,
        "search_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "search_ms_p95": round(float(np.percentile(lat, 95)), 1),
        "config": {
            "lexical_weight": args.lexical_weight, "contiguity": args.contiguity,
            "speaker_boost": args.speaker_boost, "context_view": not args.no_context_view,
            "context_source": args.context_source, "turn_window": args.turn_window, "context_weight": args.context_weight,
            "graph": args.graph, "primary": config.recall.primary, "head": config.recall.head,
            "graph_lexical_weight": config.graph.lexical_weight,
        },
        "plot_data": {"search_ms": [round(x, 3) for x in lat]},
    }
