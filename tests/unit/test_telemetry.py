"""OpenTelemetry spans and metrics around Memory.add / search / recall (in-memory SDK exporters)."""

from __future__ import annotations

from typing import Any

import pytest

from agentmem import ValidationError

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry import metrics, trace  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402


@pytest.fixture(scope="module")
def exporters() -> tuple[InMemorySpanExporter, InMemoryMetricReader]:
    spans = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    if trace.get_tracer_provider() is not provider:
        pytest.skip("another OpenTelemetry tracer provider is installed in this process")
    return spans, reader


def test_spans_and_metrics_around_add_search_recall(exporters: Any, make_memory: Any) -> None:
    spans, reader = exporters
    spans.clear()
    mem = make_memory()
    mem.add([{"role": "user", "content": "My cat is called Miso."}], user_id="ada", tenant="acme")
    mem.search("cat?", user_id="ada", k=3, tenant="acme")
    mem.recall("cat?", user_id="ada", token_budget=50, tenant="acme")
    with pytest.raises(ValidationError):
        mem.search("cat?", user_id="ada", k=0, tenant="acme")
    got: dict[str, Any] = {}
    for span in spans.get_finished_spans():
        got.setdefault(span.name, span)  # the first of each name
    assert {"agentmem.add", "agentmem.search", "agentmem.recall"} <= set(got)
    add = got["agentmem.add"].attributes
    assert add["agentmem.tenant"] == "acme" and add["agentmem.messages"] == 1
    assert got["agentmem.search"].attributes["agentmem.k"] == 3 and got["agentmem.search"].status.is_ok
    failed = [s for s in spans.get_finished_spans() if s.name == "agentmem.search" and not s.status.is_ok]
    assert len(failed) == 1
    # no memory text and no user id in any span attribute
    for span in spans.get_finished_spans():
        values = " ".join(str(v) for v in (span.attributes or {}).values())
        assert "Miso" not in values and "ada" not in values

    data = reader.get_metrics_data()
    points: dict[tuple[str, str, str], Any] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    points[(metric.name, p.attributes["agentmem.operation"], p.attributes["agentmem.outcome"])] = p
    assert points[("agentmem.operations", "search", "ok")].value >= 1
    assert points[("agentmem.operations", "search", "ValidationError")].value >= 1
    assert points[("agentmem.operation.duration", "add", "ok")].count >= 1
