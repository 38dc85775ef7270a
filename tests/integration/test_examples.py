"""The documentation runs as written: every example script, and the Python and command-line
snippets of README.md and docs/quickstart.md, offline, in a fresh working directory."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ["langgraph_agent_memory.py", "langchain_retriever_chain.py", "agent_middleware.py", "batch_index.py"]
DOCS = ["README.md", "docs/quickstart.md"]
FIXTURES = REPO / "tests" / "fixtures_batch"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    drop = ("AGENTMEM_URL", "AGENTMEM_API_KEY", "AGENTMEM_HOME", "AGENTMEM_CONFIG", "AGENTMEM_USER")
    return {
        **{k: v for k, v in os.environ.items() if k not in drop},
        "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "PYTHONSAFEPATH": "1", **extra,
    }


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert out.returncode == 0, f"{args} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def blocks(doc: str, lang: str) -> list[str]:
    """The fenced ``lang`` code blocks of a Markdown file, in order."""
    text = (REPO / doc).read_text(encoding="utf-8")
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


@pytest.mark.parametrize("script", EXAMPLES)
def test_example_runs(script: str, tmp_path: Path) -> None:
    if script != "batch_index.py":
        pytest.importorskip("langchain.agents")
    out = _run([sys.executable, str(REPO / "examples" / script)], tmp_path,
               _env(tmp_path, AGENTMEM_HOME=str(tmp_path / "home")))
    assert out.stdout.strip()


@pytest.mark.postgres
def test_sidecar_example_runs_against_a_server(server: str, new_key: Callable[[str], str], unique: str,
                                                tmp_path: Path) -> None:
    # the documented variables: AGENTMEM_URL and AGENTMEM_API_KEY
    env = _env(tmp_path, AGENTMEM_URL=server, AGENTMEM_API_KEY=new_key(f"ex-{unique}"))
    out = _run([sys.executable, str(REPO / "examples" / "sidecar_client.py")], tmp_path, env)
    assert "Miso" in out.stdout


@pytest.mark.parametrize("doc", DOCS)
def test_python_snippets_run(doc: str, tmp_path: Path) -> None:
    """A document's Python blocks, in order, as one script (later blocks use earlier names)."""
    code = blocks(doc, "python")
    assert code, f"{doc} has no Python snippet"
    script = tmp_path / "snippets.py"
    script.write_text("\n".join(code), encoding="utf-8")
    _run([sys.executable, str(script)], tmp_path, _env(tmp_path))
    assert (tmp_path / ".agentmem" / "agentmem.db").exists()  # ./.agentmem, as documented


def cli_lines(doc: str) -> list[list[str]]:
    """The ``agentmem`` commands of a document's bash blocks, except the benchmarks (minutes
    each, run in docs/benchmarks.md)."""
    out = []
    for block in blocks(doc, "bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["agentmem"] and words[1:2] != ["bench"]:
                out.append(words[1:])
    return out


@pytest.mark.slow  # one process per command, each loading the models
def test_readme_commands_run(tmp_path: Path) -> None:
    commands = cli_lines("README.md")
    assert len(commands) >= 5
    # the user's own ChatGPT export, which the README indexes
    (tmp_path / "conversations.json").write_text((FIXTURES / "chatgpt_conversations.json").read_text())
    env = _env(tmp_path)
    for words in commands:
        _run([sys.executable, "-m", "agentmem.cli.main", *words], tmp_path, env)
    assert (tmp_path / "ada.jsonl").read_text().strip()  # `agentmem export --user ada --out ada.jsonl`
