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
