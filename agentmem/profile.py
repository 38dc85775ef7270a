"""A store remembers how it was built: embedder, dimension and memory mechanisms.

The profile is a few ``name → value`` settings in the store's database (``store_settings``).
:class:`~agentmem.Memory` records its embedder and dimension; the command line, ``agentmem
serve`` / ``mcp``, an ``agentmem.toml`` and ``Memory()`` without a config record the mechanisms
they are given (:func:`agentmem.resolve.settle_config`). A later call that omits ``--graph`` /
``--episodes`` / ``--fusion`` runs what the store was built with.

Rules (:func:`settle_mechanisms`, :func:`check_profile`):

* a different embedder or vector dimension than the store's is a :class:`ConfigError`
  (its vectors would not compare);
* switching a mechanism on that the store does not have is allowed (it covers what is added
  from then on; an ``add`` of known messages catches it up); an option not given runs the
  store's setting, else ``MemoryConfig()``'s default (every mechanism on);
* episodes ``"auto"`` takes the segmenter the store was built with;
* asking for a different episode segmenter, a different fusion preset, or switching off a
  mechanism the store was built with is a :class:`ConfigError` that names the stored value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentmem.config import EpisodeConfig, GraphConfig
from agentmem.errors import ConfigError

__all__ = ["Mechanisms", "check_profile", "settle_mechanisms"]


@dataclass(frozen=True, slots=True)
class Mechanisms:
    """What :meth:`MemoryConfig.with_mechanisms` takes; the defaults are ``MemoryConfig()``'s
    (every mechanism on, episodes ``"auto"``, the reader)."""

    graph: bool = GraphConfig().enabled
    episodes: str = EpisodeConfig().segmenter
    fusion: str = "default"


def _conflict(what: str, stored: Any, asked: Any, flag: str) -> ConfigError:
    return ConfigError(
        f"this store was built with {what} {stored!r}, not {asked!r}: omit {flag} to use the "
        "store's setting, or use another --home / database for a store built differently"
    )


def settle_mechanisms(
    stored: Mapping[str, Any], *, graph: bool | None = None, episodes: str | None = None,
    fusion: str | None = None,
) -> Mechanisms:
    """The mechanisms a call runs: what it asks for, else what the store was built with.

    ``None`` means the option was not given. Raises :class:`ConfigError` on a conflict (see
    the module docstring).
    """
    had_graph = bool(stored.get("graph", False))
    if graph is False and had_graph:
        raise _conflict("the knowledge graph", "on", "off", "--no-graph")
    had_episodes = str(stored.get("episodes", "off"))
    if episodes == "auto" and had_episodes != "off":
        episodes = had_episodes  # "auto" takes the segmenter the store was built with
    if episodes is not None and had_episodes != "off" and episodes != had_episodes:
        raise _conflict("the episode segmenter", had_episodes, episodes, "--episodes")
    had_fusion = stored.get("fusion")
    if fusion is not None and had_fusion is not None and fusion != had_fusion:
        raise _conflict("the fusion preset", had_fusion, fusion, "--fusion")
    default = Mechanisms()
    return Mechanisms(
        graph=(had_graph or default.graph) if graph is None else graph,
        episodes=(had_episodes if had_episodes != "off" else default.episodes) if episodes is None else episodes,
        fusion=(had_fusion or default.fusion) if fusion is None else fusion,
    )


def check_profile(stored: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The settings to record for a :class:`Memory` that runs ``current``.

    ``current`` holds ``embedder`` and ``dimension`` and the mechanisms switched on
    (``graph: True``, ``episodes: "drift"``, ``fusion`` when chosen). Returns the entries that
    are new or switched on; raises :class:`ConfigError` when the embedder or dimension differs
    or a mechanism conflicts.
    """
    for key in ("embedder", "dimension"):
        if key in stored and key in current and stored[key] != current[key]:
            raise ConfigError(
                f"this store's vectors were made by {key} {stored[key]!r}, not {current[key]!r}: "
                "open it with the same embedder, or use another --home / database"
            )
    settle_mechanisms(stored, graph=current.get("graph"), episodes=current.get("episodes"),
                      fusion=current.get("fusion"))
    return {k: v for k, v in current.items() if v is not None and stored.get(k) != v}
