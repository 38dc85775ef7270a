"""The sidecar's settings from ``AGENTMEM_*``: the intra-op thread count, the memory mechanisms."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("fastapi")

from agentmem.server.app import ServerSettings, _memory_from  # noqa: E402


def test_threads_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTMEM_THREADS", raising=False)
    assert ServerSettings.from_env().threads is None
    monkeypatch.setenv("AGENTMEM_THREADS", " ")
    assert ServerSettings.from_env().threads is None
    monkeypatch.setenv("AGENTMEM_THREADS", "1")
    assert ServerSettings.from_env().threads == 1
    for bad in ("0", "-2", "two"):
        monkeypatch.setenv("AGENTMEM_THREADS", bad)
        with pytest.raises(ValueError, match="AGENTMEM_THREADS"):
            ServerSettings.from_env()


def test_memory_from_settings_sets_the_thread_count(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    try:
        memory = _memory_from(ServerSettings(home=tmp_path, chroma=str(tmp_path / "chroma"), threads=want))
        memory.close()
        assert torch.get_num_threads() == want
    finally:
        torch.set_num_threads(before)


def test_serve_passes_every_given_option_to_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from agentmem.server.cli import add_commands, serve_env

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    env = serve_env(parser.parse_args(["serve", "--threads", "0", "--max-body", "0", "--home", "/tmp/x"]))
    # zero is passed on, not dropped, so that the workers reject it instead of ignoring it
    assert env["AGENTMEM_THREADS"] == "0" and env["AGENTMEM_MAX_BODY"] == "0"
    assert env["AGENTMEM_HOME"] == "/tmp/x" and "AGENTMEM_AUTH" not in env
    monkeypatch.setenv("AGENTMEM_THREADS", env["AGENTMEM_THREADS"])
    with pytest.raises(ValueError, match="AGENTMEM_THREADS"):
        ServerSettings.from_env()
    assert "AGENTMEM_THREADS" not in serve_env(parser.parse_args(["serve"]))
    given = serve_env(parser.parse_args(["serve", "--graph", "--episodes", "drift", "--fusion", "multi-hop"]))
    assert (given["AGENTMEM_GRAPH"], given["AGENTMEM_EPISODES"], given["AGENTMEM_FUSION"]) == ("on", "drift", "multi-hop")
    assert not {"AGENTMEM_GRAPH", "AGENTMEM_EPISODES", "AGENTMEM_FUSION"} & set(serve_env(parser.parse_args(["serve"])))


def test_mechanisms_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AGENTMEM_GRAPH", "AGENTMEM_EPISODES", "AGENTMEM_FUSION"):
        monkeypatch.delenv(name, raising=False)
    plain = ServerSettings.from_env()
    assert (plain.graph, plain.episodes, plain.fusion) == (None, None, None)  # as the store was built
    monkeypatch.setenv("AGENTMEM_GRAPH", "ON")
    monkeypatch.setenv("AGENTMEM_EPISODES", "drift")
    monkeypatch.setenv("AGENTMEM_FUSION", " multi-hop ")
    got = ServerSettings.from_env()
    assert (got.graph, got.episodes, got.fusion) == (True, "drift", "multi-hop")
    for name, bad in (("AGENTMEM_GRAPH", "yes"), ("AGENTMEM_EPISODES", "lm"), ("AGENTMEM_FUSION", "rrf")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=f"{name} must be one of .*not '{bad}'"):
            ServerSettings.from_env()
        monkeypatch.delenv(name)


def test_memory_from_settings_turns_the_mechanisms_on(tmp_path: Path) -> None:
    from agentmem.config import RecallConfig

    memory = _memory_from(ServerSettings(home=tmp_path, chroma=str(tmp_path / "chroma"), graph=True,
                                         episodes="drift", fusion="multi-hop"))
    try:
        assert memory.enabled("graph") and memory.enabled("episode")
        assert memory.config.recall == RecallConfig.multi_hop()
    finally:
        memory.close()
    # a later start without the switches runs what the store was built with
    memory = _memory_from(ServerSettings(home=tmp_path, chroma=str(tmp_path / "chroma")))
    try:
        assert memory.enabled("graph") and memory.enabled("episode")
        assert memory.config.recall == RecallConfig.multi_hop()
    finally:
        memory.close()
    memory = _memory_from(ServerSettings(home=tmp_path / "fresh", chroma=str(tmp_path / "fresh-chroma")))
    try:
        assert memory.enabled("graph") and memory.enabled("episode")  # a fresh store: every mechanism
        assert memory.config.recall == RecallConfig()
    finally:
        memory.close()


def test_mcp_takes_the_same_switches_and_the_config_applies_them(tmp_path: Path) -> None:
    import argparse

    from agentmem.config import MemoryConfig, RecallConfig
    from agentmem.errors import ConfigError
    from agentmem.server.cli import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(["mcp", "--graph", "--episodes", "drift", "--fusion", "multi-hop"])
    assert (args.graph, args.episodes, args.fusion) == (True, "drift", "multi-hop")
    base = MemoryConfig(home=tmp_path, device="cpu")
    on = base.with_mechanisms(graph=True, episodes=args.episodes, fusion=args.fusion)
    assert on.graph.enabled and on.episodes.segmenter == "drift" and on.recall == RecallConfig.multi_hop()
    assert (on.home, on.device, on.graph.lexical_weight) == (base.home, "cpu", base.graph.lexical_weight)
    assert base.with_mechanisms() == base  # everything off: the library's defaults
    with pytest.raises(ConfigError, match="segmenter"):
        base.with_mechanisms(episodes="lm")
    with pytest.raises(ConfigError, match="fusion"):
        base.with_mechanisms(fusion="rrf")


def test_openapi_declares_auth_and_readable_operation_ids() -> None:
    from agentmem.server.app import create_app

    spec = create_app().openapi()  # no request served: the store is never opened
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}  # /docs shows Authorize
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    search = spec["paths"]["/v1/users/{user_id}/search"]["post"]
    assert search["operationId"] == "search" and {"bearer": []} in search["security"]
    assert spec["paths"]["/v1/users/{user_id}/memories"]["post"]["operationId"] == "add_messages"
    assert all("_v1_" not in i and not i.endswith(("_post", "_get")) for i in ids), ids
    assert "security" not in spec["paths"]["/healthz"]["get"]
