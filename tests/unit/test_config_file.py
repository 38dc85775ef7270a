"""agentmem.toml: found where documented, one precedence rule (file < env < arguments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmem import ConfigError
from agentmem.config_file import find_config_file, load_settings


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


FILE = """
home = "{home}"
device = "cpu"
chroma = "memory"
[mechanisms]
graph = true
episodes = "drift"
"""


def test_where_the_file_is_found(tmp_path: Path) -> None:
    assert find_config_file({}, cwd=tmp_path) is None
    in_home = _write(tmp_path / ".agentmem" / "agentmem.toml", "")
    assert find_config_file({}, cwd=tmp_path) == in_home
    in_cwd = _write(tmp_path / "agentmem.toml", "")
    assert find_config_file({}, cwd=tmp_path) == in_cwd  # the working directory first
    named = _write(tmp_path / "elsewhere.toml", "")
    assert find_config_file({"AGENTMEM_CONFIG": str(named)}, cwd=tmp_path) == named
    with pytest.raises(ConfigError, match="not a file"):
        find_config_file({"AGENTMEM_CONFIG": str(tmp_path / "nope.toml")}, cwd=tmp_path)


def test_file_then_env_then_arguments(tmp_path: Path) -> None:
    _write(tmp_path / "agentmem.toml", FILE.format(home=tmp_path / "from-file"))
    got = load_settings(env={}, cwd=tmp_path)
    assert got.config.home == tmp_path / "from-file" and got.config.device == "cpu"
    assert (got.graph, got.episodes, got.fusion) == (True, "drift", None)
    env = {"AGENTMEM_HOME": str(tmp_path / "from-env"), "AGENTMEM_GRAPH": "off", "AGENTMEM_FUSION": "multi-hop"}
    got = load_settings(env=env, cwd=tmp_path)
    assert got.config.home == tmp_path / "from-env" and got.config.device == "cpu"  # env over file, file kept
    assert (got.graph, got.episodes, got.fusion) == (False, "drift", "multi-hop")
    got = load_settings(env=env, cwd=tmp_path, home=tmp_path / "from-flag", graph=True, device="auto")
    assert got.config.home == tmp_path / "from-flag" and got.config.device == "auto" and got.graph is True


@pytest.mark.parametrize(
    ("text", "match"),
    [("colour = 'red'", "unknown settings"), ("[mechanisms]\nepisodes = 'lm'", "episodes must be"),
     ("[mechanisms]\ngraph = 'maybe'", "on or off"), ("home = [", "cannot read"), ("device = 'tpu'", "device")],
)
def test_bad_files_are_config_errors(tmp_path: Path, text: str, match: str) -> None:
    _write(tmp_path / "agentmem.toml", text)
    with pytest.raises(ConfigError, match=match):
        load_settings(env={}, cwd=tmp_path)


def test_memory_reads_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder) -> None:  # type: ignore[no-untyped-def]
    from agentmem import Memory

    _write(tmp_path / "agentmem.toml", FILE.format(home=tmp_path / "data"))
    for var in ("AGENTMEM_CONFIG", "AGENTMEM_HOME", "AGENTMEM_GRAPH", "AGENTMEM_EPISODES", "AGENTMEM_FUSION",
                "AGENTMEM_DEVICE", "AGENTMEM_DB", "AGENTMEM_CHROMA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    mem = Memory(embedder=embedder)
    try:
        assert mem.config.home == tmp_path / "data" and mem.enabled("graph") and mem.enabled("episode")
        assert (tmp_path / "data" / "agentmem.db").exists()
    finally:
        mem.close()
