"""The memory inspector page: ``GET /ui`` (HTML, script and style shipped in the wheel).

The page is a static shell: it holds no data and nothing tenant-specific, so it is served
without a key (a browser cannot send an ``Authorization`` header on a navigation). It asks for
an API key in a login field, keeps it in the tab's ``sessionStorage`` and sends it as
``Authorization: Bearer`` on every data route, which answer 401 without it. A
Content-Security-Policy lets the page load only its own script and style and talk only to this
server, so nothing is fetched from the network. ``AGENTMEM_UI=off`` leaves the page out.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

__all__ = ["CSP", "router"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

_TYPES = {"ui.html": "text/html; charset=utf-8", "ui.js": "text/javascript; charset=utf-8",
          "ui.css": "text/css; charset=utf-8"}

router = APIRouter(include_in_schema=False)


@cache
def _asset(name: str) -> bytes:
    return resources.files("agentmem.server").joinpath("static", name).read_bytes()


def _send(name: str) -> Response:
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache",
               "Referrer-Policy": "no-referrer"}
    return Response(_asset(name), media_type=_TYPES[name], headers=headers)


@router.get("/ui")
def page() -> Response:
    """The inspector's HTML shell."""
    return _send("ui.html")


@router.get("/ui/ui.js")
def script() -> Response:
    return _send("ui.js")


@router.get("/ui/ui.css")
def style() -> Response:
    return _send("ui.css")
