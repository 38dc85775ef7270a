"""``agentmem`` command line: demo, add, search, recall, export, import, bench."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentmem.cli.args import add_mechanism_arguments, memory_config
from agentmem.errors import AgentMemError, ConfigError

__all__ = ["main"]

# name → module under agentmem.bench exposing add_arguments(parser) and run(args) -> dict
BENCHES = {
    "retrieval": "retrieval",
    "locomo": "locomo",
    "latency": "latency",
    "search": "search",
    "thoughts": "thoughts",
    "segmentation": "segmentation",
    "prepare-musique": "musique",
    "load": "load",
    "indexing": "indexing",
    "reader-data": "reader_data",
    "train-reader": "train_reader",
    "ablation": "ablation",
    "updates": "updates",
    "gpu": "gpu",
    "ppr": "ppr",
    "turn-vectors": "turn_vectors",
}


_USER_HELP = "whose memories (default: $AGENTMEM_USER or 'default')"


def _store_args(p: argparse.ArgumentParser, *, episodes: bool = True) -> None:
    p.add_argument("--home", default=None, help="data directory (default $AGENTMEM_HOME or ./.agentmem)")
    p.add_argument("--db", default=None, help="SQLAlchemy URL (default: SQLite under --home)")
    p.add_argument("--chroma", default=None, help="Chroma path or http://host:port")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="(default: auto)")
    p.add_argument("--tenant", default="default")
    add_mechanism_arguments(p, episodes=episodes)


def _memory(args: argparse.Namespace) -> Any:
    from agentmem.memory import Memory

    return Memory(memory_config(args))


def _print_hits(hits: Sequence[Any]) -> None:
    for i, h in enumerate(hits, 1):
        when = f"{h.timestamp:%Y-%m-%d}" if h.timestamp else "-"
        signals = ",".join(f"{s}#{r}" for s, r in sorted(h.signals.items(), key=lambda kv: kv[1]))
        sess = h.metadata.get("session_id") or "-"
        print(f"{i:>2}. {h.score:.4f} [{signals}] {when} session={sess} id={h.id[:12]}")
        print(f"    {h.speaker + ': ' if h.speaker else ''}{h.text}")


def _hit_json(h: Any) -> dict[str, Any]:
    return {
        "id": h.id, "kind": h.kind, "text": h.text, "score": h.score, "speaker": h.speaker,
        "timestamp": h.timestamp.isoformat() if h.timestamp else None, "signals": dict(h.signals),
        "metadata": {k: v for k, v in h.metadata.items() if k not in ("triples", "entities")},
    }


def cmd_add(args: argparse.Namespace) -> int:
    mem = _memory(args)
    if args.file:
        lines = Path(args.file).read_text(encoding="utf-8").splitlines()
        messages: Any = [json.loads(line) for line in lines if line.strip()]
    else:
        messages = [{"role": args.role, "content": " ".join(args.text)}]
    turns = mem.add(messages, user_id=args.user, session_id=args.session, tenant=args.tenant)
    print(json.dumps({"added": len(turns), "ids": [t.id for t in turns]}))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    mem = _memory(args)
    hits = mem.search(" ".join(args.query), user_id=args.user, k=args.k, tenant=args.tenant)
    if args.json:
        print(json.dumps([_hit_json(h) for h in hits], ensure_ascii=False))
    else:
        _print_hits(hits)
    return 0


def cmd_recall(args: argparse.Namespace) -> int:
    mem = _memory(args)
    pack = mem.recall(" ".join(args.query), user_id=args.user, token_budget=args.budget, tenant=args.tenant)
    if args.json:
        print(json.dumps({
            "text": pack.text, "tokens": pack.tokens, "token_budget": pack.token_budget, "dropped": pack.dropped,
            "citations": [{"marker": c.marker, "id": c.id, "kind": c.kind, "signals": list(c.signals)} for c in pack.citations],
        }, ensure_ascii=False))
    else:
        print(pack.text)
        print(f"\n({pack.tokens}/{pack.token_budget} tokens, {len(pack.hits)} memories, {pack.dropped} dropped)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    mem = _memory(args)
    n = mem.export(args.out if args.out else sys.stdout, user_id=args.user, tenant=args.tenant)
    print(f"exported {n} memories", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    mem = _memory(args)
    n = mem.import_(args.file, user_id=args.user, tenant=args.tenant)
    print(json.dumps({"imported": n}))
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from agentmem.batch.cli import run_index_command

    return run_index_command(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from agentmem.cli.demo import run_demo

    return run_demo(args)


def cmd_bench(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"agentmem.bench.{BENCHES[args.bench]}")
    if getattr(args, "plot", None) or getattr(args, "report", None):
        from agentmem.bench.plots import pyplot

        pyplot()  # a missing `plot` extra fails before the bench runs, not after
    result = module.run(args)
    plot_data = result.pop("plot_data", {}) if isinstance(result, dict) else {}
    if getattr(args, "plot", None):
        from agentmem.bench.plots import write_plot

        write_plot(args.plot, args.bench, result, plot_data)
    if getattr(args, "report", None):
        from agentmem.bench.plots import write_report

        write_report(args.report, args.bench, result, plot_data)
    print(json.dumps(result, indent=None if args.json else 2, ensure_ascii=False))
    return 0


BENCH_ABSENT = (
    "the benchmarks are not part of the installed package; run `agentmem bench` from a source "
    "checkout of agentmem (`pip install -e .` in the clone, then `agentmem bench --help`)"
)


def cmd_bench_absent(args: argparse.Namespace) -> int:
    raise ConfigError(BENCH_ABSENT)


def _has_benches() -> bool:
    """Whether ``agentmem.bench`` is importable (a checkout; the wheel leaves it out, see pyproject)."""
    try:
        importlib.import_module("agentmem.bench")
    except ModuleNotFoundError as exc:
        if exc.name != "agentmem.bench":
            raise
        return False
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentmem", description="Memory middleware for LLM applications.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="index the bundled sample archive and answer a few questions")
    p.add_argument("--home", default=None, help="data directory (default: a fresh temporary one)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("add", help="store messages")
    _store_args(p)
    p.add_argument("--user", default=None, help=_USER_HELP)
    p.add_argument("--session", default=None)
    p.add_argument("--role", default="user", choices=["user", "assistant", "system"])
    p.add_argument("--file", default=None, help="JSONL of messages {role|speaker, content, timestamp?, id?}")
    p.add_argument("text", nargs="*")
    p.set_defaults(func=cmd_add)

    for name, fn, help_ in (("search", cmd_search, "ranked memories"), ("recall", cmd_recall, "packed context")):
        p = sub.add_parser(name, help=help_)
        _store_args(p)
        p.add_argument("--user", default=None, help=_USER_HELP)
        p.add_argument("--json", action="store_true")
        if name == "search":
            p.add_argument("--k", type=int, default=10)
        else:
            p.add_argument("--budget", type=int, default=1000, help="token budget (cl100k_base)")
        p.add_argument("query", nargs="+")
        p.set_defaults(func=fn)

    p = sub.add_parser("export", help="write a user's memories as JSONL")
    _store_args(p)
    p.add_argument("--user", default=None, help=_USER_HELP)
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="load JSONL written by export")
    _store_args(p)
    p.add_argument("--user", default=None, help=_USER_HELP)
    p.add_argument("file")
    p.set_defaults(func=cmd_import)

    # Without the storage stack (a GPU image with torch only) these commands are not offered;
    # the kernels' benchmarks (``bench gpu``) still are.
    try:
        from agentmem.batch.cli import add_index_arguments
        from agentmem.server.cli import add_commands as add_server_commands
    except ImportError:
        add_index_arguments = add_server_commands = None  # type: ignore[assignment]
    if add_index_arguments is not None:
        p = sub.add_parser("index", help="index conversation archives (ChatGPT, Claude, LongMemEval, LoCoMo, JSONL)")
        _store_args(p, episodes=False)  # index has its own --episodes
        add_index_arguments(p)
        p.set_defaults(func=cmd_index)
        add_server_commands(sub)  # serve, keys, mcp

    p = sub.add_parser("bench", help="benchmarks (JSON on stdout)")
    if not _has_benches():
        p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        p.set_defaults(func=cmd_bench_absent)
        return parser
    bench = p.add_subparsers(dest="bench", required=True)
    for name, module in BENCHES.items():
        try:
            mod = importlib.import_module(f"agentmem.bench.{module}")
        except ImportError:
            continue  # a bench whose optional dependencies are missing is not offered
        bp = bench.add_parser(name)
        mod.add_arguments(bp)
        bp.add_argument("--json", action="store_true", help="one JSON object on stdout")
        bp.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
        if name in ("retrieval", "locomo", "latency", "segmentation"):  # agentmem.bench.plots.PLOTTABLE
            bp.add_argument("--plot", metavar="FILE.png", default=None,
                            help="also draw the result (needs the plot extra: matplotlib)")
            bp.add_argument("--report", metavar="FILE.html", default=None,
                            help="also write a self-contained HTML report (picture + result)")
        bp.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the CLI never downloads models
    args = build_parser().parse_args(argv)
    # index names users per record; mcp without --user lets the client name user_id per call
    if args.command not in ("index", "mcp") and "user" in vars(args) and args.user is None:
        from agentmem.config import default_user

        args.user = default_user()
    try:
        return int(args.func(args))
    except AgentMemError as exc:
        print(f"agentmem: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
