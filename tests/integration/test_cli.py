"""The CLI as a user runs it: real subprocesses, a temporary data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def agentmem(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "AGENTMEM_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "agentmem.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=check)


def test_demo_runs_and_shows_provenance(tmp_path: Path) -> None:
    out = agentmem("demo", "--home", str(tmp_path / "demo"), home=tmp_path).stdout
    assert "indexed 33 turns in 4 sessions" in out
    assert "re-adding the archive stored 0 more" in out
    assert "Miso" in out and "found by" in out
    assert "Packed context" in out and "[1]" in out


def test_add_search_recall_export_import(tmp_path: Path) -> None:
    home = tmp_path / "h"
    added = json.loads(agentmem("add", "--user", "ada", "I", "am", "allergic", "to", "peanuts", home=home).stdout)
    assert added["added"] == 1
    agentmem("add", "--user", "ada", "My", "cat", "is", "called", "Miso", home=home)
    hits = json.loads(agentmem("search", "--user", "ada", "--json", "food", "allergy", home=home).stdout)
    assert hits[0]["text"] == "I am allergic to peanuts" and "dense" in hits[0]["signals"]
    pack = json.loads(agentmem("recall", "--user", "ada", "--json", "--budget", "50", "pets", home=home).stdout)
    assert pack["tokens"] <= 50 and "Miso" in pack["text"]
    out = tmp_path / "ada.jsonl"
    agentmem("export", "--user", "ada", "--out", str(out), home=home)
    assert len(out.read_text().splitlines()) == 2
    imported = json.loads(agentmem("import", "--user", "bob", str(out), home=home).stdout)
    assert imported == {"imported": 2}


def test_errors_are_messages_not_tracebacks(tmp_path: Path) -> None:
    r = agentmem("search", "--user", "ada", "--k", "0", "x", home=tmp_path, check=False)
    assert r.returncode == 2
    assert "agentmem: error: k must be" in r.stderr and "Traceback" not in r.stderr


def test_index_and_search_with_the_knowledge_graph(tmp_path: Path) -> None:
    # batch indexing can feed the graph (the index command had no --graph: a store served with
    # --graph lacked the archive's turns)
    archive = tmp_path / "docs.jsonl"
    docs = ["Jump for Glory is a 1937 film directed by Raoul Walsh.",
            "Raoul Walsh was married to Miriam Cooper, an actress of the silent era.",
            "The harbour of Porto is busy in March."]
    archive.write_text("".join(json.dumps({"user": "ada", "session_id": f"d{i}", "role": "user", "content": d,
                                           "id": f"doc{i}", "timestamp": f"2024-03-0{i + 1}T09:00:00Z"}) + "\n" for i, d in enumerate(docs)))
    home = tmp_path / "h"
    query = ("--user", "ada", "--json", "Who", "directed", "Jump", "for", "Glory?")
    out = agentmem("index", "--no-graph", "--no-progress", str(archive), home=home)  # indexed without the graph
    assert json.loads(out.stdout.splitlines()[0])["counts"]["turns_added"] == 3
    hits = json.loads(agentmem("search", "--graph", *query, home=home).stdout)
    assert all("graph" not in h["signals"] for h in hits)  # the graph holds none of them
    # the same archive again with --graph stores nothing new, and the graph catches up on the
    # sessions' stored turns (Memory.add meets known messages): a backfill
    out = agentmem("index", "--graph", "--no-progress", str(archive), home=home)
    assert json.loads(out.stdout.splitlines()[0])["counts"]["duplicates"] == 3
    hits = json.loads(agentmem("search", "--graph", "--fusion", "multi-hop", *query, home=home).stdout)
    assert hits[0]["text"] == docs[0] and all("graph" in h["signals"] for h in hits)
    # the store remembers its graph and fusion: a later call without the flags runs them
    plain = json.loads(agentmem("search", *query, home=home).stdout)
    assert [h["text"] for h in plain] == [h["text"] for h in hits] and all("graph" in h["signals"] for h in plain)
    clash = agentmem("search", "--no-graph", *query, home=home, check=False)
    assert clash.returncode == 2 and "built with the knowledge graph" in clash.stderr
    bad = agentmem("search", "--fusion", "sideways", *query, home=home, check=False)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
