"""What the wheel ships: every package but the benchmarks, and a CLI that says where they are."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _source_packages() -> set[str]:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "agentmem").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    return found | {"agentmem.adapters", "agentmem.kernels"}  # package-dir mappings


def test_the_wheel_lists_every_package_except_the_benchmarks() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    assert "agentmem.bench" not in listed
    assert listed == _source_packages() - {"agentmem.bench"}


_WITHOUT_BENCH = """
import sys

class NoBench:
    def find_spec(self, name, path=None, target=None):
        if name == "agentmem.bench" or name.startswith("agentmem.bench."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoBench())
from agentmem.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _cli_without_bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", _WITHOUT_BENCH, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_bench_without_the_benchmarks_says_to_use_a_checkout() -> None:
    done = _cli_without_bench("bench", "locomo", "--data", "x.json")
    assert done.returncode == 2
    assert "source checkout" in done.stderr
    assert "Traceback" not in done.stderr


def test_other_commands_work_without_the_benchmarks() -> None:
    done = _cli_without_bench("--help")
    assert done.returncode == 0
    assert "bench" in done.stdout
