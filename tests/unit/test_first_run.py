"""What a new user meets first: the documented snippets' small promises (issue #22)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from agentmem import ConfigError, MemoryConfig


def test_config_accepts_a_string_home(tmp_path: Path) -> None:
    # docs/quickstart.md: MemoryConfig(home="./.agentmem") crashed in Memory() with 'str' has no mkdir
    config = MemoryConfig(home=str(tmp_path / "h"))
    assert config.home == tmp_path / "h" and config.resolved_db_url.endswith("h/agentmem.db")
    with pytest.raises(ConfigError):
        MemoryConfig(home=3)  # type: ignore[arg-type]


def test_keys_create_on_a_fresh_home(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("fastapi")
    from agentmem.cli.main import main

    home = tmp_path / "fresh" / "home"  # nothing exists yet ("unable to open database file" before)
    monkeypatch.setenv("AGENTMEM_HOME", str(home))
    assert main(["keys", "create", "--tenant", "acme"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["tenant"] == "acme" and made["key"].startswith("amk_") and (home / "agentmem.db").exists()


def test_records_without_a_user_go_to_the_default_user(monkeypatch: pytest.MonkeyPatch) -> None:
    # README: `agentmem index --graph --episodes drift conversations.json` (a ChatGPT export names
    # no user) failed without --user
    from agentmem.batch.dedupe import user_of
    from agentmem.batch.readers.records import Conversation

    conv = Conversation(source="chatgpt", user=None, session_id="s", messages=(), file="conversations.json",
                        position="0")
    monkeypatch.delenv("AGENTMEM_USER", raising=False)
    assert user_of(conv, None) == "default" and user_of(conv, "ada") == "ada"
    monkeypatch.setenv("AGENTMEM_USER", "ada")
    assert user_of(conv, None) == "ada"


def test_cli_user_defaults_like_index(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentmem.cli.main import build_parser

    args = build_parser().parse_args(["search", "cats"])
    assert args.user is None  # resolved in main() to $AGENTMEM_USER or "default"


def test_client_reads_the_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentmem.client import MemoryClient

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    monkeypatch.setenv("AGENTMEM_URL", "http://memory.test:9000")
    monkeypatch.setenv("AGENTMEM_API_KEY", "amk_from_env")
    with MemoryClient(transport=httpx.MockTransport(handler)) as mem:
        assert mem.base_url == "http://memory.test:9000"
        assert mem.memories(user_id="ada") == []
    assert seen[0].headers["authorization"] == "Bearer amk_from_env"
    with MemoryClient("http://other:1", api_key="amk_given", transport=httpx.MockTransport(handler)) as mem:
        assert (mem.base_url, mem.api_key) == ("http://other:1", "amk_given")  # arguments win
