"""Who is calling: an API key (``Authorization: Bearer`` or ``X-Api-Key``) → a tenant.

Tenant keys reach their tenant's users only; the admin key (``AGENTMEM_ADMIN_KEY``) manages
keys and reaches no tenant's data. With auth disabled (explicitly, for local use) every
request acts as the configured default tenant and may also manage keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from agentmem.errors import AuthError, NotFoundError
from agentmem.server.keys import KeyStore, check_admin_key

__all__ = ["ForbiddenError", "Principal", "UnknownUserError", "admin", "authenticate", "tenant"]

TENANT_HEADER = "X-Agentmem-Tenant"


class ForbiddenError(AuthError):
    """Authenticated, but this key may not do that (HTTP 403)."""


class UnknownUserError(NotFoundError):
    """The path's ``user_id`` does not exist in the caller's tenant (HTTP 404, ``user_not_found``)."""


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str | None  # None for the admin key
    admin: bool


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization header must be 'Bearer <API key>'")
        return token.strip()
    return request.headers.get("x-api-key") or None  # what langgraph_sdk clients send


# Declared for the OpenAPI document (the Authorize button, generated SDKs); the key itself is
# read by _presented_key so that a bad header is agentmem's 401, not FastAPI's 403.
_BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description="Authorization: Bearer <API key>")
_API_KEY = APIKeyHeader(name="X-Api-Key", auto_error=False, scheme_name="apiKey",
                        description="the API key (what langgraph_sdk sends)")
_Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
_ApiKey = Annotated[str | None, Depends(_API_KEY)]


def authenticate(request: Request) -> Principal:
    """The caller, from the request's API key (:class:`AuthError` when missing or invalid)."""
    settings = request.app.state.settings
    if not settings.auth:
        return Principal(settings.default_tenant, admin=True)
    key = _presented_key(request)
    if key is None:
        raise AuthError("missing API key: send 'Authorization: Bearer <key>'")
    if check_admin_key(key, settings.admin_key):
        return Principal(None, admin=True)
    keys: KeyStore = request.app.state.keys
    return Principal(keys.verify(key), admin=False)


def tenant(
    request: Request,
    response: Response,
    _bearer: _Bearer = None,
    _key: _ApiKey = None,
) -> str:
    """Dependency: the caller's tenant (the admin key has none: 403).

    A request may name its tenant in ``X-Agentmem-Tenant``: with auth it must be the key's
    own (else 403), without auth it selects the tenant. Answers echo the tenant in that header
    (percent-encoded, both ways).
    """
    who = authenticate(request)
    if who.tenant is None:
        raise ForbiddenError("the admin key manages API keys only; use a tenant key for data")
    named = request.headers.get(TENANT_HEADER)
    named = None if named is None else unquote(named)  # percent-encoded: header values are latin-1
    chosen = who.tenant
    if named is not None:
        if not request.app.state.settings.auth:
            if not named.strip() or len(named) > 255:
                raise ForbiddenError(f"{TENANT_HEADER} must be a non-empty tenant name")
            chosen = named
        elif named != who.tenant:
            raise ForbiddenError("this API key belongs to another tenant")
    response.headers[TENANT_HEADER] = quote(chosen, safe="")
    return chosen


def admin(
    request: Request,
    _bearer: _Bearer = None,
    _key: _ApiKey = None,
) -> Principal:
    """Dependency: the admin key (403 for tenant keys)."""
    who = authenticate(request)
    if not who.admin:
        raise ForbiddenError("this route needs the admin key")
    return who
