"""``agentmem bench retrieval``: passage Recall@k of the fused memory on a document corpus.

Inputs (see ``agentmem bench prepare-musique``): ``--corpus`` JSONL ``{"id", "text", "title"?}``
and ``--queries`` JSONL ``{"query", "gold": [ids]}``. Every passage is added as a document of
one user (``Memory.add_documents``) with the knowledge graph enabled; with ``--triples`` the
precomputed OpenIE output (HippoRAG's ``openie_results`` layout) is attached to the passage
whose ``title\\ntext`` string it was extracted from, otherwise the offline extractor runs.

Recall@k = |top-k ∩ gold| / |gold|, averaged over queries. The result also breaks recall down
per signal (each component's own ranked list for the same query, before fusion), and reports
index time and the p50 latency of ``Memory.search``. Fusion defaults to
:meth:`RecallConfig.multi_hop` (what a document corpus with the graph on should run);
``--primary none`` is the engine's plain RRF.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentmem.config import FUSIONS, GraphConfig, MemoryConfig, RecallConfig

__all__ = ["add_arguments", "load_jsonl", "memory_config", "recall_at", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, help="JSONL of {id, text, title?}")
    p.add_argument("--queries", required=True, help="JSONL of {query, gold: [ids]}")
    p.add_argument("--k", default="2,5,10", help="comma-separated cut-offs")
    p.add_argument("--triples", default=None, help="precomputed OpenIE JSON (HippoRAG openie_results layout)")
    p.add_argument("--signals", default=None, help="fuse only these signals, e.g. dense,graph (ablation)")
    p.add_argument("--weights", default=None, help="override fusion weights, e.g. graph=2,bm25=0.5")
    p.add_argument("--no-graph", action="store_true", help="leave the knowledge graph out")
    p.add_argument("--fusion", choices=FUSIONS, default="default",
                   help="default: Memory()'s (the learned reader); multi-hop: the preset, shaped by the flags below")
    preset = RecallConfig.multi_hop()
    p.add_argument(
        "--primary", default=preset.primary,
        help="signal whose order fusion keeps below the others' top picks; 'none': plain RRF (ablation)",
    )
    p.add_argument("--head", type=int, default=preset.head, help="records kept above the primary's order")
    p.add_argument(
        "--lead", default=",".join(preset.lead),
        help="signals whose best records fill the head in turn ('none': RRF's top fills it)",
    )
    p.add_argument(
        "--lexical-weight", type=float, default=GraphConfig().lexical_weight,
        help="BM25 weight in the query-to-fact score; 0: HippoRAG 2's dense-only (ablation)",
    )
    p.add_argument(
        "--topic-weight", type=float, default=GraphConfig().topic_weight,
        help="weight of the passage -- title entity edges; 0: HippoRAG 2's graph (ablation)",
    )
    p.add_argument("--home", default=None, help="data directory (default: a temporary one)")


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def recall_at(ranked: list[str], gold: list[str], k: int) -> float:
    """``|top-k ∩ gold| / |gold|`` (duplicates in ``ranked`` count once)."""
    top = list(dict.fromkeys(ranked))[:k]
    return len(set(top) & set(gold)) / len(set(gold)) if gold else 0.0


def _weights(args: argparse.Namespace) -> dict[str, float]:
    weights = dict(RecallConfig().weights)
    if args.signals:
        keep = set(args.signals.split(","))
        weights = {s: (w if s in keep else 0.0) for s, w in weights.items()}
    if args.weights:
        for item in args.weights.split(","):
            name, value = item.split("=")
            weights[name.strip()] = float(value)
    return weights


def _primary(args: argparse.Namespace) -> str | None:
    return None if args.primary in (None, "none") else str(args.primary)


def _lead(args: argparse.Namespace) -> tuple[str, ...]:
    return () if args.lead in ("", "none") else tuple(s.strip() for s in str(args.lead).split(","))


def memory_config(args: argparse.Namespace, home: Path) -> MemoryConfig:
    """The :class:`MemoryConfig` the bench runs with, from its parsed arguments."""
    if args.fusion == "default":
        recall = RecallConfig(weights=_weights(args))
    else:
        recall = RecallConfig(weights=_weights(args), primary=_primary(args), head=args.head, lead=_lead(args),
                              reader=False)
    graph = GraphConfig(enabled=not args.no_graph, lexical_weight=args.lexical_weight, topic_weight=args.topic_weight)
    return MemoryConfig(home=home, chroma=str(home / "chroma"), recall=recall, graph=graph)


def _memory(args: argparse.Namespace, home: Path) -> Any:
    from agentmem.mechanisms.graph.component import GraphComponent
    from agentmem.memory import Memory

    # Passages are documents: the turn component embeds each alone (documents have no
    # conversational neighbours), rendered as "title\ntext".
    mem = Memory(memory_config(args, home))
    names = {c.name for c in mem.components}
    if not args.no_graph and "graph" not in names:
        mem.components.append(GraphComponent(mem.services))
    return mem


def _documents(args: argparse.Namespace) -> tuple[list[dict[str, Any]], int]:
    from agentmem.mechanisms.graph.triples import load_openie, passage_key

    corpus = load_jsonl(args.corpus)
    if not args.triples:
        return corpus, 0
    openie = load_openie(args.triples)
    docs, missing = [], 0
    for d in corpus:
        got = openie.get(passage_key(d["text"], d.get("title")))
        if got is None:
            missing += 1
            docs.append({**d, "triples": []})
        else:
            docs.append({**d, "triples": [list(t) for t in got.triples], "entities": list(got.entities)})
    return docs, missing


def run(args: argparse.Namespace) -> dict[str, Any]:
    from agentmem.embedding import embed_query
    from agentmem.mechanisms.base import Query
    from agentmem.types import Scope

    ks = [int(x) for x in str(args.k).split(",")]
    docs, missing = _documents(args)
    queries = load_jsonl(args.queries)
    user = "bench"
    with tempfile.TemporaryDirectory(prefix="agentmem-retrieval-") as tmp:
        home = Path(args.home or tmp)
        mem = _memory(args, home)
        t0 = time.perf_counter()
        mem.add_documents(docs, user_id=user)  # a reused --home already holds them: adds nothing
        index_s = time.perf_counter() - t0
        scope = Scope("default", user)
        doc_of = {t.id: str(t.metadata["doc_id"]) for t in mem.services.sql.list_turns(scope)}
        mem.search(queries[0]["query"], user_id=user, k=max(ks))  # warm caches
        fused: dict[int, list[float]] = {k: [] for k in ks}
        per_signal: dict[str, dict[int, list[float]]] = {}
        latency = []
        for q in queries:
            t1 = time.perf_counter()
            hits = mem.search(q["query"], user_id=user, k=max(ks))
            latency.append(time.perf_counter() - t1)
            ranked = [str(h.metadata.get("doc_id")) for h in hits]
            for k in ks:
                fused[k].append(recall_at(ranked, q["gold"], k))
            # each signal's own list (not timed): what fusion started from
            s = mem.services
            query = Query(q["query"], embed_query(s.embedder, q["query"]), scope, max(ks), s.sql.versions(scope))
            lists: dict[str, list[str]] = {}
            for c in mem.components:
                for cand in c.search(query):
                    for tid in cand.turn_ids or (cand.id,):
                        if tid in doc_of:
                            lists.setdefault(cand.signal, []).append(doc_of[tid])
            for sig, ranked_sig in lists.items():
                for k in ks:
                    per_signal.setdefault(sig, {kk: [] for kk in ks})[k].append(
                        recall_at(ranked_sig, q["gold"], k)
                    )
        stats: dict[str, Any] = {}
        if not args.no_graph:
            from agentmem.mechanisms.graph.repository import graph_stats

            stats = graph_stats(mem.services.sql, scope)
        mem.close()

    def pct(values: list[float]) -> float:
        return round(100.0 * float(np.mean(values)), 1) if values else 0.0

    return {
        "recall": {str(k): pct(fused[k]) for k in ks},
        "signals": {
            sig: {str(k): pct(v[k]) for k in ks} for sig, v in sorted(per_signal.items())
        },
        "n_queries": len(queries),
        "n_passages": len(docs),
        "triples": bool(args.triples),
        "unmatched_passages": missing,
        "graph": stats,
        "index_s": round(index_s, 1),
        "query_ms_p50": round(1000.0 * float(np.median(latency)), 1),
        "weights": _weights(args),
        "fusion": args.fusion,  # default: the reader; multi-hop: primary, head and lead below
        **({"primary": _primary(args), "head": args.head, "lead": list(_lead(args))} if args.fusion != "default" else {}),
        "lexical_weight": args.lexical_weight,
        "topic_weight": args.topic_weight,
        "plot_data": {"search_ms": [round(1000.0 * x, 3) for x in latency]},
    }


def main() -> None:  # pragma: no cover - `python -m agentmem.bench.retrieval`
    p = argparse.ArgumentParser(prog="agentmem bench retrieval")
    add_arguments(p)
    print(json.dumps(run(p.parse_args()), indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
