"""``agentmem.toml``: one configuration file for the library, the CLI, the sidecar and MCP.

Where it is looked for, first found wins: ``$AGENTMEM_CONFIG``; ``./agentmem.toml`` (the
working directory); ``agentmem.toml`` in the data directory (``--home``, ``$AGENTMEM_HOME`` or
``./.agentmem``).

One precedence rule everywhere: **file < environment < flags / arguments**. A ``Memory``
built with an explicit ``MemoryConfig`` uses that object as it is (arguments win); ``Memory()``
reads the file and the environment. Then, for the memory mechanisms, what is still unset comes
from how the store was built (:mod:`agentmem.profile`).

.. code-block:: toml

    home = "./.agentmem"          # AGENTMEM_HOME      --home
    db_url = "sqlite:///..."      # AGENTMEM_DB        --db
    chroma = "http://chroma:8000" # AGENTMEM_CHROMA    --chroma
    embedder = "all-MiniLM-L6-v2" # AGENTMEM_EMBEDDER
    device = "auto"               # AGENTMEM_DEVICE    --device

    [mechanisms]
    graph = true                  # AGENTMEM_GRAPH=on  --graph / --no-graph
    episodes = "drift"            # AGENTMEM_EPISODES  --episodes
    fusion = "multi-hop"          # AGENTMEM_FUSION    --fusion
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from agentmem.config import FUSIONS, SEGMENTERS, MemoryConfig
from agentmem.errors import ConfigError

__all__ = ["FILE_NAME", "Settings", "find_config_file", "load_settings"]

FILE_NAME = "agentmem.toml"
_ENV = {"home": "AGENTMEM_HOME", "db_url": "AGENTMEM_DB", "chroma": "AGENTMEM_CHROMA",
        "embedder": "AGENTMEM_EMBEDDER", "device": "AGENTMEM_DEVICE"}
_SCALARS = {f.name for f in fields(MemoryConfig) if f.name not in ("recall", "episodes", "graph", "thoughts")}
_MECHANISMS = {"graph", "episodes", "fusion"}


@dataclass(frozen=True, slots=True)
class Settings:
    """The configuration the sources give, before the store is consulted.

    ``graph`` / ``episodes`` / ``fusion`` are ``None`` where no source set them (then the store's
    own, see :func:`agentmem.resolve.settle_config`). ``path``: the file read, if any.
    """

    config: MemoryConfig
    graph: bool | None = None
    episodes: str | None = None
    fusion: str | None = None
    path: Path | None = None


def find_config_file(env: Mapping[str, str] | None = None, *, home: str | Path | None = None,
                     cwd: Path | None = None) -> Path | None:
    """The configuration file to read (see the module docstring), or ``None``."""
    env = os.environ if env is None else env
    named = env.get("AGENTMEM_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"AGENTMEM_CONFIG names {named!r}, which is not a file")
        return path
    here = (cwd or Path.cwd()) / FILE_NAME
    if here.is_file():
        return here
    data = Path(home or env.get("AGENTMEM_HOME") or ".agentmem")
    if not data.is_absolute():
        data = (cwd or Path.cwd()) / data
    return data / FILE_NAME if (data / FILE_NAME).is_file() else None


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    unknown = set(doc) - _SCALARS - {"mechanisms"}
    mech = doc.get("mechanisms", {})
    if not isinstance(mech, dict):
        raise ConfigError(f"{path}: [mechanisms] must be a table")
    unknown |= {f"mechanisms.{k}" for k in set(mech) - _MECHANISMS}
    if unknown:
        raise ConfigError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(_SCALARS)} "
                          f"and [mechanisms] {sorted(_MECHANISMS)}")
    return doc


def _switch(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("on", "off", "true", "false"):
        raise ConfigError(f"{where} must be on or off, not {value!r}")
    return text in ("on", "true")


def load_settings(
    *, env: Mapping[str, str] | None = None, cwd: Path | None = None, home: str | Path | None = None,
    db_url: str | None = None, chroma: str | None = None, device: str | None = None,
    graph: bool | None = None, episodes: str | None = None, fusion: str | None = None,
) -> Settings:
    """File < environment < these arguments (``None``: not given), as a :class:`Settings`.

    Raises
    ------
    ConfigError
        An unreadable file, an unknown setting, an invalid value.
    """
    env = os.environ if env is None else env
    path = find_config_file(env, home=home, cwd=cwd)
    doc = _read(path) if path is not None else {}
    mech = dict(doc.pop("mechanisms", {}))
    values: dict[str, Any] = dict(doc)
    for name, var in _ENV.items():
        if env.get(var):
            values[name] = env[var]
    for name, given in (("home", home), ("db_url", db_url), ("chroma", chroma), ("device", device)):
        if given is not None:
            values[name] = given
    if env.get("AGENTMEM_GRAPH"):
        mech["graph"] = env["AGENTMEM_GRAPH"]
    for name in ("episodes", "fusion"):
        if env.get(f"AGENTMEM_{name.upper()}"):
            mech[name] = env[f"AGENTMEM_{name.upper()}"].strip().lower()
    if graph is not None:
        mech["graph"] = graph
    if episodes is not None:
        mech["episodes"] = episodes
    if fusion is not None:
        mech["fusion"] = fusion
    where = str(path) if path is not None else "settings"
    if mech.get("episodes") is not None and mech["episodes"] not in SEGMENTERS:
        raise ConfigError(f"{where}: episodes must be one of {', '.join(SEGMENTERS)}, not {mech['episodes']!r}")
    if mech.get("fusion") is not None and mech["fusion"] not in FUSIONS:
        raise ConfigError(f"{where}: fusion must be one of {', '.join(FUSIONS)}, not {mech['fusion']!r}")
    try:
        config = MemoryConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return Settings(
        config=config,
        graph=None if mech.get("graph") is None else _switch(mech["graph"], f"{where}: graph"),
        episodes=mech.get("episodes"), fusion=mech.get("fusion"), path=path,
    )
