"""Configuration: plain frozen dataclasses with validated, documented defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from agentmem.errors import ConfigError

__all__ = [
    "FUSIONS", "SEGMENTERS", "Device", "EpisodeConfig", "FactConfig", "GraphConfig", "MemoryConfig", "RecallConfig",
    "ThoughtConfig",
]

Device = Literal["auto", "cpu", "cuda"]
Segmenter = Literal["off", "drift", "surprise", "auto"]  # EpisodeConfig.segmenter
SEGMENTERS: tuple[str, ...] = get_args(Segmenter)
FUSIONS = ("default", "multi-hop")  # RecallConfig.preset names

DEFAULT_TENANT = "default"


def default_home() -> Path:
    """``$AGENTMEM_HOME`` or ``./.agentmem``."""
    return Path(os.environ.get("AGENTMEM_HOME", ".agentmem"))


def default_user() -> str:
    """The user of command-line calls without ``--user``: ``$AGENTMEM_USER`` or ``"default"``."""
    return os.environ.get("AGENTMEM_USER") or "default"


@dataclass(frozen=True, slots=True)
class RecallConfig:
    """How signals are fused.

    By default (``reader=True``) the learned reader (:mod:`agentmem.recall.reader`) ranks every
    component's candidates from their features. With ``reader=False``, components' ranked
    lists are fused by reciprocal rank fusion (Cormack et al. 2009): each
    signal contributes ``weights[signal] / (rrf_k + rank)``. With a ``primary`` signal (e.g.
    ``"graph"``) that answered, only RRF's top ``head`` records come first; the primary's order
    follows; with ``lead`` signals, the head is their best records taken in turn instead of
    RRF's (``agentmem.recall.fusion.interleave``). ``candidates`` is how many hits each
    signal contributes. Within the turn component, dense and BM25 scores are fused by score
    (see :mod:`agentmem.mechanisms.turns.hybrid`). :meth:`multi_hop` is the setting for multi-hop
    questions over documents with the knowledge graph on.
    """

    rrf_k: int = 60
    candidates: int = 100
    # When this signal has candidates: RRF's top ``head``, then this signal's order
    # (agentmem.recall.fusion.head_fusion); None: plain RRF (the default, chosen on LoCoMo dev;
    # docs/benchmarks.md). For multi-hop documents use RecallConfig.multi_hop().
    primary: str | None = None
    head: int = 3
    # Signals whose best records fill the head in turn (used only with a primary); a lead
    # signal need not have an RRF weight.
    lead: tuple[str, ...] = ()
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "turns": 1.0,
            "episode": 0.5,
            "graph": 1.0,
            "bridge": 0.0,  # the graph's fact-expanded query: a lead signal, not in RRF (multi_hop)
            "thought": 1.0,
            "time": 0.5,
            "fact": 0.3,  # fact memory: a matching current fact, and the turns that state it
        }
    )
    # Turn-level hybrid scoring (agentmem.mechanisms.turns.hybrid); how the values were chosen:
    # docs/benchmarks.md.
    lexical_weight: float = 0.3  # BM25's share in the min-max score fusion with dense
    contiguity: float = 0.4  # weight of the best neighbouring turn's score
    speaker_boost: float = 0.1  # for turns by the one speaker a query names
    # Also search each turn by its in-context view, taking the better of both views
    # (agentmem.mechanisms.turns.context): "vectors" embeds nothing more, adding
    # ``context_weight`` times the previous turn's vector; "text" embeds the previous turn
    # followed by this one.
    context_view: bool = True
    context_source: Literal["text", "vectors"] = "vectors"
    context_weight: float = 0.5
    # Rank candidates with the learned reader (agentmem.recall.reader) instead of RRF; it
    # reads every signal, so components compute the ones RRF would skip (``bridge``). False:
    # plain RRF with ``weights`` (and ``primary`` / ``lead`` when set). What the reader was
    # trained on and how it compares with RRF: docs/benchmarks.md (the reader).
    reader: bool = True

    def __post_init__(self) -> None:
        if self.rrf_k < 1:
            raise ConfigError("recall.rrf_k must be >= 1")
        if self.candidates < 1:
            raise ConfigError("recall.candidates must be >= 1")
        if self.head < 0:
            raise ConfigError("recall.head must be >= 0")
        if not 0.0 <= self.lexical_weight <= 1.0:
            raise ConfigError("recall.lexical_weight must be in [0, 1]")
        if self.contiguity < 0 or self.speaker_boost < 0:
            raise ConfigError("recall.contiguity and recall.speaker_boost must be >= 0")
        if not self.context_weight >= 0:
            raise ConfigError("recall.context_weight must be >= 0")
        if self.context_source not in ("text", "vectors"):
            raise ConfigError(f"recall.context_source must be 'text' or 'vectors', got {self.context_source!r}")
        if any(w < 0 for w in self.weights.values()):
            raise ConfigError("recall.weights must be non-negative")
        if isinstance(self.lead, str) or not all(isinstance(s, str) and s for s in self.lead):
            raise ConfigError("recall.lead must be a tuple of signal names")

    @classmethod
    def multi_hop(cls) -> RecallConfig:
        """Fusion for multi-hop questions over documents with the knowledge graph on.

        The turn scorer's best passage, then the bridge query's (the query with its best
        fact, :func:`agentmem.mechanisms.graph.component.bridge_query`), then their second ones, then
        PageRank's order (``primary="graph"``, ``lead=("turns", "bridge")``, ``head=4``, no
        reader). Chosen on the MuSiQue selection split (docs/benchmarks.md).
        """
        return cls(primary="graph", lead=("turns", "bridge"), head=4, reader=False)

    @classmethod
    def preset(cls, name: str) -> RecallConfig:
        """The fusion named ``name`` in :data:`FUSIONS`: ``"default"`` (the reader) or
        ``"multi-hop"``."""
        if name not in FUSIONS:
            raise ConfigError(f"fusion must be one of {', '.join(FUSIONS)}, not {name!r}")
        return cls.multi_hop() if name == "multi-hop" else cls()

    def reads(self, signal: str) -> bool:
        """Whether fusion uses ``signal``: the reader is on, it has a weight (an unnamed signal
        weighs 1) or it leads."""
        return (self.reader or self.weights.get(signal, 1.0) > 0
                or (self.primary is not None and signal in self.lead))


@dataclass(frozen=True, slots=True)
class EpisodeConfig:
    """Episodic memory (EM-LLM, Fountas et al. 2024): surprise segmentation + two-stage recall.

    ``segmenter``: ``"surprise"`` (a local causal LM's mean token surprisal per turn),
    ``"drift"`` (embedding distance from the running window, no LM), ``"off"``, or ``"auto"``,
    the default: what the device affords — surprise when a ``logits_model`` is passed, or when
    the memory runs on a CUDA device and the ``lm`` extra is importable; drift otherwise (the
    surprise LM runs inside every ``add``, several times slower than drift on a CPU:
    docs/benchmarks.md). :attr:`agentmem.mechanisms.episodes.component.EpisodeComponent.segmenter`
    says which one is in use. Episodes reach the ranking as the reader's features of their
    turns (:mod:`agentmem.recall.features`) and ``recall`` packs a hit's episode when it fits.
    ``lm``: ``None`` (bundled Gemma 3 270M GGUF), a ``.gguf`` path or a Hugging Face model
    dir/name; ``lm_dtype`` ``"float32"``, ``"bfloat16"`` or ``"auto"`` (bf16 where the device has
    native bf16 — a GPU, or a CPU with AVX512-BF16/AMX — else fp32); each token sees ``lm_context``
    tokens before its ``lm_page``-token page. Boundaries: a turn opens an episode when its
    surprise exceeds mean + ``gamma``·std of the ``window`` preceding turns (EM-LLM's rule at
    turn level), episodes hold ``min_turns``..``max_turns`` units, then each boundary is
    refined by ``refine`` over the turns' similarity graph, and an episode over ``max_tokens``
    tokens is cut at its most surprising turn. A turn longer than ``max_unit_chars`` is split
    into sentence groups. Recall: ``k_similar`` episodes by
    similarity plus ``k_contiguous`` temporal neighbours on each side of each.
    """

    segmenter: Segmenter = "auto"
    lm: str | None = None
    lm_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    lm_context: int = 128
    lm_page: int = 512
    gamma: float = 1.0
    window: int = 16
    min_turns: int = 3
    max_turns: int = 24
    drift_window: int = 4
    max_unit_chars: int = 1200
    k_similar: int = 4
    k_contiguous: int = 1
    refine: Literal["modularity", "conductance", "off"] = "modularity"
    # An episode longer than this many tokens (cl100k) is cut at its most surprising turn
    # (agentmem.mechanisms.episodes.segment.surprise.split_oversized), so the smallest budget recall is measured at
    # (500 in `agentmem bench segmentation`) can hold any episode; None: turns cap alone.
    max_tokens: int | None = 500

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ConfigError(f"episodes.max_tokens must be >= 1 or None, not {self.max_tokens}")
        if self.segmenter not in SEGMENTERS:
            raise ConfigError(f"episodes.segmenter must be auto/surprise/drift/off, not {self.segmenter!r}")
        if self.refine not in ("modularity", "conductance", "off"):
            raise ConfigError(f"episodes.refine must be modularity/conductance/off, not {self.refine!r}")
        if self.lm_dtype not in ("auto", "float32", "bfloat16"):
            raise ConfigError(f"episodes.lm_dtype must be auto/float32/bfloat16, not {self.lm_dtype!r}")
        if self.window < 2 or not 1 <= self.min_turns <= self.max_turns:
            raise ConfigError("episodes: window >= 2 and 1 <= min_turns <= max_turns")
        if self.lm_context < 0 or self.lm_page < 1 or self.drift_window < 1 or self.max_unit_chars < 20:
            raise ConfigError("episodes: lm_context >= 0, lm_page >= 1, drift_window >= 1, max_unit_chars >= 20")
        if self.k_similar < 1 or self.k_contiguous < 0:
            raise ConfigError("episodes: k_similar >= 1 and k_contiguous >= 0")


@dataclass(frozen=True, slots=True)
class GraphConfig:
    """Knowledge-graph memory (HippoRAG 2 defaults), on by default; ``extractor="auto"``
    extracts facts with the configured chat model, else offline (conversations too)."""

    enabled: bool = True
    synonym_threshold: float = 0.8
    synonym_max_neighbors: int = 100
    top_facts: int = 5
    link_top_k: int = 5  # seed entities kept (highest fact score / passage count)
    passage_weight: float = 0.05
    damping: float = 0.5
    # BM25 over fact strings in the query-to-fact score (agentmem.mechanisms.graph.component.fact_scores);
    # 0 is HippoRAG 2's dense-only score (the choice: docs/benchmarks.md).
    lexical_weight: float = 0.25
    extractor: Literal["auto", "offline", "llm"] = "auto"  # auto: llm when a chat model is set
    recognition_filter: bool = True  # LLM filter of the top facts (only with a chat model)
    max_concurrency: int = 4  # parallel chat-model calls during extraction
    ner_context: bool = False  # also link a passage to entities that occur in no triple
    # Weight of the edge between a document passage and the entity its title names (on top of
    # the context edge, split among the passages sharing the title; 0: HippoRAG's graph). Chosen
    # on the MuSiQue selection questions (docs/benchmarks.md). Conversation turns have no title.
    topic_weight: float = 8.0

    def __post_init__(self) -> None:
        if not 0.0 < self.synonym_threshold <= 1.0:
            raise ConfigError("graph.synonym_threshold must be in (0, 1]")
        if not 0.0 <= self.damping < 1.0:
            raise ConfigError("graph.damping must be in [0, 1)")
        if min(self.top_facts, self.link_top_k, self.max_concurrency) < 1:
            raise ConfigError("graph.top_facts, link_top_k and max_concurrency must be >= 1")
        if min(self.synonym_max_neighbors, self.passage_weight, self.lexical_weight, self.topic_weight) < 0:
            raise ConfigError(
                "graph.synonym_max_neighbors, passage_weight, lexical_weight and topic_weight must be >= 0"
            )
        if self.extractor not in ("auto", "offline", "llm"):
            raise ConfigError(f"graph.extractor must be auto, offline or llm, not {self.extractor!r}")


@dataclass(frozen=True, slots=True)
class ThoughtConfig:
    """Thought memory (Think-in-Memory): insert / merge / forget policies and the LSH index.

    ``merge_threshold``: a new thought whose nearest live thought has at least this cosine is
    merged into it. ``capacity``: most live thoughts per user (least recalled, oldest forgotten
    first). ``ttl_days``: forget thoughts neither recalled nor updated for this long (``None``:
    never). ``recall_top``: a search counts as recalling the thoughts it ranks this high.
    ``exact_merge_below``: stores up to this size check merges by exact cosine over every live
    thought (cheap there), larger ones through LSH candidates. ``lsh_*``: see
    :class:`agentmem.mechanisms.thoughts.lsh.LSHIndex` (``lsh_planes`` is TiM's ``m``: codes take ``2m``
    values); ``lsh_center`` hashes ``x − c`` with ``c`` the embedder's common direction
    (:func:`agentmem.mechanisms.thoughts.center.embedding_center`), which balances the buckets.
    """

    enabled: bool = True
    merge_threshold: float = 0.9
    capacity: int = 10_000
    ttl_days: float | None = None
    recall_top: int = 10
    exact_merge_below: int = 20_000
    lsh_planes: int = 16
    lsh_hashes_per_table: int = 2
    lsh_tables: int = 16
    lsh_probes: int = 128
    lsh_max_scan: float | None = None
    lsh_seed: int = 0
    lsh_center: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.merge_threshold <= 1.0:
            raise ConfigError("thoughts.merge_threshold must be in (0, 1]")
        if self.capacity < 1 or self.recall_top < 0 or self.exact_merge_below < 0:
            raise ConfigError("thoughts.capacity must be >= 1, recall_top and exact_merge_below >= 0")
        if self.ttl_days is not None and self.ttl_days <= 0:
            raise ConfigError("thoughts.ttl_days must be positive (or None)")
        if self.lsh_planes < 1 or self.lsh_tables < 1 or not 1 <= self.lsh_hashes_per_table <= 4:
            raise ConfigError("thoughts.lsh_planes/lsh_tables >= 1, lsh_hashes_per_table in [1, 4]")
        if self.lsh_probes < self.lsh_tables:
            raise ConfigError("thoughts.lsh_probes must be >= lsh_tables")
        if self.lsh_max_scan is not None and not 0.0 < self.lsh_max_scan <= 1.0:
            raise ConfigError("thoughts.lsh_max_scan must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class FactConfig:
    """Fact memory (:mod:`agentmem.mechanisms.facts`): facts with validity derived from every turn.

    ``enabled``: extract statements from each added turn and keep facts with supersession and
    contradiction. ``extractor``: ``"offline"`` (a few regular expressions a sentence), ``"llm"``
    (the configured chat model, one call a turn; a failed call or a malformed reply falls back
    to the offline statements for that turn) or ``"auto"`` (the chat model when there is one).
    ``candidates``: at most this many facts proposed to a search (each with the turns that state it).
    """

    enabled: bool = True
    extractor: Literal["auto", "offline", "llm"] = "auto"
    candidates: int = 3

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ConfigError("facts.candidates must be >= 1")
        if self.extractor not in ("auto", "offline", "llm"):
            raise ConfigError(f"facts.extractor must be auto, offline or llm, not {self.extractor!r}")


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """Everything :class:`agentmem.Memory` needs; every field has an offline default.

    Parameters
    ----------
    home
        Data directory (SQLite file, Chroma files, model caches); a ``str`` or a ``Path``.
    db_url
        SQLAlchemy URL; default ``sqlite:///{home}/agentmem.db``. Postgres:
        ``postgresql+psycopg://user@host:5432/db``.
    chroma
        ``None`` (Chroma ``PersistentClient`` under ``home``), a directory path, an
        ``http://host:port`` URL of a Chroma server, or ``"memory"`` (ephemeral).
    embedder
        A sentence-transformers model name or path; ``"all-MiniLM-L6-v2"`` is the bundled one.
    device
        ``"auto" | "cpu" | "cuda"``; ``"cuda"`` without a GPU is an error.
    """

    home: Path = field(default_factory=default_home)
    db_url: str | None = None
    chroma: str | None = None
    embedder: str = "all-MiniLM-L6-v2"
    device: Device = "auto"
    embed_batch_size: int = 128
    # Storage dtype of the in-memory search matrices. "auto": float32 on the CPU; on CUDA
    # bfloat16 rows scanned on the device with a float32 host copy that rescores a certified
    # candidate set, so the answers are float32's (agentmem.kernels.topk_rescore). "bfloat16"
    # halves their memory and is exact for the stored (rounded) vectors, so its answers can
    # differ from float32's; float32 keeps the embedder's answers. Whether bf16 is faster on
    # a CPU depends on it (native bf16: AVX512-BF16/AMX); figures in docs/benchmarks.md.
    # Single queries over >= 10k rows on the CPU use the planned sketch (agentmem.store.dense).
    vector_dtype: Literal["auto", "bfloat16", "float32"] = "auto"
    # Size limits of one add: its messages' characters together (a message may be a whole
    # pasted file or log), and how many messages; max_message_chars optionally limits each
    # message too (None: only the request limit). A search query is limited separately (and
    # by max_message_chars when that is set).
    max_request_chars: int = 4_000_000
    max_message_chars: int | None = None
    max_messages_per_call: int = 10_000
    max_query_chars: int = 32_000
    # A turn longer than long_turn_chars is also indexed as passages of passage_chars
    # (overlapping by passage_overlap), each embedded: its whole text is searchable, the turn
    # stays the hit. Shorter turns are embedded whole, as one text.
    long_turn_chars: int = 2_000
    passage_chars: int = 1_000
    passage_overlap: int = 100
    # The turns of a session written together are read by the embedder in windows of up to
    # turn_window tokens, each turn's vector the mean of its own tokens' states there
    # (agentmem.mechanisms.turns.late); 0 embeds every turn alone. Needs an embedder that reads
    # windows (agentmem.protocols.ContextEmbedder); others embed every turn alone.
    turn_window: int = 128
    recall: RecallConfig = field(default_factory=RecallConfig)
    episodes: EpisodeConfig = field(default_factory=EpisodeConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    thoughts: ThoughtConfig = field(default_factory=ThoughtConfig)
    facts: FactConfig = field(default_factory=FactConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.home, Path):  # MemoryConfig(home="./.agentmem") as in the docs
            if not isinstance(self.home, str | os.PathLike):
                raise ConfigError(f"home must be a path, not {type(self.home).__name__}")
            object.__setattr__(self, "home", Path(self.home))
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be 'auto', 'cpu' or 'cuda', not {self.device!r}")
        if self.max_request_chars < 1 or self.max_messages_per_call < 1 or self.max_query_chars < 1 or (
            self.max_message_chars is not None and self.max_message_chars < 1
        ):
            raise ConfigError("size limits must be positive")
        if self.long_turn_chars < 1 or self.passage_chars < 2 or not 0 <= self.passage_overlap < self.passage_chars // 2:
            raise ConfigError("need passage_chars >= 2 and 0 <= passage_overlap < passage_chars / 2")
        if self.vector_dtype not in ("auto", "bfloat16", "float32"):
            raise ConfigError(f"vector_dtype must be 'auto', 'bfloat16' or 'float32', not {self.vector_dtype!r}")
        if self.embed_batch_size < 1:
            raise ConfigError("embed_batch_size must be >= 1")
        if isinstance(self.turn_window, bool) or not isinstance(self.turn_window, int) or self.turn_window < 0:
            raise ConfigError(f"turn_window must be an int >= 0, not {self.turn_window!r}")

    @property
    def message_chars(self) -> int:
        """The longest one message may be."""
        if self.max_message_chars is None:
            return self.max_request_chars
        return min(self.max_message_chars, self.max_request_chars)

    def with_mechanisms(self, *, graph: bool = True, episodes: str = "auto", fusion: str = "default") -> MemoryConfig:
        """This configuration with the knowledge graph on or off, episodes segmented by
        ``episodes`` (one of :data:`SEGMENTERS`) and the fusion preset ``fusion`` (one of
        :data:`FUSIONS`, :meth:`RecallConfig.preset`): the switches of the sidecar and the MCP
        server."""
        segmenter: Any = episodes
        return replace(self, graph=replace(self.graph, enabled=graph),
                       episodes=replace(self.episodes, segmenter=segmenter), recall=RecallConfig.preset(fusion))

    @property
    def resolved_db_url(self) -> str:
        return self.db_url or f"sqlite:///{Path(self.home) / 'agentmem.db'}"
