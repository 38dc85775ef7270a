"""``agentmem serve``'s startup line (no secrets) and its access-log switch."""

from __future__ import annotations

import argparse

import pytest

pytest.importorskip("uvicorn")

from agentmem.server.cli import add_commands, log_config, startup_line  # noqa: E402


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *argv])


def test_startup_line_names_where_it_listens_without_secrets() -> None:
    args = _args("--host", "0.0.0.0", "--port", "9000", "--workers", "2", "--access-log")
    env = {"AGENTMEM_DB": "postgresql+psycopg://agentmem:s3cret@db:5432/agentmem",
           "AGENTMEM_CHROMA": "http://chroma:8000", "AGENTMEM_ADMIN_KEY": "adminkey123"}
    line = startup_line(args, env)
    assert line.startswith("agentmem: listening on http://0.0.0.0:9000 ")
    assert "db postgresql+psycopg://agentmem:***@db:5432/agentmem" in line
    assert "chroma http://chroma:8000" in line and "auth on" in line and "access log on" in line
    assert "s3cret" not in line and "adminkey123" not in line
    off = startup_line(_args("--no-auth"), {"AGENTMEM_AUTH": "disabled"})
    assert "auth off" in off and "access log off" in off


def test_access_log_is_info_whatever_the_level() -> None:
    on = log_config("warning", True)
    assert on["loggers"]["uvicorn.access"]["level"] == "INFO"
    assert on["loggers"]["uvicorn.error"]["level"] == "WARNING"
    assert log_config("info", False)["loggers"]["uvicorn.access"]["level"] == "WARNING"
    assert _args().access_log is False and _args("--access-log").access_log is True
