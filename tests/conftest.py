"""Shared fixtures: one embedder per session, stores on SQLite and on the real Postgres."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

PG_ADMIN_URL = os.environ.get("AGENTMEM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    from agentmem.embedding import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder(device="cpu")
    emb.embed(["warm up"])
    return emb


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh Postgres database for this test session (dropped afterwards)."""
    import sqlalchemy as sa

    try:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = f"agentmem_test_{uuid.uuid4().hex[:10]}"
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is down: say so, loudly, but do not fail unrelated tests
        if os.environ.get("CI"):
            pytest.fail(f"Postgres at {PG_ADMIN_URL} is required in CI: {exc}")
        pytest.skip(f"Postgres not reachable at {PG_ADMIN_URL}: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'agentmem.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def make_memory(tmp_path: Path, embedder):  # type: ignore[no-untyped-def]
    """Factory: ``make_memory(db_url=None, **config)`` → a Memory on fresh stores."""
    from agentmem import Memory, MemoryConfig

    made = []

    def make(db_url: str | None = None, **config):  # type: ignore[no-untyped-def]
        home = tmp_path / f"home-{len(made)}"
        config.setdefault("chroma", str(home / "chroma"))
        mem = Memory(MemoryConfig(home=home, db_url=db_url, device="cpu", **config), embedder=embedder)
        made.append(mem)
        return mem

    yield make
    for m in made:
        m.close()


@pytest.fixture
def unique() -> str:
    """A unique tenant/user suffix, so tests sharing a Postgres database never collide."""
    return uuid.uuid4().hex[:8]
