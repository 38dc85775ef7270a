"""The sidecar's limits as pure pieces: Host matching, token buckets, settings from the env."""

from __future__ import annotations

import pytest

from agentmem.server.app import ServerSettings
from agentmem.server.limits import LOOPBACK_HOSTS, TokenBuckets, host_allowed


@pytest.mark.parametrize(("host", "ok"), [
    ("127.0.0.1:8750", True), ("localhost", True), ("[::1]:8750", True), ("LOCALHOST:1", True),
    ("evil.example", False), ("evil.example:8750", False), ("127.0.0.1.evil.example", False), ("", False),
    (None, False), ("[::2]:80", False),
])
def test_host_allowed(host: str | None, ok: bool) -> None:
    assert host_allowed(host, LOOPBACK_HOSTS) is ok


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=3.0, clock=lambda: now[0])
    assert [buckets.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k") == pytest.approx(0.5)
    assert buckets.take("other") == 0.0  # per key
    now[0] = 0.5
    assert buckets.take("k") == 0.0
    assert buckets.take("k") > 0


def test_limits_from_env() -> None:
    env = {"AGENTMEM_RATE_LIMIT": "5", "AGENTMEM_TENANT_QUOTA": "100", "AGENTMEM_METRICS": "public",
           "AGENTMEM_ALLOWED_HOSTS": "mem.internal, Other.Host"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        s = ServerSettings.from_env()
        assert (s.rate_limit, s.tenant_quota, s.public_metrics) == (5.0, 100, True)
        assert s.allowed_hosts == frozenset({"mem.internal", "other.host"})
        mp.setenv("AGENTMEM_RATE_LIMIT", "-1")
        with pytest.raises(ValueError):
            ServerSettings.from_env()
    d = ServerSettings()
    assert (d.rate_limit, d.tenant_quota, d.public_metrics, d.max_request_messages) == (0.0, 0, False, 1000)


def test_a_short_admin_key_is_refused() -> None:
    from agentmem.server.app import create_app

    with pytest.raises(ValueError, match="16 characters"):
        create_app(ServerSettings(admin_key="hunter2"), memory=object())
