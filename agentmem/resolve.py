"""The one place where configuration strings become objects (models, stores, components)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentmem.config import MemoryConfig
from agentmem.embedding import SentenceTransformerEmbedder
from agentmem.kernels.device import resolve_device
from agentmem.mechanisms.base import MemoryComponent, Services
from agentmem.profile import check_profile, settle_mechanisms
from agentmem.recall.tokens import TiktokenCounter
from agentmem.store.sql import SqlStore, create_engine
from agentmem.store.vectors import ChromaVectors, open_chroma
from agentmem.write_embedder import WriteEmbedder

if TYPE_CHECKING:
    from agentmem.protocols import ChatModel, Embedder, LogitsModel, TokenCounter, WriteObserver

__all__ = ["build_components", "build_services", "record_profile", "settle_config"]


def build_services(
    config: MemoryConfig,
    *,
    embedder: Embedder | None = None,
    chat_model: ChatModel | None = None,
    logits_model: LogitsModel | None = None,
    tokens: TokenCounter | None = None,
    observer: WriteObserver | None = None,
) -> Services:
    """Open the stores and models a :class:`~agentmem.Memory` needs.

    The embedder is wrapped in a :class:`~agentmem.write_embedder.WriteEmbedder` (vectors given
    to a write, timing for ``observer``); the vector store reports its writes to ``observer``.
    """
    device = str(resolve_device(config.device))
    if config.db_url is None or config.chroma is None:
        config.home.mkdir(parents=True, exist_ok=True)
    return Services(
        config=config,
        sql=SqlStore(create_engine(config.resolved_db_url)),
        vectors=ChromaVectors(open_chroma(config.chroma, config.home), observer=observer),
        embedder=WriteEmbedder(
            embedder or SentenceTransformerEmbedder(config.embedder, device=device, batch_size=config.embed_batch_size),
            observer,
        ),
        tokens=tokens or TiktokenCounter(),
        device=device,
        chat_model=chat_model,
        logits_model=logits_model,
    )


def build_components(services: Services) -> list[MemoryComponent]:
    """The memory mechanisms enabled in the configuration, turns first."""
    from agentmem.mechanisms.turns.component import TurnComponent

    config = services.config
    components: list[MemoryComponent] = [TurnComponent(services)]
    if config.episodes.segmenter != "off":
        from agentmem.mechanisms.episodes.component import EpisodeComponent

        components.append(EpisodeComponent(services))
    if config.graph.enabled:
        from agentmem.mechanisms.graph.component import GraphComponent

        components.append(GraphComponent(services))
    if config.thoughts.enabled:
        from agentmem.mechanisms.thoughts.component import ThoughtComponent

        components.append(ThoughtComponent(services))
    if config.facts.enabled:
        from agentmem.mechanisms.facts.component import FactComponent

        components.append(FactComponent(services))
    return components


def settle_config(
    config: MemoryConfig, *, graph: bool | None = None, episodes: str | None = None, fusion: str | None = None
) -> MemoryConfig:
    """``config`` with the mechanisms asked for, the store's own (:mod:`agentmem.profile`) where
    an option is ``None`` (not given): what the CLI, ``serve`` and ``mcp`` run.

    The mechanisms given (switched on, a fusion preset) are recorded in the store. Raises
    :class:`ConfigError` when an option conflicts with how the store was built.
    """
    engine = create_engine(config.resolved_db_url)
    try:
        sql = SqlStore(engine)
        stored = sql.settings()
        chosen = settle_mechanisms(stored, graph=graph, episodes=episodes, fusion=fusion)
        asked = {"graph": True if graph else None, "episodes": None if episodes in (None, "off", "auto") else episodes,
                 "fusion": fusion}
        sql.save_settings({k: v for k, v in asked.items() if v is not None and stored.get(k) != v})
    finally:
        engine.dispose()
    return config.with_mechanisms(graph=chosen.graph, episodes=chosen.episodes, fusion=chosen.fusion)


def record_profile(sql: SqlStore, current: Mapping[str, Any]) -> None:
    """Check a Memory against how its store was built (:mod:`agentmem.profile`; a conflict is
    a :class:`~agentmem.errors.ConfigError`) and record its embedder and dimension. Mechanisms
    are recorded where they are chosen by options (:func:`settle_config`): a ``MemoryConfig``
    passed in is used as given."""
    new = check_profile(sql.settings(), current)
    sql.save_settings({k: v for k, v in new.items() if k in ("embedder", "dimension")})
