"""``agentmem demo``: index the bundled sample archive, ask questions, show provenance."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

__all__ = ["QUESTIONS", "load_sample_archive", "run_demo"]

USER = "ada"
QUESTIONS = [
    "What is the name of my cat and when is her vaccine due?",
    "Which food restrictions should restaurant suggestions respect?",
    "What happened on the trip in May?",
    "Who is my manager and what deadline did we have?",
]
NOW = datetime(2024, 6, 20, tzinfo=UTC)  # the archive ends in June 2024; "May" means May 2024


def load_sample_archive() -> list[dict[str, object]]:
    """The sample conversation archive shipped in ``agentmem/data`` (written for this project)."""
    text = resources.files("agentmem.data").joinpath("sample_archive.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_demo(args: argparse.Namespace) -> int:
    from agentmem.config import MemoryConfig
    from agentmem.memory import Memory

    with tempfile.TemporaryDirectory(prefix="agentmem-demo-") as tmp:
        home = Path(args.home) if args.home else Path(tmp)
        print(f"agentmem demo — data directory {home}")
        t0 = time.perf_counter()
        mem = Memory(MemoryConfig(home=home))
        records = load_sample_archive()
        sessions: dict[str, list[dict[str, object]]] = {}
        for r in records:
            sessions.setdefault(str(r["session_id"]), []).append(r)
        added = 0
        for sid, msgs in sessions.items():
            added += len(mem.add(msgs, user_id=USER, session_id=sid))
        again = sum(len(mem.add(m, user_id=USER, session_id=s)) for s, m in sessions.items())
        print(f"indexed {added} turns in {len(sessions)} sessions in {time.perf_counter() - t0:.1f}s "
              f"(re-adding the archive stored {again} more: ingest is idempotent)\n")
        for q in QUESTIONS:
            print(f"Q: {q}")
            for i, h in enumerate(mem.search(q, user_id=USER, k=3, now=NOW), 1):
                found_by = ", ".join(f"{s} #{r}" for s, r in sorted(h.signals.items(), key=lambda kv: kv[1]))
                print(f"  {i}. [{h.timestamp:%Y-%m-%d} {h.metadata.get('session_id')}] {h.speaker}: {h.text}")
                print(f"     score {h.score:.4f}, found by {found_by}")
            print()
        q = QUESTIONS[2]
        pack = mem.recall(q, user_id=USER, token_budget=120, now=NOW)
        print(f"Packed context for {q!r} (budget {pack.token_budget} tokens, cl100k_base):")
        print(pack.text)
        print(f"-- {pack.tokens} tokens, {len(pack.hits)} memories, {pack.dropped} left out; citations:")
        for c in pack.citations:
            print(f"   [{c.marker}] {c.kind} {c.id[:12]} via {', '.join(c.signals)}")
        mem.close()
    return 0
