"""``agentmem index``: read archives, embed in batches, store through ``Memory.add``, resumably.

The pipeline, for both engines::

    read (readers: records in a fixed order)
      → chunk (sessions until ``chunk_turns`` turns)
      → plan (messages already stored are dropped before any embedding; the write path
        lists the texts storing the rest embeds: ``Memory.maintenance.plan``)
      → embed (those texts, one batch per chunk; workers / GPU)
      → store (``Memory.add(..., vectors=...)`` per session: SQL, Chroma, components)
      → watermark (the job's count of fully stored records; see :mod:`agentmem.batch.job`)

The local engine runs the dedupe+embed stage of the next ``workers`` chunks on worker threads
while the main thread stores the current one, in input order. The Ray engine
(:mod:`agentmem.batch.ray_engine`) runs the same stages as Ray Data operators.

Resume is exact because (1) records are read in the same order each time and the watermark
counts fully stored records, (2) every message has a stable id, so re-adding one stores
nothing, (3) the chunk in flight at a crash may have turns in SQL that components never
consumed (the process died between the turns' commit and ``on_add``): re-adding such a
message makes ``Memory.add`` ask the episode and graph components to catch up on the
session's stored turns they lack (:class:`~agentmem.mechanisms.base.CatchesUp`: an episode stream
saves the last turn it consumed with its episodes; the graph has a passage per consumed
turn), at the same point of the input as in an uninterrupted run, and (4) the in-flight turns
may lack vectors: a resumed run rebuilds those users' turn and episode indexes, which embeds
what is missing.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agentmem.batch.dedupe import plan_chunk, user_of
from agentmem.batch.feed import embed_planned
from agentmem.batch.job import JobState, job_id
from agentmem.batch.progress import Display, StageClock
from agentmem.batch.readers import (
    Conversation,
    ReadError,
    ReadProgress,
    Record,
    expand_paths,
    read_paths,
)
from agentmem.batch.rejections import Rejections
from agentmem.batch.surprise import Window, batched_surprise, prescore_sessions
from agentmem.config import MemoryConfig
from agentmem.errors import ConfigError, ValidationError
from agentmem.normalize import call_groups, normalize_messages
from agentmem.protocols import Embedder, WriteObserver

__all__ = ["IndexOptions", "IndexSummary", "plan_chunk", "run_index", "store_conversation", "user_of"]

Engine = Literal["local", "ray"]


@dataclass(frozen=True, slots=True)
class IndexOptions:
    """What to index and how (the ``agentmem index`` flags).

    ``user``: the user every record is stored under; formats that name users (LoCoMo,
    LongMemEval, JSONL ``"user"``) use theirs when it is ``None``. ``episodes``: ``None`` keeps
    the configured components; ``"surprise"`` / ``"drift"`` add episodic memory with that
    segmenter (used by the indexing benchmark).
    """

    paths: tuple[str, ...]
    fmt: str = "auto"
    user: str | None = None
    tenant: str = "default"
    workers: int = 1
    engine: Engine = "local"
    resume: bool = False
    strict: bool = False
    chunk_turns: int = 512
    progress: bool = False
    episodes: Literal["surprise", "drift", "off"] | None = None

    def __post_init__(self) -> None:
        if self.workers < 1 or self.chunk_turns < 1:
            raise ConfigError("workers and chunk_turns must be >= 1")
        if self.engine not in ("local", "ray"):
            raise ConfigError(f"engine must be 'local' or 'ray', not {self.engine!r}")
        if self.fmt not in ("auto", "chatgpt", "claude", "longmemeval", "locomo", "jsonl"):
            raise ConfigError(f"unknown format {self.fmt!r}")


@dataclass(slots=True)
class IndexSummary:
    """What a run did (the CLI prints it as JSON)."""

    job_id: str
    engine: str
    workers: int
    resumed_from: int
    records: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    messages_this_run: int = 0

    @property
    def turns_per_s(self) -> float:
        """Messages read and stored (or found already stored) per second of this run."""
        return self.messages_this_run / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "engine": self.engine, "workers": self.workers,
            "resumed_from_record": self.resumed_from, "records": self.records,
            "counts": dict(self.counts), "seconds": round(self.seconds, 2),
            "turns_per_s": round(self.turns_per_s, 1), "stages_s": dict(self.stages),
            "errors": list(self.errors),
        }


# -- storing one conversation (both engines) ---------------------------------------------------
def add_groups(messages: Sequence[Mapping[str, Any]], config: MemoryConfig) -> list[list[Mapping[str, Any]]]:
    """``messages`` in the groups :func:`store_conversation` adds them in, one ``Memory.add`` each."""
    return call_groups(messages, most=config.max_messages_per_call, chars=config.max_request_chars)


def store_conversation(mem: Any, conv: Conversation, *, user: str | None, tenant: str,
                       vectors: Mapping[str, Any] | None = None) -> tuple[int, int, list[ReadError]]:
    """``Memory.add`` one conversation; returns ``(added, duplicates, rejected messages)``.

    A message ``add`` rejects (too long, NUL, ...) is reported with its position and the rest
    of the conversation is stored. ``vectors``: embeddings computed ahead (text → vector).
    """
    uid = user_of(conv, user)
    meta: dict[str, Any] = {"source": conv.source}
    if conv.title:
        meta["title"] = conv.title
    cfg = mem.config
    added = dup = 0
    bad: list[ReadError] = []
    for batch in add_groups(conv.messages, cfg):
        try:
            turns = mem.add(batch, user_id=uid, session_id=conv.session_id, metadata=meta, tenant=tenant,
                            vectors=vectors)
        except ValidationError:
            good = []
            for m in batch:
                try:
                    normalize_messages([m], max_chars=cfg.message_chars, max_messages=1)
                    good.append(m)
                except ValidationError as exc:
                    bad.append(ReadError(conv.file, f"{conv.position} message {m.get('id')}", str(exc)))
            batch = good
            turns = mem.add(good, user_id=uid, session_id=conv.session_id, metadata=meta,
                            tenant=tenant, vectors=vectors) if good else []
        added += len(turns)
        dup += len(batch) - len(turns)
    return added, dup, bad


def open_memory(config: MemoryConfig, embedder: Embedder | None, opts: IndexOptions,
                observer: WriteObserver | None = None) -> tuple[Any, Embedder]:
    """A ``Memory`` for indexing and its embedding model (for embedding planned texts ahead),
    with episodic memory segmented by ``opts.episodes`` when given and ``config`` leaves the
    choice open (``"off"`` or ``"auto"``); the write path reports its stages to ``observer``."""
    from agentmem.embedding import SentenceTransformerEmbedder
    from agentmem.kernels.device import resolve_device
    from agentmem.memory import Memory

    model = embedder or SentenceTransformerEmbedder(
        config.embedder, device=str(resolve_device(config.device)), batch_size=config.embed_batch_size)
    if opts.episodes is not None and config.episodes.segmenter in ("off", "auto"):
        segmenter: Any = opts.episodes
        config = replace(config, episodes=replace(config.episodes, segmenter=segmenter))
    return Memory(config, embedder=model, observer=observer), model


@dataclass(frozen=True, slots=True)
class Prepared:
    """A chunk made ready off the storing thread: vectors of its texts, its scored LM windows."""

    texts: list[str]
    vectors: np.ndarray
    windows: list[Window] = field(default_factory=list)
    units: list[str] = field(default_factory=list)


# -- the local engine --------------------------------------------------------------------------
Chunk = list[tuple[int, Record]]


def chunks(records: Iterator[Record], start: int, size: int, clock: StageClock) -> Iterator[Chunk]:
    chunk: Chunk = []
    turns = 0
    i = 0
    while True:
        with clock.stage("read"):
            rec = next(records, None)
        if rec is None:
            break
        if i >= start:
            chunk.append((i, rec))
            turns += len(rec.messages) if isinstance(rec, Conversation) else 0
            if turns >= size:
                yield chunk
                chunk, turns = [], 0
        i += 1
    if chunk:
        yield chunk


def run_index(
    opts: IndexOptions,
    config: MemoryConfig,
    *,
    embedder: Embedder | None = None,
    on_error: Callable[[str], None] | None = None,
) -> IndexSummary:
    """Index ``opts.paths`` into the stores of ``config``; see the module docstring.

    Raises
    ------
    ValidationError
        With ``strict``, at the first malformed record (the job keeps its watermark, so a
        later ``--resume`` continues from there).
    """
    if opts.engine == "ray":
        from agentmem.batch.ray_engine import run_ray

        return run_ray(opts, config, on_error=on_error)
    return _run_local(opts, config, embedder=embedder, on_error=on_error)


def begin_job(sql: Any, opts: IndexOptions) -> tuple[JobState, list[Path]]:
    files = expand_paths(list(opts.paths))
    if not files:
        raise ValidationError("no input files")
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise ValidationError(f"no such file: {', '.join(missing)}")
    jid = job_id(files, fmt=opts.fmt, tenant=opts.tenant, user=opts.user)
    job = JobState.open(sql, jid, tenant=opts.tenant, user=opts.user,
                        inputs=[str(p) for p in files], resume=opts.resume)
    return job, files


def repair(mem: Any, users: set[str], tenant: str) -> None:
    """Re-embed vectors missing after a crash (building a user's turn and episode indexes heals them).

    Components that missed turns of the chunk in flight caught up already, when its records
    were added again (see the module docstring).
    """
    for uid in sorted(users):
        mem.search("index repair", user_id=uid, k=1, tenant=tenant)


def complete_job(mem: Any, sql: Any, job: JobState, in_doubt: set[str], tenant: str, clock: StageClock) -> None:
    """The last step of a run that read everything: heal what a crash left, mark the job done."""
    with clock.stage("repair"):
        repair(mem, in_doubt, tenant)
    job.status = "done"
    job.inflight_end = job.watermark
    job.save(sql)


def fill_summary(summary: IndexSummary, job: JobState, messages_before: int, t0: float, clock: StageClock) -> None:
    """Copy a finished (or interrupted) job's counts, errors and timings into its summary."""
    summary.counts = dict(job.counts)
    summary.messages_this_run = job.counts.get("messages", 0) - messages_before
    summary.errors = list(job.errors)
    summary.seconds = time.perf_counter() - t0
    summary.stages = clock.rounded()


def _run_local(opts: IndexOptions, config: MemoryConfig, *, embedder: Embedder | None,
               on_error: Callable[[str], None] | None) -> IndexSummary:
    t0 = time.perf_counter()
    clock = StageClock()
    mem, model = open_memory(config, embedder, opts, clock)
    sql = mem.maintenance.database
    job, files = begin_job(sql, opts)
    rejections = Rejections(job, sql, strict=opts.strict, on_error=on_error)
    start, in_doubt_end = job.watermark, job.inflight_end
    summary = IndexSummary(job.job_id, "local", opts.workers, start)
    messages_before = job.counts.get("messages", 0)
    in_doubt: set[str] = set()
    progress = ReadProgress()
    display = Display(sum(p.stat().st_size for p in files), enabled=opts.progress)

    lm = batched_surprise(mem)

    def prepare(chunk: Chunk) -> Prepared:
        convs = [r for _, r in chunk if isinstance(r, Conversation)]
        with clock.stage("dedupe"):
            fresh, texts = plan_chunk(mem, convs, user=opts.user, tenant=opts.tenant)
        with clock.stage("embed"):
            vectors = embed_planned(model, texts)  # tokenising ahead of the device
        scored: tuple[list[Window], list[str]] = ([], [])
        if lm is not None:
            new = [add_groups(c.messages, config) for c, f in zip(convs, fresh, strict=True)
                   if len(f) == len(c.messages)]
            with clock.stage("surprise"):
                scored = prescore_sessions(
                    lm, new, max_unit_chars=config.episodes.max_unit_chars, max_chars=config.message_chars,
                    context=config.episodes.lm_context, page=config.episodes.lm_page)
        return Prepared(texts, vectors, *scored)

    def store(chunk: Chunk, fut: Future[Prepared]) -> None:
        got = fut.result()
        given = dict(zip(got.texts, got.vectors, strict=True))
        job.bump(embedded=len(got.texts))
        job.inflight_end = chunk[-1][0] + 1
        with clock.stage("job_state"):
            job.save(sql)
        summary.records += len(chunk)
        for i, rec in rejections.records(chunk):
            with clock.stage("store_sql"):
                added, dup, bad = store_conversation(mem, rec, user=opts.user, tenant=opts.tenant, vectors=given)
            job.bump(records=1, messages=len(rec.messages), turns_added=added, duplicates=dup, empty=rec.empty)
            rejections.reject("message", bad)
            if i < in_doubt_end:
                in_doubt.add(user_of(rec, opts.user))
        if lm is not None:
            lm.release(got.windows, got.units)
        job.watermark = chunk[-1][0] + 1
        with clock.stage("job_state"):
            job.save(sql)
        display.update(progress.bytes_read, job.counts)

    records = read_paths(list(files), opts.fmt, progress=progress)  # type: ignore[arg-type]
    pending: deque[tuple[Chunk, Future[Prepared]]] = deque()
    try:
        with ThreadPoolExecutor(max_workers=opts.workers, thread_name_prefix="agentmem-embed") as pool:
            try:
                for chunk in chunks(records, start, opts.chunk_turns, clock):
                    pending.append((chunk, pool.submit(prepare, chunk)))
                    while len(pending) > opts.workers:
                        store(*pending.popleft())
                while pending:
                    store(*pending.popleft())
            except BaseException:
                for _, fut in pending:
                    fut.cancel()
                raise
        complete_job(mem, sql, job, in_doubt, opts.tenant, clock)
    finally:
        display.close()
        mem.close()
    fill_summary(summary, job, messages_before, t0, clock)
    summary.counts["embed_prediction_misses"] = clock.counts.get("embed", 0)
    if lm is not None:
        summary.counts["surprise_windows_batched"] = lm.hits
        summary.counts["surprise_prediction_misses"] = lm.misses
    return summary
