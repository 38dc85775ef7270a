"""The distributed engine: the indexing pipeline as Ray Data operators.

The driver reads the archive (records in the same fixed order as the local engine), reports
malformed records, plans each conversation (``Memory.maintenance.plan``: the texts storing its
new messages embeds) and sends blocks of conversations through two actor pools::

    from_items(block) → map_batches(_Embed)  (model loaded once per actor; GPU when present)
                      → map_batches(_Store)  (Memory.add into the shared Postgres + Chroma server)

With the surprise segmenter, ``_Embed`` also loads the LM and scores the windows every fresh
session of its batch will ask for in few padded forward passes
(:func:`~agentmem.batch.surprise.session_windows`, ``CausalLM.surprisal_batch``); ``_Store``
hands them to its episode component (:class:`~agentmem.batch.surprise.PrecomputedSurprisal`),
which scores any window it was not given with its own copy of the LM.

then moves the job's watermark past the block. Workers run in other processes (other
machines), so the stores must be shared servers: a SQL URL and an ``http://`` Chroma.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from agentmem.batch.feed import embed_planned
from agentmem.batch.pipeline import (
    Chunk,
    IndexOptions,
    IndexSummary,
    add_groups,
    begin_job,
    chunks,
    complete_job,
    fill_summary,
    open_memory,
    store_conversation,
    user_of,
)
from agentmem.batch.progress import Display, StageClock
from agentmem.batch.readers import Conversation, ReadProgress, read_paths
from agentmem.batch.rejections import Rejections
from agentmem.batch.surprise import (
    PrecomputedSurprisal,
    Window,
    batched_surprise,
    session_windows,
    surprise_settings,
)
from agentmem.config import EpisodeConfig, MemoryConfig
from agentmem.errors import BackendUnavailableError, ConfigError

__all__ = ["run_ray"]


def _encode(conv: Conversation) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, datetime):
            return o.isoformat()
        raise TypeError(type(o).__name__)

    return json.dumps({"source": conv.source, "user": conv.user, "session_id": conv.session_id,
                       "messages": list(conv.messages), "file": conv.file, "position": conv.position,
                       "title": conv.title, "empty": conv.empty}, default=default, ensure_ascii=False)


def _decode(text: str) -> Conversation:
    d = json.loads(text)
    return Conversation(d["source"], d["user"], d["session_id"], tuple(d["messages"]), d["file"],
                        d["position"], d["title"], d["empty"])


def embed_pool(cluster_gpus: int, device: str, workers: int) -> tuple[int, int]:
    """``(actors, GPUs per actor)`` of the embedding pool: one actor per GPU of the cluster
    unless the device is ``"cpu"``, else ``workers`` CPU actors.

    Raises
    ------
    ConfigError
        ``device="cuda"`` on a cluster without a GPU.
    """
    if cluster_gpus >= 1 and device != "cpu":
        return cluster_gpus, 1
    if device.startswith("cuda"):
        raise ConfigError("device 'cuda' was asked for but the Ray cluster has no GPU")
    return workers, 0


class _Embed:
    """Ray actor: embeds the texts ``Memory.add`` will ask for, as the driver planned them (one batch per call)."""

    def __init__(self, config: MemoryConfig, surprise: EpisodeConfig | None = None) -> None:
        from agentmem.embedding import SentenceTransformerEmbedder
        from agentmem.kernels.device import resolve_device

        self.config = config
        device = str(resolve_device(config.device))
        self.embedder = SentenceTransformerEmbedder(config.embedder, device=device,
                                                    batch_size=config.embed_batch_size)
        self.surprise = surprise
        self.lm: Any = None
        if surprise is not None:
            from agentmem.mechanisms.episodes.segment.lm import as_surprisal_lm, load_logits_model

            self.lm = PrecomputedSurprisal(as_surprisal_lm(load_logits_model(
                surprise.lm, home=config.home, device=device, dtype=surprise.lm_dtype)))

    def __call__(self, batch: Any) -> Any:
        t0 = time.perf_counter()
        per_row = [json.loads(t) for t in batch["texts"]]
        flat = list(dict.fromkeys(t for texts in per_row for t in texts))
        vecs = embed_planned(self.embedder, flat)  # tokenising ahead of the device
        row = {t: k for k, t in enumerate(flat)}
        batch["vectors"] = [vecs[[row[t] for t in texts]].astype(np.float32).tobytes() for texts in per_row]
        batch["embed_s"] = [time.perf_counter() - t0] + [0.0] * (len(per_row) - 1)
        t1 = time.perf_counter()
        batch["surprise"] = self._score(batch["record"], batch["fresh"])
        batch["surprise_s"] = [time.perf_counter() - t1] + [0.0] * (len(per_row) - 1)
        return batch

    def _score(self, records: Any, fresh: Any) -> list[str]:
        """Per row, the LM windows of its session and their surprisal (JSON), scored in one batch."""
        if self.lm is None:
            return ["[]"] * len(records)
        cfg, eps = self.config, self.surprise
        assert eps is not None
        per_row: list[list[Window]] = []
        for record, is_fresh in zip(records, fresh, strict=True):
            if not is_fresh:  # a continued stream's windows depend on its stored state: scored in _Store
                per_row.append([])
                continue
            groups = add_groups(_decode(record).messages, cfg)
            windows, texts = session_windows(self.lm.tokenize, [groups], max_unit_chars=eps.max_unit_chars,
                                             max_chars=cfg.message_chars, context=eps.lm_context,
                                             page=eps.lm_page)
            per_row.append(windows)
            self.lm.release((), texts)  # the tokenisations it cached
        todo = list(dict.fromkeys(w for ws in per_row for w in ws))
        scored = dict(zip(todo, self.lm.score(todo), strict=True)) if todo else {}  # padded batches
        return [json.dumps([[list(ids), start, np.asarray(scored[(ids, start)], dtype=np.float32).tolist()]
                            for ids, start in ws]) for ws in per_row]


class _Store:
    """Ray actor: ``Memory.add`` with the precomputed vectors into the shared stores."""

    def __init__(self, config: MemoryConfig, opts: IndexOptions) -> None:
        self.opts = opts
        self.clock = StageClock()
        self.mem, _model = open_memory(config, None, opts, self.clock)
        self.lm = batched_surprise(self.mem)

    def __call__(self, batch: Any) -> Any:
        before = dict(self.clock.seconds)
        hits, misses = (self.lm.hits, self.lm.misses) if self.lm is not None else (0, 0)
        added, dups, errors = [], [], []
        for record, texts_json, blob, scored in zip(batch["record"], batch["texts"], batch["vectors"],
                                                    batch["surprise"], strict=True):
            conv = _decode(record)
            texts = json.loads(texts_json)
            vecs = np.frombuffer(blob, dtype=np.float32).reshape(len(texts), -1) if texts else np.zeros((0, 0))
            given = json.loads(scored)
            windows: list[Window] = [(tuple(ids), int(start)) for ids, start, _ in given]
            if self.lm is not None and windows:
                self.lm.provide(windows, [np.asarray(r, dtype=np.float32) for _, _, r in given])
            with self.clock.stage("store_sql"):
                a, d, bad = store_conversation(self.mem, conv, user=self.opts.user, tenant=self.opts.tenant,
                                               vectors=dict(zip(texts, vecs, strict=True)))
            if self.lm is not None:
                self.lm.release(windows)
            added.append(a)
            dups.append(d)
            errors.append(json.dumps([str(b) for b in bad]))
        spent = {k: v - before.get(k, 0.0) for k, v in self.clock.seconds.items()}
        n = len(added)
        return {
            "index": batch["index"], "added": added, "duplicates": dups, "errors": errors,
            "messages": [len(_decode(r).messages) for r in batch["record"]],
            "empty": [_decode(r).empty for r in batch["record"]],
            "embed_s": batch["embed_s"], "surprise_s": batch["surprise_s"],
            "surprise_hits": [self.lm.hits - hits if self.lm is not None else 0] + [0] * (n - 1),
            "surprise_misses": [self.lm.misses - misses if self.lm is not None else 0] + [0] * (n - 1),
            "stages": [json.dumps(spent)] + ["{}"] * (n - 1),
        }


def _blocks(records: Iterator[Any], start: int, size: int, clock: StageClock) -> Iterator[Chunk]:
    yield from chunks(records, start, size, clock)


def run_ray(opts: IndexOptions, config: MemoryConfig, *,
            on_error: Callable[[str], None] | None = None) -> IndexSummary:
    """Index with Ray Data (a local instance is started unless one is connected)."""
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailableError("ray[data]", "distributed") from exc
    if not (config.chroma or "").startswith(("http://", "https://")) or not config.db_url:
        raise ConfigError("--engine ray needs shared stores: --db <SQL URL> and --chroma http://host:port")
    t0 = time.perf_counter()
    if not ray.is_initialized():
        ray.init(include_dashboard=False, runtime_env={"env_vars": {
            "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "ANONYMIZED_TELEMETRY": "False"}})
    from ray.data import ActorPoolStrategy

    clock = StageClock()
    # The driver keeps the job state and repairs the chunk in doubt; home is scratch space only.
    work = replace(config, home=Path(tempfile.mkdtemp(prefix="agentmem-ray-")))
    mem, _model = open_memory(work, None, opts)
    sql = mem.maintenance.database
    job, files = begin_job(sql, opts)
    rejections = Rejections(job, sql, strict=opts.strict, on_error=on_error)
    start, in_doubt_end = job.watermark, job.inflight_end
    messages_before = job.counts.get("messages", 0)
    summary = IndexSummary(job.job_id, "ray", opts.workers, start)
    progress = ReadProgress()
    display = Display(sum(p.stat().st_size for p in files), enabled=opts.progress)
    in_doubt: set[str] = set()
    pool, gpus = embed_pool(int(ray.cluster_resources().get("GPU", 0)), config.device, opts.workers)
    surprise = surprise_settings(mem)
    lm_windows = {"surprise_windows_batched": 0, "surprise_prediction_misses": 0}
    block_turns = opts.chunk_turns * opts.workers * 4
    records = read_paths(list(files), opts.fmt, progress=progress)  # type: ignore[arg-type]
    try:
        for block in _blocks(records, start, block_turns, clock):
            rows = []
            summary.records += len(block)
            for i, rec in rejections.records(block):
                uid = user_of(rec, opts.user)
                if i < in_doubt_end:
                    in_doubt.add(uid)
                plan = mem.maintenance.plan(rec.messages, user_id=uid, session_id=rec.session_id, tenant=opts.tenant)
                rows.append({"index": i, "record": _encode(rec), "texts": json.dumps(plan.texts),
                             "fresh": len(plan.fresh) == len(rec.messages)})
            job.inflight_end = block[-1][0] + 1
            job.save(sql)
            if rows:
                per_batch = max(1, len(rows) // (opts.workers * 2) or 1)
                ds: Any = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), opts.workers * 2)))
                ds = ds.map_batches(_Embed, fn_constructor_kwargs={"config": config, "surprise": surprise},
                                    batch_size=per_batch,
                                    compute=ActorPoolStrategy(size=pool), num_gpus=gpus,
                                    batch_format="pandas")
                ds = ds.map_batches(_Store, fn_constructor_kwargs={"config": work, "opts": opts},
                                    batch_size=per_batch, compute=ActorPoolStrategy(size=opts.workers),
                                    batch_format="pandas")
                rejected: list[str] = []
                for out in ds.iter_rows():
                    job.bump(records=1, messages=int(out["messages"]), turns_added=int(out["added"]),
                             duplicates=int(out["duplicates"]), empty=int(out["empty"]))
                    clock.merge({"embed": float(out["embed_s"]), "surprise": float(out["surprise_s"]),
                                 **json.loads(out["stages"])})
                    lm_windows["surprise_windows_batched"] += int(out["surprise_hits"])
                    lm_windows["surprise_prediction_misses"] += int(out["surprise_misses"])
                    rejected += json.loads(out["errors"])
                # Workers store a whole block at once, so --strict stops after the block holding
                # the first rejected message; the watermark stays before it (a rerun redoes it).
                rejections.reject("message", sorted(rejected))
            job.watermark = block[-1][0] + 1
            job.save(sql)
            display.update(progress.bytes_read, job.counts)
        complete_job(mem, sql, job, in_doubt, opts.tenant, clock)
    finally:
        display.close()
        mem.close()
    fill_summary(summary, job, messages_before, t0, clock)
    if surprise is not None:
        summary.counts.update(lm_windows)
    return summary
