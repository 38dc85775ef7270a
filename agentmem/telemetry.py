"""OpenTelemetry traces and metrics for ``Memory`` (optional: ``pip install 'agentmem[otel]'``).

:func:`traced` wraps a facade method in a span (``agentmem.add``, ``agentmem.search``, ...)
and records its duration in the histogram ``agentmem.operation.duration`` (seconds,
attribute ``agentmem.operation``) and a count in ``agentmem.operations`` (with
``agentmem.outcome`` = ``ok`` or the error's class name). Attributes carry the tenant and
sizes (messages, ``k``, hits), never memory text or user ids.

OpenTelemetry is imported on first use; without it installed the wrapper only calls the
method. As with any instrumented library, nothing is exported until the application
configures an OpenTelemetry SDK (tracer and meter providers); until then the API is a no-op.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

__all__ = ["traced"]

P = ParamSpec("P")
R = TypeVar("R")

_NAME = "agentmem"
_state: dict[str, Any] = {}


def _otel() -> dict[str, Any] | None:
    """Tracer and instruments, created on first use (``None`` without OpenTelemetry)."""
    if "ready" not in _state:
        try:
            from opentelemetry import metrics, trace
        except ImportError:
            _state["ready"] = None
        else:
            from agentmem import __version__

            meter = metrics.get_meter(_NAME, __version__)
            _state["ready"] = {
                "trace": trace,
                "tracer": trace.get_tracer(_NAME, __version__),
                "duration": meter.create_histogram(
                    "agentmem.operation.duration", unit="s", description="agentmem operation duration"
                ),
                "count": meter.create_counter("agentmem.operations", description="agentmem operations"),
            }
    ready: dict[str, Any] | None = _state["ready"]
    return ready


def _size(value: Any) -> int | None:
    if isinstance(value, str):
        return 1
    try:
        return len(value)
    except TypeError:
        return None


def _attributes(op: str, kwargs: dict[str, Any], args: tuple[Any, ...]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"agentmem.operation": op, "agentmem.tenant": str(kwargs.get("tenant", "default"))}
    if op in ("add", "add_documents") and args:
        n = _size(args[0])
        if n is not None:
            attrs["agentmem.messages"] = n
    if isinstance(kwargs.get("k"), int):
        attrs["agentmem.k"] = kwargs["k"]
    if isinstance(kwargs.get("token_budget"), int):
        attrs["agentmem.token_budget"] = kwargs["token_budget"]
    return attrs


def traced(op: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a ``Memory`` method: a span and metrics per call (see the module docstring)."""

    def wrap(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            otel = _otel()
            if otel is None:
                return method(*args, **kwargs)
            attrs = _attributes(op, kwargs, args[1:])
            start = time.perf_counter()
            outcome = "ok"
            with otel["tracer"].start_as_current_span(f"agentmem.{op}", attributes=attrs) as span:
                try:
                    result = method(*args, **kwargs)
                except Exception as exc:
                    outcome = type(exc).__name__
                    span.set_status(otel["trace"].Status(otel["trace"].StatusCode.ERROR, outcome))
                    raise
                finally:
                    metric_attrs = {"agentmem.operation": op, "agentmem.outcome": outcome}
                    otel["duration"].record(time.perf_counter() - start, metric_attrs)
                    otel["count"].add(1, metric_attrs)
                n = _size(result)
                if n is not None and op != "recall":
                    span.set_attribute("agentmem.results", n)
                return result

        return call

    return wrap
