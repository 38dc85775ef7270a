"""Prometheus text metrics without a client library: request counts, latencies, memory counts.

Counters live in the process; with ``--workers N`` each worker reports its own (scrape each
replica, or sum in Prometheus). Memory counts are read from SQL at scrape time, so they are
the same on every replica.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BUCKETS", "Metrics", "MetricsMiddleware"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(**kv: str) -> str:
    inner = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                     for k, v in kv.items())
    return "{" + inner + "}"


class Metrics:
    """Thread-safe request counters and latency histograms, rendered as Prometheus text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self.sums: dict[tuple[str, str], float] = defaultdict(float)
        self.counts: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, str(status))] += 1
            key = (method, route)
            hist = self.buckets[key]
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    hist[i] += 1
            self.sums[key] += seconds
            self.counts[key] += 1

    def render(self, gauges: Mapping[str, tuple[str, float]]) -> str:
        """Prometheus exposition text; ``gauges``: name → (help, value)."""
        out = ["# HELP agentmem_http_requests_total HTTP requests by method, route and status.",
               "# TYPE agentmem_http_requests_total counter"]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                out.append(f"agentmem_http_requests_total{_labels(method=method, route=route, status=status)} {n}")
            out += ["# HELP agentmem_http_request_duration_seconds HTTP request latency.",
                    "# TYPE agentmem_http_request_duration_seconds histogram"]
            for (method, route), hist in sorted(self.buckets.items()):
                for bound, n in zip(BUCKETS, hist, strict=True):
                    lab = _labels(method=method, route=route, le=str(bound))
                    out.append(f"agentmem_http_request_duration_seconds_bucket{lab} {n}")
                lab = _labels(method=method, route=route, le="+Inf")
                out.append(f"agentmem_http_request_duration_seconds_bucket{lab} {self.counts[(method, route)]}")
                lab = _labels(method=method, route=route)
                out.append(f"agentmem_http_request_duration_seconds_sum{lab} {self.sums[(method, route)]:.6f}")
                out.append(f"agentmem_http_request_duration_seconds_count{lab} {self.counts[(method, route)]}")
        for name, (help_, value) in gauges.items():
            out += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(out) + "\n"


class MetricsMiddleware:
    """Times every HTTP request and records it under its route template (not the raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], path, status[0], time.perf_counter() - start)
