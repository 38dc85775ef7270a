"""Backends every adapter test runs against, and checks of the adapters package itself.

``backend`` is parametrized: ``local`` — an in-process :class:`agentmem.Memory`; ``sidecar``
— ``agentmem.client.MemoryClient`` talking to ``agentmem serve --no-auth`` started on a free
loopback port for the test session. The other ``test_adapters_*`` modules import these
fixtures.
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sidecar_missing() -> str | None:
    """Why the sidecar cannot be tested here (``None`` when it can)."""
    try:
        importlib.import_module("agentmem.client")
    except ImportError as exc:
        return f"agentmem.client is not available yet ({exc})"
    cli = Path(sys.executable).with_name("agentmem")
    if not cli.exists():
        return "the agentmem console script is not installed"
    return None


@pytest.fixture(scope="module")
def local_memory(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[Any]:
    from agentmem import Memory, MemoryConfig

    home = tmp_path_factory.mktemp("adapters-local")
    # the defaults, as the sidecar below runs them
    mem = Memory(MemoryConfig(home=home, chroma=str(home / "chroma"), device="cpu"), embedder=embedder)
    yield mem
    mem.close()


@pytest.fixture(scope="session")
def sidecar_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    why = sidecar_missing()
    if why:
        pytest.skip(f"sidecar not testable: {why}")
    home = tmp_path_factory.mktemp("adapters-sidecar")
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    log = open(home / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("agentmem")), "serve", "--host", "127.0.0.1",
         "--port", str(port), "--home", str(home), "--no-auth", "--device", "cpu"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                log.flush()
                pytest.fail(f"agentmem serve exited {proc.returncode}: {(home / 'serve.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("agentmem serve did not become healthy in 180 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def sidecar_memory(sidecar_url: str) -> Iterator[Any]:
    from agentmem.client import MemoryClient  # type: ignore[import-not-found,unused-ignore]

    client = MemoryClient(sidecar_url)
    yield client
    close = getattr(client, "close", None)
    if callable(close):
        close()


@pytest.fixture(params=["local", "sidecar"])
def backend(request: pytest.FixtureRequest) -> Any:
    """An agentmem backend: in-process ``Memory`` or a sidecar ``MemoryClient``."""
    return request.getfixturevalue(f"{request.param}_memory")


@pytest.fixture
def user() -> str:
    """A fresh user id, so tests sharing a backend never see each other's memories."""
    return f"u{uuid.uuid4().hex[:10]}"


class FakeClock:
    """A settable UTC clock for TTL tests."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


# -- the package itself ---------------------------------------------------------------------

def test_importing_adapters_imports_no_framework() -> None:
    code = (
        "import sys, agentmem.adapters as a; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('langchain', 'langchain_core', 'langgraph', 'llama_index')]; "
        "assert not bad, bad; assert set(a.__all__) <= set(dir(a)); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("module", "framework", "extra"),
    [
        ("langgraph_store", "langgraph", "langchain"),
        ("langchain_retriever", "langchain_core", "langchain"),
        ("langchain_history", "langchain_core", "langchain"),
        ("langchain_middleware", "langchain", "langchain"),
        ("llamaindex_memory", "llama_index", "llamaindex"),
    ],
)
def test_missing_framework_names_the_extra(module: str, framework: str, extra: str) -> None:
    # Hide the framework with a meta-path blocker in a fresh interpreter (no patching here).
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == {framework!r} or name.startswith({framework!r} + "."):
            raise ImportError("blocked " + name)
sys.meta_path.insert(0, Block())
from agentmem import BackendUnavailableError
try:
    import agentmem.adapters.{module}
except BackendUnavailableError as exc:
    print(exc.extra); print(exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines and lines[0] == extra, out.stdout
    assert f"agentmem[{extra}]" in lines[1]


def test_adapters_refuse_a_non_memory() -> None:
    from agentmem import ValidationError
    from agentmem.adapters import AgentMemStore

    with pytest.raises(ValidationError, match="Memory or MemoryClient"):
        AgentMemStore(object(), user_id="ada")
