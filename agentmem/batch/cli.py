"""The ``agentmem index`` command: flags, progress, errors on stderr, JSON summary on stdout."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_index_arguments", "run_index_command"]


def add_index_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``agentmem index`` (store flags --home/--db/--chroma/--device/--tenant come
    from the main CLI)."""
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, or directories of .json/.jsonl files")
    p.add_argument("--format", dest="fmt", default="auto",
                   choices=["auto", "chatgpt", "claude", "longmemeval", "locomo", "jsonl"])
    p.add_argument("--user", default=None,
                   help="store every record under this user (default: the user a record names, "
                        "else $AGENTMEM_USER or 'default')")
    p.add_argument("--workers", type=int, default=1, help="embedding workers (threads, or Ray actors)")
    p.add_argument("--engine", default="local", choices=["local", "ray"])
    p.add_argument("--resume", action="store_true", help="continue the job from its watermark")
    p.add_argument("--strict", action="store_true", help="fail at the first malformed record")
    p.add_argument("--chunk-turns", type=int, default=512, help="turns embedded per batch")
    p.add_argument("--episodes", default=None, choices=["surprise", "drift", "off"],
                   help="episodic memory's segmenter (default: as the store was built, else auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: on a terminal)")
    p.add_argument("--quiet-errors", action="store_true", help="do not print each malformed record")


def run_index_command(args: argparse.Namespace) -> int:
    from agentmem.batch.pipeline import IndexOptions, run_index
    from agentmem.cli.args import memory_config

    config = memory_config(args)
    opts = IndexOptions(
        paths=tuple(args.paths), fmt=args.fmt, user=args.user, tenant=args.tenant,
        workers=args.workers, engine=args.engine, resume=args.resume, strict=args.strict,
        chunk_turns=args.chunk_turns, episodes=args.episodes,
        progress=not args.no_progress and sys.stderr.isatty(),
    )

    def on_error(message: str) -> None:
        if not args.quiet_errors:
            print(f"agentmem: skipped: {message}", file=sys.stderr)

    try:
        summary = run_index(opts, config, on_error=on_error)
    except KeyboardInterrupt:
        print("agentmem: interrupted; run the same command with --resume to continue", file=sys.stderr)
        return 130
    out = summary.as_dict()
    if len(out["errors"]) > 20:
        out["errors"] = out["errors"][:20] + [f"... {len(summary.errors) - 20} more"]
    print(json.dumps(out, ensure_ascii=False))
    c = summary.counts
    print(
        f"indexed {summary.messages_this_run:,} turns in {summary.seconds:.1f}s "
        f"({summary.turns_per_s:,.1f} turns/s): {c.get('turns_added', 0):,} stored in total, "
        f"{c.get('duplicates', 0):,} already present, {c.get('errors', 0):,} malformed skipped",
        file=sys.stderr,
    )
    return 0
