"""The :class:`Memory` facade: validate, scope, delegate (input checks in
:mod:`agentmem.scoping`, writes to :mod:`agentmem.engine`, searches to :mod:`agentmem.search`,
packing to :mod:`agentmem.recall`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from agentmem.config import DEFAULT_TENANT, MemoryConfig
from agentmem.config_file import load_settings
from agentmem.engine import Engine
from agentmem.errors import ConfigError, ValidationError
from agentmem.export import read_records, write_turns
from agentmem.items import ItemStore
from agentmem.maintenance import Maintenance
from agentmem.mechanisms.base import (
    Candidate,
    EpisodeSource,
    MemoryComponent,
    Services,
    ThoughtKeeper,
)
from agentmem.normalize import call_groups, document_messages
from agentmem.protocols import ChatModel, Embedder, LogitsModel, TokenCounter, WriteObserver
from agentmem.recall.filters import parse_filters, with_scopes
from agentmem.recall.pack import facts_first, pack_context
from agentmem.resolve import build_components, build_services, record_profile, settle_config
from agentmem.scoping import (
    check_content,
    check_exchange,
    check_id,
    check_k,
    check_query,
    make_scope,
)
from agentmem.search import episode_context, search
from agentmem.store.item_rows import ItemRows
from agentmem.telemetry import traced
from agentmem.types import ContextPack, Episode, Fact, HistoryEvent, Hit, Scope, Thought, Turn

__all__ = ["Memory"]

class Memory:
    """Long-term memory for LLM applications.

    Parameters
    ----------
    config
        :class:`MemoryConfig`, used as given; ``None`` reads ``agentmem.toml`` and the
        ``AGENTMEM_*`` variables (:mod:`agentmem.config_file`; file < environment) and runs the
        mechanisms the store was built with. Defaults run fully offline under ``./.agentmem``.
    embedder, chat_model, logits_model, tokens
        Objects implementing the protocols in :mod:`agentmem.protocols`; ``None`` uses the
        configured defaults (bundled MiniLM, no chat model, the episode LM from config,
        tiktoken ``cl100k_base``).
    components
        Replace the memory mechanisms (advanced; default: turns, episodes, graph, thoughts
        as enabled in ``config``).
    observer
        A :class:`~agentmem.protocols.WriteObserver` told where writes spend their time
        (embedding, vector writes, each mechanism); batch indexing reports it as progress.

    Every method is scoped by ``tenant`` (default ``"default"``) and ``user_id``.
    """

    def __init__(
        self,
        config: MemoryConfig | None = None,
        *,
        embedder: Embedder | None = None,
        chat_model: ChatModel | None = None,
        logits_model: LogitsModel | None = None,
        tokens: TokenCounter | None = None,
        components: Sequence[MemoryComponent] | None = None,
        observer: WriteObserver | None = None,
    ) -> None:
        if config is None:  # agentmem.toml < AGENTMEM_*, then the store's own mechanisms
            src = load_settings()
            config = settle_config(src.config, graph=src.graph, episodes=src.episodes, fusion=src.fusion)
        self.config = config
        self.services: Services = build_services(
            self.config, embedder=embedder, chat_model=chat_model, logits_model=logits_model, tokens=tokens,
            observer=observer,
        )
        self.engine = Engine(
            self.services, list(components) if components is not None else build_components(self.services),
            observer=observer,
        )
        self.maintenance = Maintenance(self.services, self.engine, self._scope)
        """Operations for the server and the batch indexer (:class:`~agentmem.maintenance.Maintenance`)."""
        self.items = ItemStore(self, ItemRows(self.services.sql))
        """LangGraph-style JSON items kept as this memory's turns (:mod:`agentmem.items`)."""
        self._dimension_checked = False
        record_profile(self.services.sql, {
            "embedder": getattr(self.services.embedder, "name", None),
            "graph": True if self.enabled("graph") else None,
            "episodes": getattr(self.component("episode"), "segmenter", None) if self.enabled("episode") else None,
        })

    @property
    def components(self) -> list[MemoryComponent]:
        """The memory mechanisms, turns first (the engine's list: writes and searches use the same)."""
        return self.engine.components

    @components.setter
    def components(self, value: list[MemoryComponent]) -> None:
        self.engine.components = value

    # -- helpers ---------------------------------------------------------------------------
    def _scope(self, tenant: str, user_id: str, session_id: str | None = None, agent_id: str | None = None) -> Scope:
        return make_scope(tenant, user_id, session_id, agent_id)

    def enabled(self, name: str) -> bool:
        """Whether the memory mechanism ``name`` (``"episode"``, ``"graph"``, ``"thought"``) is on."""
        return any(c.name == name for c in self.components)

    def component(self, name: str) -> MemoryComponent:
        for c in self.components:
            if c.name == name:
                return c
        raise ConfigError(
            f"no memory component named {name!r} is enabled in this Memory's configuration "
            "(episodes: EpisodeConfig(segmenter=...), graph: GraphConfig(enabled=True), "
            "thoughts: ThoughtConfig(enabled=True), facts: FactConfig(enabled=True))"
        )

    # -- write -----------------------------------------------------------------------------
    @traced("add")
    def add(
        self,
        messages: Any,
        *,
        user_id: str,
        session_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        timestamp: datetime | str | float | None = None,
        metadata: Mapping[str, Any] | None = None,
        tenant: str = DEFAULT_TENANT,
        vectors: Mapping[str, Any] | None = None,
    ) -> list[Turn]:
        """Store conversation messages as turns; returns the turns newly stored.

        ``run_id`` is mem0's name for ``session_id`` (give one or the other). ``agent_id`` and
        the session can be filtered on in :meth:`search` and :meth:`memories`.

        ``messages``: a string, a dict ``{role|speaker, content|text, timestamp?, id?,
        metadata?, session_id?}``, a LangChain message, or a list of those. Re-adding a
        message already stored in the same scope stores nothing (see :func:`content_hash`).
        Messages without their own timestamp take ``timestamp`` (or now); without their own
        ``session_id``, ``session_id``. All are embedded together. ``vectors``: embeddings
        computed ahead, text → vector, for texts this call embeds (``Memory.maintenance.plan``
        lists them); every other text is embedded as usual.

        Raises
        ------
        ValidationError
            On any malformed message; nothing is stored then.
        """
        if run_id is not None and session_id is not None and run_id != session_id:
            raise ValidationError("run_id is another name for session_id: give one of them")
        session_id = session_id if run_id is None else run_id
        scope = self._scope(tenant, user_id, session_id, agent_id)
        if not self._dimension_checked:  # here, not at start-up: the model loads on first use
            record_profile(self.services.sql, {"dimension": int(self.services.embedder.dim)})
            self._dimension_checked = True
        return self.engine.add(scope, messages, timestamp=timestamp, metadata=metadata, vectors=vectors)

    def add_documents(
        self, docs: Iterable[Mapping[str, Any]], *, user_id: str, tenant: str = DEFAULT_TENANT
    ) -> list[Turn]:
        """Store documents (``{id, text, title?, timestamp?, metadata?, ...}``) as turns.

        The document id goes to ``metadata["doc_id"]``; other keys (e.g. precomputed
        ``triples`` / ``entities`` for the graph) go into the metadata too.
        """
        scope = self._scope(tenant, user_id)
        messages = document_messages(docs)
        if not messages:
            return []
        return self.add(messages, user_id=scope.user_id, tenant=scope.tenant)

    def update(
        self,
        memory_id: str,
        content: str,
        *,
        user_id: str,
        metadata: Mapping[str, Any] | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> Turn:
        """Replace a memory's text (and optionally metadata); logged as UPDATE."""
        scope = self._scope(tenant, user_id)
        check_content(content, metadata, self.config)
        return self.engine.update(scope, check_id(memory_id, "memory_id"), content, metadata)

    def delete(self, memory_id: str, *, user_id: str, tenant: str = DEFAULT_TENANT) -> None:
        """Delete one memory (and what only it supported); logged as DELETE."""
        self.delete_many([check_id(memory_id, "memory_id")], user_id=user_id, tenant=tenant, missing_ok=False)

    def delete_many(
        self, memory_ids: Sequence[str], *, user_id: str, tenant: str = DEFAULT_TENANT, missing_ok: bool = True
    ) -> int:
        scope = self._scope(tenant, user_id)
        return self.engine.delete(scope, memory_ids, missing_ok=missing_ok)

    def delete_user(self, user_id: str, *, tenant: str = DEFAULT_TENANT) -> int:
        """Remove a user from SQL, the vector store and every index; returns turns removed."""
        scope = self._scope(tenant, user_id)
        return self.engine.delete_user(scope)

    # -- read ------------------------------------------------------------------------------
    def get(self, memory_id: str, *, user_id: str, tenant: str = DEFAULT_TENANT) -> Turn:
        """One memory by id (:class:`NotFoundError` if it is not in this scope)."""
        return self.services.sql.get_turn(self._scope(tenant, user_id), check_id(memory_id, "memory_id"))

    def memories(
        self,
        *,
        user_id: str,
        session_id: str | None = None,
        after: int | None = None,
        limit: int | None = None,
        filters: Mapping[str, Any] | None = None,
        tenant: str = DEFAULT_TENANT,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> list[Turn]:
        """A user's memories in order; ``after`` is a cursor (the last ``seq`` seen).

        ``filters``, ``agent_id``, ``run_id``: as in :meth:`search`.
        """
        scope = self._scope(tenant, user_id)
        filters = with_scopes(filters, agent_id=agent_id, run_id=run_id)
        flt = None if filters is None else parse_filters(filters)
        return self.services.sql.list_turns(scope, session_id=session_id, after_seq=after, limit=limit, where=flt)

    def history(self, memory_id: str | None = None, *, user_id: str, tenant: str = DEFAULT_TENANT) -> list[HistoryEvent]:
        """The audit log of a memory (or of the whole user)."""
        return self.services.sql.history(self._scope(tenant, user_id), memory_id)

    @traced("search")
    def search(
        self,
        query: str,
        *,
        user_id: str,
        k: int = 10,
        filters: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        tenant: str = DEFAULT_TENANT,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> list[Hit]:
        """The ``k`` memories most relevant to ``query``, fused over every signal.

        ``filters``: the filter dialect of :mod:`agentmem.recall.filter_dialect` over
        ``session_id`` (or ``run_id``), ``agent_id``, ``speaker``, ``role``, ``content``,
        ``timestamp``, ``after`` / ``before`` (dates) and ``metadata`` keys (also reachable
        as top-level keys), e.g. ``{"agent_id": "bot", "topic": {"$in": ["a", "b"]}}``. An
        unknown operator is a :class:`ValidationError`. A time named in the query ("last May")
        adds a ``time`` signal relative to ``now`` (default: the current time). ``agent_id`` /
        ``run_id`` restrict to that agent / run (session) as in mem0, ANDed with ``filters``.
        """
        filters = with_scopes(filters, agent_id=agent_id, run_id=run_id)
        return self._search(query, user_id=user_id, k=k, filters=filters, now=now, tenant=tenant)[0]

    def _search(self, query: str, *, user_id: str, k: int, filters: Mapping[str, Any] | None,
                now: datetime | None, tenant: str) -> tuple[list[Hit], list[list[Candidate]]]:
        """:meth:`search`'s hits and every component's candidate lists."""
        scope = self._scope(tenant, user_id)
        check_query(query, self.config)
        check_k(k)
        flt = parse_filters(filters)
        return search(self.services, self.components, scope, query, k=k, flt=flt, now=now)

    @traced("recall")
    def recall(
        self,
        query: str,
        *,
        user_id: str,
        token_budget: int = 1000,
        k: int = 20,
        filters: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        tenant: str = DEFAULT_TENANT,
        episode_spans: bool = True,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> ContextPack:
        """Search, then pack the hits chronologically into ``token_budget`` tokens with citations.

        With episodic memory on, a turn hit whose recalled episode fits the remaining budget
        brings the episode's other turns along (:func:`~agentmem.recall.pack.pack_context`'s
        ``spans``), so the context holds the exchange around it; ``episode_spans=False`` packs
        the hits alone. Facts proposed for the query lead, even below ``k`` (``facts_first``).
        """
        if not isinstance(token_budget, int) or token_budget < 1:
            raise ValidationError("token_budget must be a positive integer")
        filters = with_scopes(filters, agent_id=agent_id, run_id=run_id)
        hits, lists = self._search(query, user_id=user_id, k=k, filters=filters, now=now, tenant=tenant)
        hits = facts_first(hits, [c for cands in lists for c in cands], scope=self._scope(tenant, user_id))
        spans = None
        if episode_spans:
            spans = episode_context(self.services, self._scope(tenant, user_id), hits, lists, parse_filters(filters))
        return pack_context(hits, token_budget=token_budget, counter=self.services.tokens, spans=spans)

    # -- episodes (EM-LLM) -------------------------------------------------------------------
    def episodes(
        self,
        *,
        user_id: str,
        session_id: str | None = None,
        include_open: bool = True,
        tenant: str = DEFAULT_TENANT,
    ) -> list[Episode]:
        """A user's episodes in time order (the still-open tail too, unless ``include_open=False``)."""
        c = self.component("episode")
        assert isinstance(c, EpisodeSource)
        scope = self._scope(tenant, user_id)
        return c.episodes(scope, session_id=None if session_id is None else check_id(session_id, "session_id"),
                          include_open=include_open)

    # -- thoughts (Think-in-Memory) --------------------------------------------------------
    def _thought_memory(self) -> ThoughtKeeper:
        c = self.component("thought")
        assert isinstance(c, ThoughtKeeper)
        return c

    def think(
        self,
        query: str,
        response: str,
        *,
        user_id: str,
        source_ids: Sequence[str] = (),
        chat_model: ChatModel | None = None,
        now: datetime | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> list[Thought]:
        """Post-thinking: store the conclusions of one exchange as thoughts.

        With a chat model (this one or the configured one) the model is asked for thoughts;
        without, thoughts are derived from the facts extracted from the exchange. Each new
        thought is inserted, merged into a near-duplicate, or ends a contradicted one.
        """
        check_exchange(query, response, source_ids)
        scope = self._scope(tenant, user_id)
        return self._thought_memory().think(
            scope, query, response, chat_model=chat_model, now=now, source_ids=tuple(source_ids)
        )

    def thoughts(
        self, *, user_id: str, include_forgotten: bool = False, tenant: str = DEFAULT_TENANT
    ) -> list[Thought]:
        """A user's thoughts (live ones, or all with ``include_forgotten``)."""
        return self._thought_memory().thoughts(self._scope(tenant, user_id), include_forgotten)

    def forget_thought(self, thought_id: str, *, user_id: str, tenant: str = DEFAULT_TENANT) -> Thought:
        """End a thought's validity (it stays in history, no longer recalled)."""
        return self._thought_memory().forget(self._scope(tenant, user_id), check_id(thought_id, "thought_id"))

    # -- facts ---------------------------------------------------------------------------
    def facts(
        self, *, user_id: str, subject: str | None = None, include_past: bool = False, tenant: str = DEFAULT_TENANT
    ) -> list[Fact]:
        """A user's facts derived from their memories: current ones, or every one with ``include_past``
        (superseded and ended facts carry ``valid_to`` and ``superseded_by``); ``subject`` keeps one
        subject's (``"the user"`` for what the user said of themself without a name)."""
        c = self.component("fact")
        facts = getattr(c, "facts", None)
        if facts is None:
            raise ConfigError("the 'fact' component does not list facts")
        subj = None if subject is None else check_id(subject, "subject")
        result: list[Fact] = facts(self._scope(tenant, user_id), subject=subj, include_past=include_past)
        return result

    # -- export / import -------------------------------------------------------------------
    def export(self, dest: str | Path | IO[str], *, user_id: str, tenant: str = DEFAULT_TENANT) -> int:
        """Write a user's memories as JSONL (one turn a line); returns the count."""
        return write_turns(self.memories(user_id=user_id, tenant=tenant), dest)

    def import_(self, src: str | Path | IO[str], *, user_id: str, tenant: str = DEFAULT_TENANT) -> int:
        """Load JSONL written by :meth:`export` (``import`` is a Python keyword); idempotent."""
        by_session = read_records(src)
        added = 0
        cfg = self.config
        for session_id, recs in by_session.items():
            for group in call_groups(recs, most=cfg.max_messages_per_call, chars=cfg.max_request_chars):
                added += len(self.add(group, user_id=user_id, session_id=session_id, tenant=tenant))
        return added

    def close(self) -> None:
        self.engine.close()

