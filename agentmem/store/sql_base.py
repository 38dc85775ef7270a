"""What every SQL repository shares: the engine, the schema, transactions, the scope predicate.

:class:`SqlBase` creates missing tables when it is built and opens transactions whose
SQLAlchemy errors surface as :class:`~agentmem.errors.StorageError` (the translation happens
here, at the boundary).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from agentmem.errors import StorageError
from agentmem.store import schema as t
from agentmem.store.dialect import db_reason
from agentmem.types import Scope

__all__ = ["SqlBase", "scoped"]


def scoped(table: sa.Table, scope: Scope) -> sa.ColumnElement[bool]:
    """The predicate every query on a per-user table carries: this tenant AND this user."""
    return sa.and_(table.c.tenant == scope.tenant, table.c.user_id == scope.user_id)


def create_schema(conn: Connection) -> None:
    """Create missing tables, and missing indexes of existing tables (added in later versions)."""
    t.metadata.create_all(conn)
    for table in t.metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


class SqlBase:
    """An engine whose schema exists, and :meth:`begin` for transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        try:
            if engine.dialect.name == "postgresql":
                # Replicas starting together on a fresh database would race in CREATE TABLE;
                # a transaction-scoped advisory lock lets one create and the others find it.
                with engine.begin() as conn:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(7316820385)"))
                    create_schema(conn)
            else:
                with engine.begin() as conn:
                    create_schema(conn)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot create schema: {db_reason(exc)}") from exc

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; SQLAlchemy errors surface as :class:`StorageError`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"database error: {db_reason(exc)}") from exc
