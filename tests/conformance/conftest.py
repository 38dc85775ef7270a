"""Fixtures of the repository conformance suite: one store per backend (``db_url`` runs each
test on SQLite and on the real Postgres), a scope no other test or run shares."""

from __future__ import annotations

import pytest

from agentmem.store.sql import SqlStore, create_engine
from agentmem.types import Scope


@pytest.fixture
def sql(db_url: str) -> SqlStore:
    store = SqlStore(create_engine(db_url))
    yield store
    store.engine.dispose()


@pytest.fixture
def owner(unique: str) -> Scope:
    """A fresh tenant and user: runs sharing one Postgres database never see each other's rows."""
    return Scope(f"conf-{unique}", "ada")
