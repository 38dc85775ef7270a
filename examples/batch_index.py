"""Index a small archive with the batch pipeline, then ask the memory about it.

Writes a JSONL archive of two sessions (one malformed line included) to a temporary
directory, indexes it with ``agentmem.batch.run_index`` into ``$AGENTMEM_HOME`` (or a temporary
home), runs it again (nothing new is stored) and searches. The command-line equivalent is
``agentmem index archive.jsonl --user ada``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from agentmem import Memory, MemoryConfig
from agentmem.batch import IndexOptions, run_index

TURNS = [
    ("trip", "user", "We are going to the Azores on 12 June.", "2024-05-01T09:00:00Z"),
    ("trip", "assistant", "Whale watching off São Miguel is best early in the morning.", "2024-05-01T09:00:20Z"),
    ("garden", "user", "The cherry tomatoes on the balcony finally turned red.", "2024-07-14T18:30:00Z"),
    ("garden", "assistant", "Pick them when they come off the vine easily.", "2024-07-14T18:30:15Z"),
]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive.jsonl"
        lines = [json.dumps({"session_id": s, "role": r, "content": c, "timestamp": ts}) for s, r, c, ts in TURNS]
        lines.insert(2, '{"session_id": "trip", "role": "user"}')  # malformed: no content
        archive.write_text("\n".join(lines) + "\n", encoding="utf-8")

        home = Path(os.environ.get("AGENTMEM_HOME") or Path(tmp) / "home")
        config = MemoryConfig(home=home, device="cpu")
        opts = IndexOptions(paths=(str(archive),), user="ada")
        first = run_index(opts, config, on_error=lambda e: print("skipped:", e))
        print(f"stored {first.counts['turns_added']} turns, {first.counts['errors']} malformed record(s)")
        again = run_index(opts, config)
        print(f"second run stored {again.counts['turns_added']} (already present: {again.counts['duplicates']})")

        mem = Memory(config)
        for hit in mem.search("when is the whale watching trip?", user_id="ada", k=2):
            print(f"{hit.timestamp:%Y-%m-%d} {hit.speaker}: {hit.text}")
        mem.close()


if __name__ == "__main__":
    main()
