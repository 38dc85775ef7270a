"""SQLAlchemy 2.0 schema: one ``MetaData`` for every table agentmem keeps in SQL.

Every row carries ``tenant`` and ``user_id``; every query filters on both. Stage modules that
need more tables declare them on this same ``metadata`` (import it, never a second one).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "api_keys",
    "entities",
    "episode_streams",
    "episodes",
    "facts",
    "graph_fact_sources",
    "graph_mentions",
    "graph_passages",
    "graph_synonyms",
    "graph_topics",
    "history",
    "index_jobs",
    "metadata",
    "sessions",
    "store_items",
    "tenants",
    "thoughts",
    "turns",
    "users",
    "versions",
]

metadata = MetaData()

ID = String(64)
NAME = String(255)
# SQLite only autoincrements INTEGER PRIMARY KEY; Postgres gets a BIGINT identity.
SEQ = BigInteger().with_variant(Integer(), "sqlite")


def _scope_columns() -> list[Column]:
    return [Column("tenant", NAME, nullable=False), Column("user_id", NAME, nullable=False)]


tenants = Table(
    "tenants",
    metadata,
    Column("tenant", NAME, primary_key=True),
    Column("created_at", DateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("tenant", NAME, primary_key=True),
    Column("user_id", NAME, primary_key=True),
    Column("created_at", DateTime, nullable=False),
)

# One counter per (user, index name), bumped in the transaction that changes what the index is
# built from. In-memory indexes remember the version they reflect, so a replica notices when
# another replica has written and reloads (see agentmem.store.cache).
versions = Table(
    "versions",
    metadata,
    Column("tenant", NAME, primary_key=True),
    Column("user_id", NAME, primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    *_scope_columns(),
    Column("session_id", NAME, nullable=False),
    Column("agent_id", NAME),
    Column("started_at", DateTime, nullable=False),
    UniqueConstraint("tenant", "user_id", "session_id", name="uq_sessions_scope"),
)

turns = Table(
    "turns",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=True),
    Column("id", ID, nullable=False, unique=True),
    *_scope_columns(),
    Column("agent_id", NAME),
    Column("session_id", NAME),
    Column("speaker", NAME, nullable=False),
    Column("role", String(32), nullable=False),
    Column("content", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("ts", DateTime, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("tenant", "user_id", "content_hash", name="uq_turns_dedupe"),
    Index("ix_turns_scope_seq", "tenant", "user_id", "seq"),
    # lookups by id inside a scope (search hits, get, delete): without it SQLite walks the
    # scope index over the whole user
    Index("ix_turns_scope_id", "tenant", "user_id", "id"),
)

episodes = Table(
    "episodes",
    metadata,
    Column("id", ID, primary_key=True),
    *_scope_columns(),
    Column("session_id", NAME),
    Column("seq", Integer, nullable=False),
    Column("start_ts", DateTime, nullable=False),
    Column("end_ts", DateTime, nullable=False),
    Column("text", Text, nullable=False),
    Column("turn_ids", JSON, nullable=False),
    Column("surprise_mean", Float, nullable=False, default=0.0),
    Column("surprise_max", Float, nullable=False, default=0.0),
    Column("method", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False),
    # agentmem.mechanisms.episodes.component: the stream (session) it belongs to, its units
    # [[turn_id, text], ...], and whether it is the still-open tail of that stream.
    Column("stream", NAME, nullable=False, default=""),
    Column("units", JSON, nullable=False, default=list),
    Column("is_open", Boolean, nullable=False, default=False),
    Index("ix_episodes_scope_seq", "tenant", "user_id", "seq"),
)

# Knowledge graph (agentmem.mechanisms.graph.repository). Ids are hashes of (tenant, user, name), so two
# replicas inserting the same entity or fact collide on the primary key and one insert is ignored.
# Vectors are float32 bytes kept beside the rows they embed (one transaction for graph + vectors).
entities = Table(
    "entities",
    metadata,
    Column("id", ID, primary_key=True),
    *_scope_columns(),
    Column("name", Text, nullable=False),
    Column("vector", LargeBinary),
    Column("created_at", DateTime, nullable=False),
    Index("ix_entities_scope", "tenant", "user_id"),
)

facts = Table(
    "facts",
    metadata,
    Column("id", ID, primary_key=True),
    *_scope_columns(),
    Column("subject", Text, nullable=False),
    Column("relation", Text, nullable=False),
    Column("object", Text, nullable=False),
    Column("subject_id", ID, nullable=False),
    Column("object_id", ID, nullable=False),
    Column("vector", LargeBinary),
    Column("created_at", DateTime, nullable=False),
    Index("ix_facts_scope", "tenant", "user_id"),
)

thoughts = Table(
    "thoughts",
    metadata,
    Column("id", ID, primary_key=True),
    *_scope_columns(),
    Column("text", Text, nullable=False),
    Column("subject", Text),
    Column("relation", Text),
    Column("object", Text),
    Column("source_ids", JSON, nullable=False),
    Column("merged_from", JSON, nullable=False),
    Column("lsh_codes", JSON),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("last_recalled_at", DateTime),
    Column("recall_count", Integer, nullable=False, default=0),
    Column("valid_from", DateTime, nullable=False),
    Column("valid_to", DateTime),
    Index("ix_thoughts_scope", "tenant", "user_id"),
)

history = Table(
    "history",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    *_scope_columns(),
    Column("record_id", ID, nullable=False),
    Column("record_kind", String(32), nullable=False),
    Column("event", String(16), nullable=False),
    Column("before", Text),
    Column("after", Text),
    Column("at", DateTime, nullable=False),
    Column("meta", JSON, nullable=False),
    Index("ix_history_record", "tenant", "user_id", "record_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant", NAME, nullable=False),
    Column("name", NAME, nullable=False),
    Column("key_hash", String(128), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
)

# Graph links. A passage is a turn (or document chunk) that contributed triples or mentions.
graph_passages = Table(
    "graph_passages",
    metadata,
    *_scope_columns(),
    Column("passage_id", ID, nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Column("created_at", DateTime, nullable=False),
    PrimaryKeyConstraint("tenant", "user_id", "passage_id", name="pk_graph_passages"),
)

# Context edges passage -- entity.
graph_mentions = Table(
    "graph_mentions",
    metadata,
    *_scope_columns(),
    Column("entity_id", ID, nullable=False),
    Column("passage_id", ID, nullable=False),
    PrimaryKeyConstraint("tenant", "user_id", "entity_id", "passage_id", name="pk_graph_mentions"),
    Index("ix_graph_mentions_passage", "tenant", "user_id", "passage_id"),
)

# Which passages support a fact (the fact edge weight is their number).
graph_fact_sources = Table(
    "graph_fact_sources",
    metadata,
    *_scope_columns(),
    Column("fact_id", ID, nullable=False),
    Column("passage_id", ID, nullable=False),
    PrimaryKeyConstraint("tenant", "user_id", "fact_id", "passage_id", name="pk_graph_fact_sources"),
    Index("ix_graph_fact_sources_passage", "tenant", "user_id", "passage_id"),
)

# Topic edges passage -- the entity its title names (documents; agentmem.mechanisms.graph.index).
graph_topics = Table(
    "graph_topics",
    metadata,
    *_scope_columns(),
    Column("passage_id", ID, nullable=False),
    Column("entity_id", ID, nullable=False),
    PrimaryKeyConstraint("tenant", "user_id", "passage_id", name="pk_graph_topics"),
)

# Synonym edges entity -- entity (a < b), weight = cosine of the names' embeddings.
graph_synonyms = Table(
    "graph_synonyms",
    metadata,
    *_scope_columns(),
    Column("a", ID, nullable=False),
    Column("b", ID, nullable=False),
    Column("score", Float, nullable=False),
    PrimaryKeyConstraint("tenant", "user_id", "a", "b", name="pk_graph_synonyms"),
)

# Where each episode stream (one per session) stands: the streaming segmenter's state (scores
# of the open tail, its units and their embeddings, the detector's trailing window, the LM
# context tokens), so any replica can continue the stream (agentmem.mechanisms.episodes.component).
episode_streams = Table(
    "episode_streams",
    metadata,
    *_scope_columns(),
    Column("stream", NAME, nullable=False),
    Column("method", String(32), nullable=False),
    Column("state", JSON, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    PrimaryKeyConstraint("tenant", "user_id", "stream", name="pk_episode_streams"),
)

# Legacy: where the sidecar's /store routes kept JSON items before items became turns
# (agentmem.items). No code writes it; the item store moves the rows it finds into items on
# first use and deletes them (agentmem.store.item_rows). ``namespace`` is the labels joined by
# "."; ``user_id`` is the first label.
store_items = Table(
    "store_items",
    metadata,
    *_scope_columns(),
    Column("namespace", String(1024), nullable=False),
    Column("key", NAME, nullable=False),
    Column("value", JSON, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
    Column("ttl_minutes", Float),
    PrimaryKeyConstraint("tenant", "namespace", "key", name="pk_store_items"),
    Index("ix_store_items_user", "tenant", "user_id"),
)

# Batch indexing jobs (agentmem.batch.job): one row per job (its inputs, options and user),
# the watermark = records of the input stream fully stored (SQL, vectors, components), and
# the end of the chunk being stored when the process stopped (re-checked on resume).
index_jobs = Table(
    "index_jobs",
    metadata,
    Column("job_id", ID, primary_key=True),
    Column("tenant", NAME, nullable=False),
    Column("user_id", NAME, nullable=False),  # the --user of the job ("" when records name users)
    Column("inputs", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("watermark", BigInteger, nullable=False, default=0),
    Column("inflight_end", BigInteger, nullable=False, default=0),
    Column("counts", JSON, nullable=False),
    Column("errors", JSON, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# How the store was built (agentmem.profile): embedder, dimension, memory mechanisms. Store-wide,
# not per tenant: every tenant's vectors share one embedder.
store_settings = Table(
    "store_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
)
