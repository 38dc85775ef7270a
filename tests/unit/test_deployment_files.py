"""The Dockerfile and docker-compose.yml, checked without a Docker daemon: the compose file
parses, runs the sidecar beside Postgres and a Chroma server with healthchecks, and the image
installs from the project's pins and runs ``agentmem serve``."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_compose_runs_the_sidecar_with_postgres_and_chroma(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"agentmem", "postgres", "chroma"}
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
    sidecar = services["agentmem"]
    assert sidecar["build"] == "." and sidecar["command"][0] == "serve"
    env = sidecar["environment"]
    assert env["AGENTMEM_DB"].startswith("postgresql+psycopg://") and "@postgres:5432/" in env["AGENTMEM_DB"]
    assert env["AGENTMEM_CHROMA"] == "http://chroma:8000"
    assert "${AGENTMEM_ADMIN_KEY:?" in env["AGENTMEM_ADMIN_KEY"]  # required, never a default secret
    assert {k: v["condition"] for k, v in sidecar["depends_on"].items()} == {
        "postgres": "service_healthy", "chroma": "service_healthy",
    }
    assert "/readyz" in " ".join(sidecar["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    for name in ("postgres", "chroma"):  # stores keep their data in volumes
        volume = services[name]["volumes"][0].split(":")[0]
        assert volume in compose["volumes"]


def test_chroma_server_matches_the_installed_client(compose: dict[str, Any]) -> None:
    chromadb = pytest.importorskip("chromadb")
    tag = compose["services"]["chroma"]["image"].rsplit(":", 1)[1]
    assert tag == chromadb.__version__


def test_dockerfile_installs_from_the_pins_and_runs_serve() -> None:
    steps = _instructions(ROOT / "Dockerfile")
    runs = [args for word, args in steps if word == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    assert installs and all("-c requirements.lock" in r for r in installs)  # every version pinned
    assert re.search(r"^torch==\S+$", (ROOT / "requirements.lock").read_text(), re.M)
    assert any("torch==" in r and "+cpu" in r and "whl/cpu" in r for r in installs)  # the CPU build
    assert any(re.search(r"\[[^\]]*server[^\]]*\]", r) for r in installs)
    copied = " ".join(args for word, args in steps if word == "COPY")
    for path in ("requirements.lock", "pyproject.toml", "agentmem", "adapters", "kernels"):
        assert path in copied
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "HF_HUB_OFFLINE=1" in env
    assert any(word == "USER" and args != "root" for word, args in steps)
    entry = [json_args(args) for word, args in steps if word in ("ENTRYPOINT", "CMD")]
    assert entry[-2:] == [["agentmem"], ["serve", "--host", "0.0.0.0", "--port", "8750"]]
    assert any(word == "HEALTHCHECK" and "/healthz" in args for word, args in steps)
    assert any(word == "EXPOSE" and args == "8750" for word, args in steps)


def json_args(args: str) -> list[str]:
    import json

    value = json.loads(args) if args.startswith("[") else shlex.split(args)
    assert isinstance(value, list)
    return [str(v) for v in value]


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".agentmem"} <= ignored
