"""Sidecar fixtures: one Chroma server and two ``agentmem serve`` replicas on one Postgres.

Session-scoped so that every server test module shares the two processes (each loads the
embedder once). Tests keep to their own tenants/users (``unique``) so they never collide.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from _servers import Proc, start_chroma, start_servers

ADMIN_KEY = "test-admin-" + uuid.uuid4().hex


@pytest.fixture(scope="session")
def server_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory, server_logs: Path) -> Iterator[Proc]:
    proc = start_chroma(tmp_path_factory.mktemp("chroma-data"), server_logs)
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def replicas(pg_url: str, chroma_server: Proc, tmp_path_factory: pytest.TempPathFactory,
             server_logs: Path) -> Iterator[list[Proc]]:
    """Two server processes sharing one Postgres database and one Chroma server."""
    args = [["--db", pg_url, "--chroma", chroma_server.url, "--home", str(tmp_path_factory.mktemp(f"home{i}"))]
            for i in range(2)]
    procs = start_servers(*args, log_dir=server_logs, env={"AGENTMEM_ADMIN_KEY": ADMIN_KEY})
    yield procs
    for p in procs:
        p.stop()


@pytest.fixture(scope="session")
def server(replicas: list[Proc]) -> str:
    return replicas[0].url


@pytest.fixture(scope="session")
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="session")
def new_key(server: str, admin_headers: dict[str, str]) -> Callable[[str], str]:
    """``new_key(tenant)`` → a fresh API key of that tenant (made through the admin API)."""

    def make(tenant: str) -> str:
        r = httpx.post(f"{server}/v1/keys", json={"tenant": tenant, "name": "test"}, headers=admin_headers)
        assert r.status_code == 201, r.text
        return str(r.json()["key"])

    return make


@pytest.fixture
def tenant_pair(new_key: Callable[[str], str], unique: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two fresh tenants with a key each: ``((tenant_a, key_a), (tenant_b, key_b))``."""
    a, b = f"acme-{unique}", f"globex-{unique}"
    return (a, new_key(a)), (b, new_key(b))
