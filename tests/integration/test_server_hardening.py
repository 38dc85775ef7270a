"""Input the store cannot keep, over real HTTP on two Postgres replicas: a 4xx with the reason,
nothing stored, and no stored text in the servers' logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.postgres

SECRET = "SECRET-PW hunter2 tangerine-0451"

POISON = [
    ('{"messages":[{"role":"user","content":"%s"}],"metadata":{"k":"\\udfff"}}', 422),
    ('{"messages":[{"role":"user","content":"%s \\ud800"}]}', 422),
    ('{"messages":[{"role":"user","content":"%s","metadata":{"k":NaN}}]}', 422),
    ('{"messages":[{"role":"user","content":"%s","metadata":{"k":1e999}}]}', 422),
    ('{"messages":[{"role":"user","content":"%s","metadata":{"k":' + "9" * 5000 + '}}]}', 422),
    ('{"messages":[{"role":"user","content":"%s","metadata":{"k":' + "[" * 5000 + "]" * 5000 + '}}]}', 422),
    ('{"messages":[{"role":"user","content":"%s","timestamp":"9999-12-31T23:59:59-14:00"}]}', 422),
    ('{"messages":[{"role":"user","content":"%s","timestamp":"0001-01-01T00:00:00+14:00"}]}', 422),
]


def _count(server: str, h: dict[str, str], user: str) -> int:
    r = httpx.get(f"{server}/v1/users/{user}/memories", headers=h, timeout=60)
    return len(r.json()["items"]) if r.status_code == 200 else 0


def test_unstorable_input_is_refused_and_never_logged(replicas: Any, new_key: Any, unique: str,
                                                      server_logs: Path) -> None:
    a, b = (p.url for p in replicas)
    key = new_key(f"hard-{unique}")
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    user = "ann"
    r = httpx.post(f"{a}/v1/users/{user}/memories", headers=h, timeout=120,
                   json={"messages": [{"role": "user", "content": f"My password is {SECRET}."}]})
    assert r.status_code == 201, r.text
    for template, status in POISON:
        for server in (a, b):
            body = template.replace("%s", SECRET).encode("utf-8")
            r = httpx.post(f"{server}/v1/users/{user}/memories", headers=h, content=body, timeout=60)
            assert r.status_code == status, (template[:80], r.status_code, r.text[:300])
            assert r.json()["message"]
    r = httpx.post(f"{a}/v1/users/{user}/memories", headers=h, content=b'{"messages":[{"content":"\xff\xfe"}]}')
    assert r.status_code == 422
    r = httpx.post(f"{b}/v1/users/{user}/import", headers=h, timeout=60,
                   content=('{"records":[{"role":"user","content":"%s \\ud800"}]}'.replace("%s", SECRET)).encode())
    assert r.status_code == 422
    for query, filters in (("what did I do 10000 years ago", None), ("password", {"after": "0001-01-01T00:00:00+14:00"}),
                           ("password", {"before": "9999-12-31T23:59:59-14:00"})):
        r = httpx.post(f"{a}/v1/users/{user}/search", headers=h, json={"query": query, "filters": filters}, timeout=60)
        assert r.status_code in (200, 422), r.text
    assert _count(a, h, user) == 1 and _count(b, h, user) == 1
    # the stored memory round-trips through export / import
    exported = httpx.get(f"{a}/v1/users/{user}/export", headers=h, timeout=60).text
    records = [json.loads(line) for line in exported.splitlines()]
    r = httpx.post(f"{b}/v1/users/copy/import", headers=h, json={"records": records}, timeout=60)
    assert r.status_code == 200 and r.json()["imported"] == 1
    # the delete of that memory and the failures above left no stored text in any log
    mid = httpx.get(f"{a}/v1/users/{user}/memories", headers=h).json()["items"][0]["id"]
    assert httpx.delete(f"{b}/v1/users/{user}/memories/{mid}", headers=h).status_code == 204
    events = httpx.get(f"{a}/v1/users/{user}/memories/{mid}/history", headers=h).json()["events"]
    assert [e["event"] for e in events] == ["ADD", "DELETE"]
    assert all(e["before"] is None and e["after"] is None for e in events)
    for log in server_logs.glob("server-*.log"):
        text = log.read_text(errors="replace")
        assert "hunter2" not in text and "tangerine-0451" not in text, log.name
