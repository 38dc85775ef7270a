"""A store remembers how it was built; later calls use it, conflicting options are ConfigErrors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentmem import ConfigError, Memory, MemoryConfig
from agentmem.profile import Mechanisms, check_profile, settle_mechanisms
from agentmem.resolve import settle_config


def test_settle_uses_the_store_when_options_are_omitted() -> None:
    built = {"graph": True, "episodes": "drift", "fusion": "multi-hop"}
    assert settle_mechanisms(built) == Mechanisms(True, "drift", "multi-hop")
    assert settle_mechanisms({}) == Mechanisms(True, "auto", "default")  # MemoryConfig()'s: every mechanism
    assert settle_mechanisms({"episodes": "drift"}, episodes="auto") == Mechanisms(True, "drift", "default")
    assert settle_mechanisms(built, graph=True, episodes="drift") == Mechanisms(True, "drift", "multi-hop")
    # switching a mechanism on is allowed (it covers what is added from then on)
    assert settle_mechanisms({}, graph=True, episodes="surprise") == Mechanisms(True, "surprise", "default")


@pytest.mark.parametrize(
    ("asked", "match"),
    [({"graph": False}, "knowledge graph"), ({"episodes": "surprise"}, "segmenter 'drift'"),
     ({"episodes": "off"}, "segmenter"), ({"fusion": "default"}, "fusion preset 'multi-hop'")],
)
def test_conflicting_options_are_config_errors(asked, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        settle_mechanisms({"graph": True, "episodes": "drift", "fusion": "multi-hop"}, **asked)


def test_check_profile_records_what_is_new_and_rejects_another_embedder() -> None:
    assert check_profile({}, {"embedder": "m", "graph": None}) == {"embedder": "m"}
    assert check_profile({"embedder": "m"}, {"embedder": "m", "graph": True}) == {"graph": True}
    with pytest.raises(ConfigError, match="embedder 'm'"):
        check_profile({"embedder": "m"}, {"embedder": "other"})
    with pytest.raises(ConfigError, match="dimension 384"):
        check_profile({"dimension": 384}, {"dimension": 768})


class _Fixed:
    """A tiny deterministic embedder of a chosen name and dimension."""

    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def embed(self, texts: list[str]) -> np.ndarray:
        rng = np.random.default_rng(len(texts))
        v = rng.normal(size=(len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_store_remembers_its_build(tmp_path: Path) -> None:
    config = MemoryConfig(home=tmp_path, chroma=str(tmp_path / "chroma"), device="cpu")
    built = settle_config(config, graph=True, episodes="drift", fusion="multi-hop")
    mem = Memory(built, embedder=_Fixed("fixed", 16))
    mem.add("I adopted a grey cat named Miso.", user_id="ada")
    mem.close()
    later = settle_config(config)  # a later call without the options
    assert later.graph.enabled and later.episodes.segmenter == "drift" and later.recall == built.recall
    mem = Memory(later, embedder=_Fixed("fixed", 16))
    assert mem.enabled("graph") and mem.enabled("episode")
    mem.close()
    with pytest.raises(ConfigError, match="segmenter"):
        settle_config(config, episodes="surprise")
    with pytest.raises(ConfigError, match="embedder 'fixed'"):
        Memory(config, embedder=_Fixed("another", 16))
    other = Memory(config, embedder=_Fixed("fixed", 8))  # same name, other size: found at the first write
    with pytest.raises(ConfigError, match="dimension 16"):
        other.add("hello", user_id="ada")
    assert [t.content for t in other.memories(user_id="ada")] == ["I adopted a grey cat named Miso."]  # none stored
    other.close()


def test_an_explicit_config_records_only_its_embedder(tmp_path: Path) -> None:
    from agentmem import GraphConfig

    config = MemoryConfig(home=tmp_path, chroma=str(tmp_path / "chroma"), device="cpu",
                          graph=GraphConfig(enabled=False))
    mem = Memory(MemoryConfig(home=tmp_path, chroma=str(tmp_path / "chroma"), device="cpu",
                              graph=GraphConfig(enabled=True)), embedder=_Fixed("fixed", 16))
    assert mem.services.sql.settings() == {"embedder": "fixed"}  # a MemoryConfig is used as given
    mem.close()
    assert settle_config(config).graph.enabled  # nothing recorded: MemoryConfig()'s mechanisms
