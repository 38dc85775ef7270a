"""API keys: created per tenant, stored hashed, checked in constant time.

A key reads ``amk_<id>_<secret>``. Only ``sha256(key)`` is stored (the ``api_keys`` table);
the ``id`` part finds the row, then the hashes are compared with :func:`hmac.compare_digest`,
so neither a wrong secret nor an unknown id is answered faster than a right one. Keys carry
256 bits of randomness, which is why a fast hash (no salt, no stretching) is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from agentmem._time import from_db, to_db, utcnow
from agentmem.errors import AuthError, NotFoundError, StorageError, ValidationError
from agentmem.store.schema import api_keys

__all__ = ["ApiKey", "KeyStore", "check_admin_key", "hash_key"]

_PREFIX = "amk"
_DUMMY_HASH = hashlib.sha256(b"agentmem-no-such-key").hexdigest()


def hash_key(key: str) -> str:
    """The stored form of a key (hex SHA-256)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_admin_key(presented: str, admin_key: str | None) -> bool:
    """Whether ``presented`` is the admin key (constant-time; ``False`` when none is set)."""
    if not admin_key:
        return False
    return hmac.compare_digest(hash_key(presented), hash_key(admin_key))


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret (``key`` is set only by :meth:`KeyStore.create`)."""

    id: str
    tenant: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None
    key: str | None = None


def _row(r: sa.Row[tuple[object, ...]]) -> ApiKey:
    m = r._mapping
    return ApiKey(
        id=str(m["id"]), tenant=str(m["tenant"]), name=str(m["name"]),
        created_at=from_db(m["created_at"]),  # type: ignore[arg-type]
        revoked_at=from_db(m["revoked_at"]),  # type: ignore[arg-type]
    )


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255 or "\x00" in value:
        raise ValidationError(f"{what} must be a non-empty string of at most 255 characters")
    return value


class KeyStore:
    """Create, revoke, list and verify API keys in the ``api_keys`` table of ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        try:
            api_keys.create(engine, checkfirst=True)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot create the api_keys table: {type(exc).__name__}") from exc

    def _run(self, stmt: sa.Executable) -> list[sa.Row[Any]]:
        """The statement's rows, fetched before the connection goes back to the pool (a result
        read after that reads a connection another thread may hold, or one already closed)."""
        try:
            with self.engine.begin() as conn:
                res = conn.execute(stmt)
                return list(res.all()) if res.returns_rows else []
        except SQLAlchemyError as exc:
            raise StorageError(f"database error: {exc.__class__.__name__}") from exc

    def create(self, tenant: str, name: str = "default") -> ApiKey:
        """A new key for ``tenant``; the returned ``key`` is the only time the secret is shown."""
        _check_name(tenant, "tenant")
        _check_name(name, "name")
        key_id = secrets.token_hex(8)
        key = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        now = utcnow()
        self._run(sa.insert(api_keys).values(
            id=key_id, tenant=tenant, name=name, key_hash=hash_key(key), created_at=to_db(now), revoked_at=None
        ))
        return ApiKey(id=key_id, tenant=tenant, name=name, created_at=now, key=key)

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id (idempotent); :class:`NotFoundError` for an unknown id."""
        got = self.get(key_id)
        if got.revoked_at is None:
            now = utcnow()
            self._run(sa.update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                      .values(revoked_at=to_db(now)))
            return self.get(key_id)
        return got

    def get(self, key_id: str) -> ApiKey:
        rows = self._run(sa.select(api_keys).where(api_keys.c.id == key_id))
        if not rows:
            raise NotFoundError(f"no API key {key_id!r}")
        return _row(rows[0])

    def list(self, tenant: str | None = None) -> list[ApiKey]:
        """Every key (of one tenant when given), oldest first."""
        q = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if tenant is not None:
            q = q.where(api_keys.c.tenant == tenant)
        return [_row(r) for r in self._run(q)]

    def verify(self, key: str) -> str:
        """The tenant of a live key; :class:`AuthError` for a malformed, unknown or revoked one."""
        parts = key.split("_", 2)
        key_id = parts[1] if len(parts) == 3 and parts[0] == _PREFIX else ""
        rows = self._run(sa.select(api_keys).where(api_keys.c.id == key_id)) if key_id else []
        stored = str(rows[0]._mapping["key_hash"]) if rows else _DUMMY_HASH
        ok = hmac.compare_digest(stored, hash_key(key))
        if not ok or not rows:
            raise AuthError("invalid API key")
        if rows[0]._mapping["revoked_at"] is not None:
            raise AuthError("API key revoked")
        return str(rows[0]._mapping["tenant"])
