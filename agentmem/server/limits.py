"""Resource limits of the sidecar: Host checking without auth, per-key rate limits, body timeouts.

Each is a small ASGI middleware configured from :class:`~agentmem.server.settings.ServerSettings`:

* :class:`HostCheckMiddleware` — with auth off, only requests whose ``Host`` is loopback (or
  listed in ``AGENTMEM_ALLOWED_HOSTS``) are served: a web page the user visits cannot reach a
  keyless sidecar through DNS rebinding. 421 otherwise.
* :class:`RateLimitMiddleware` — a token bucket per API key (per client address without a
  key), ``AGENTMEM_RATE_LIMIT`` requests a second with bursts of ``AGENTMEM_RATE_BURST``;
  off (0) by default. Per process: N replicas allow N times the rate. 429 with ``Retry-After``.
* :class:`BodyTimeoutMiddleware` — a request body that does not arrive within
  ``AGENTMEM_BODY_TIMEOUT`` seconds is a 408 (slow-body clients cannot hold workers).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyTimeoutMiddleware", "HostCheckMiddleware", "RateLimitMiddleware", "TokenBuckets", "host_allowed"]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "testserver"})

Reply = Callable[[int, str, str, dict[str, str] | None], ASGIApp]


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or ():
        if k == name:
            return bytes(v).decode("latin-1")
    return None


def host_allowed(host_header: str | None, allowed: frozenset[str]) -> bool:
    """Whether a ``Host`` header names an allowed host (port ignored; ``[::1]:8750`` → ``::1``).

    >>> host_allowed("127.0.0.1:8750", LOOPBACK_HOSTS), host_allowed("evil.example", LOOPBACK_HOSTS)
    (True, False)
    """
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host in allowed


class HostCheckMiddleware:
    def __init__(self, app: ASGIApp, allowed: frozenset[str], reply: Reply) -> None:
        self.app, self.allowed, self.reply = app, allowed, reply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not host_allowed(_header(scope, b"host"), self.allowed):
            await self.reply(421, "misdirected", "this keyless server answers loopback Host names only "
                             "(AGENTMEM_ALLOWED_HOSTS adds others)", None)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class TokenBuckets:
    """Token buckets by key: ``rate`` tokens a second, at most ``burst``; LRU-bounded."""

    def __init__(self, rate: float, burst: float, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.max_keys, self.clock = rate, burst, max_keys, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0.0 if a request of ``key`` may go now, else the seconds until it may."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[key] = (tokens - 1 if not wait else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


def _caller(scope: Scope) -> str:
    auth = _header(scope, b"authorization") or _header(scope, b"x-api-key")
    if auth:  # the key itself is not kept in memory, only its digest
        return "k:" + hashlib.sha256(auth.encode("utf-8", "replace")).hexdigest()
    client = scope.get("client")
    return f"a:{client[0] if client else '-'}"


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, buckets: TokenBuckets, reply: Reply) -> None:
        self.app, self.buckets, self.reply = app, buckets, reply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") not in ("/healthz", "/readyz"):
            wait = self.buckets.take(_caller(scope))
            if wait:
                await self.reply(429, "rate_limited", "too many requests for this API key; retry later",
                                 {"Retry-After": str(max(1, round(wait)))})(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTimeoutMiddleware:
    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app, self.timeout = app, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = time.monotonic() + self.timeout
        done = False

        async def timed() -> Message:
            nonlocal done
            if done:  # the body is in: later receives wait for a disconnect, untimed
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise HTTPException(408, f"the request body did not arrive within {self.timeout:g} s") from None
            done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed, send)
