"""The memory inspector in a real browser: headless Chromium against ``agentmem serve``.

The sidecar runs on loopback with API keys, the graph and drift episodes on; Playwright drives
Debian's ``chromium`` (``executable_path``; Playwright's own browser download is never used).
The test logs in with a tenant key, checks the timeline, runs a search, checks the hits and
the drawn graph path, and saves a screenshot under the test's tmp dir. Outside CI it is
skipped when Chromium or Playwright is missing; under ``.ci/run`` (``AGENTMEM_CI=1``) it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _servers import Proc, start_servers

pytestmark = pytest.mark.slow

ADMIN = "ui-admin-secret-0123456789"
LINES = ["I adopted a grey cat named Miso last weekend.", "Miso sleeps on the radiator all day.",
         "The vet says Miso needs her second vaccine in July.", "Miso hides under the sofa when guests come.",
         "My manager Priya wants the quarterly report by Friday.", "The report covers the database migration.",
         "Priya also asked me to present it to the board.", "The board meeting is on the 14th at noon.",
         "In May I am hiking in the Azores with my sister Clara.", "Clara booked the flights to Ponta Delgada.",
         "We will walk the crater trail at Sete Cidades.", "I need new hiking boots before the trip."]


def _chromium() -> str:
    path = os.environ.get("AGENTMEM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    missing = None
    if path is None:
        missing = "Debian's chromium is not installed (.ci/chromium.sh installs it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is not installed (pip install 'agentmem[dev]')"
    if missing is not None:
        if os.environ.get("AGENTMEM_CI"):
            pytest.fail(f"CI needs the browser test: {missing}")
        pytest.skip(missing)
    assert path is not None
    return path


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    _chromium()
    home = tmp_path_factory.mktemp("ui-home")
    args = ["--home", str(home), "--chroma", str(home / "chroma"), "--graph", "--episodes", "drift", "--threads", "1"]
    procs: list[Proc] = start_servers(args, log_dir=tmp_path_factory.mktemp("ui-logs"),
                                      env={"AGENTMEM_ADMIN_KEY": ADMIN})
    url = procs[0].url
    try:
        r = httpx.post(f"{url}/v1/keys", json={"tenant": "acme", "name": "ui"},
                       headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 201, r.text
        key = r.json()["key"]
        messages = [{"speaker": "Ada", "content": text, "timestamp": f"2024-05-0{1 + i // 4}T10:{10 + i:02d}:00Z"}
                    for i, text in enumerate(LINES)]
        r = httpx.post(f"{url}/v1/users/ada/memories", json={"messages": messages, "session_id": "s1"},
                       headers={"Authorization": f"Bearer {key}"}, timeout=120)
        assert r.status_code == 201, r.text
        yield url, key
    finally:
        procs[0].stop()


def test_data_routes_answer_401_without_a_key(sidecar: tuple[str, str]) -> None:
    url, _ = sidecar
    assert httpx.get(f"{url}/ui").status_code == 200  # the shell holds no data
    for method, path in [("GET", "/v1/inspector"), ("GET", "/v1/users"), ("GET", "/v1/users/ada/timeline"),
                         ("POST", "/v1/users/ada/search"), ("POST", "/v1/users/ada/explain")]:
        r = httpx.request(method, url + path, json={"query": "cat", "memory_id": "x"})
        assert r.status_code == 401, (path, r.text)


def test_search_in_the_browser(sidecar: tuple[str, str], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, key = sidecar
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: problems.append(f"left loopback: {r.url}")
                    if not r.url.startswith((url, "data:", "blob:")) else None)
            page.goto(f"{url}/ui")
            page.fill("#key", key)
            page.click("#connect")
            page.wait_for_selector("#timeline-svg circle.turn")
            assert page.locator("#timeline-svg circle.turn").count() == len(LINES)
            assert page.locator("#surprise-curve").count() == 1
            assert page.locator("#timeline-svg line.boundary").count() >= 1
            assert page.locator("#user").input_value() == "ada"
            page.fill("#query", "Who is my manager and what deadline did we have?")
            page.click("#search")
            page.wait_for_selector("#graph-svg circle.node.passage")
            hits = page.locator("#hits li.hit")
            assert hits.count() >= 3
            assert "Priya" in hits.first.inner_text()
            assert page.locator("#hits .chip.graph").count() >= 1
            assert page.locator("#graph-svg circle.node.fact").count() >= 1
            assert page.locator("#graph-svg circle.node.entity").count() >= 1
            assert page.locator("#graph-svg path.edge").count() >= 2
            assert "PageRank rank" in page.inner_text("#explain-title")
            page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "ui.png").stat().st_size > 10_000
    assert problems == []
