"""Python started in the repository root imports Hugging Face's ``kernels``, never ours.

The repository's top-level ``kernels/`` folder ships as ``agentmem.kernels``; it has no
``__init__.py`` so that ``python -m ...``, ``python -c`` or a user's script run from a checkout
(the root first on ``sys.path``) cannot import it as the top-level module ``kernels``, which
transformers imports. Each check runs in a fresh interpreter from the root, without
``PYTHONSAFEPATH``, the way a user would run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run_from_root(code: str, tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSAFEPATH", "PYTHONPATH")}
    env.update({"HF_HUB_OFFLINE": "1", "AGENTMEM_HOME": str(tmp_path / "home")})
    out = subprocess.run(
        [sys.executable, "-"], input=code, capture_output=True, text=True,
        cwd=REPO, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_repository_root_is_first_on_sys_path_in_these_checks(tmp_path: Path) -> None:
    # The checks below mean something only if the root shadows like a user's `python -` would.
    printed = _run_from_root("import sys; print(repr(sys.path[0]))", tmp_path)
    assert printed.strip() in ("''", repr(str(REPO)))


def test_import_kernels_from_the_root_is_not_this_repository(tmp_path: Path) -> None:
    printed = _run_from_root(
        "import importlib.util\n"
        "spec = importlib.util.find_spec('kernels')\n"
        "print(spec.origin if spec and spec.origin else '')\n"
        "import kernels\n"
        "print(getattr(kernels, '__file__', '') or '')\n",
        tmp_path,
    )
    found = printed.split()
    assert len(found) == 2, printed  # transformers requires Hugging Face's kernels: it is installed
    for where in found:
        assert not Path(where).resolve().is_relative_to(REPO / "kernels"), where


def test_transformers_kernel_hub_and_sentence_transformers_import_from_the_root(
    tmp_path: Path,
) -> None:
    pytest.importorskip("transformers")
    printed = _run_from_root(
        "import agentmem, sentence_transformers\n"
        "import transformers.integrations.hub_kernels\n"
        "import agentmem.kernels as k\n"
        "print(k.__path__[0]); print(sorted(k.__all__))\n",
        tmp_path,
    )
    folder, names = printed.splitlines()[:2]
    assert Path(folder).resolve() == REPO / "kernels"
    assert "topk" in names


def test_langgraph_store_works_from_a_script_in_the_root(tmp_path: Path) -> None:
    pytest.importorskip("langgraph.store.base")
    printed = _run_from_root(
        "from agentmem import Memory\n"
        "from agentmem.adapters import AgentMemStore\n"
        "store = AgentMemStore(Memory(), user_id='ada')\n"
        "store.put(('notes',), 'cat', {'text': 'Ada adopted a grey cat named Miso'})\n"
        "store.put(('notes',), 'job', {'text': 'Ada works as a marine biologist'})\n"
        "print(store.search(('notes',), query='what pet does Ada have?', limit=1)[0].key)\n",
        tmp_path,
    )
    assert printed.split()[-1] == "cat"
