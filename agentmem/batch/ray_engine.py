"""The distributed engine: the indexing pipeline as Ray Data operators.

The driver reads the archive (records in the same fixed order as the local engine), reports
malformed records, plans each conversation (``Memory.maintenance.plan``: the texts storing its
new messages embeds) and sends blocks of conversations through two actor pools::

    from_items(block) → map_batches(_Embed)  (model loaded once per actor; GPU when present)
                      → map_batches(_Store)  (Memory.add into the shared Postgres + Chroma server)

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

from agentmem.batch.feed import embed_batches
from agentmem.batch.pipeline import (
    Chunk,
    IndexOptions,
    IndexSummary,
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
from agentmem.config import MemoryConfig
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

    def __init__(self, config: MemoryConfig) -> None:
        from agentmem.embedding import SentenceTransformerEmbedder
        from agentmem.kernels.device import resolve_device

        self.config = config
        self.embedder = SentenceTransformerEmbedder(
            config.embedder, device=str(resolve_device(config.device)), batch_size=config.embed_batch_size)

    def __call__(self, batch: Any) -> Any:
        t0 = time.perf_counter()
        per_row = [json.loads(t) for t in batch["texts"]]
        flat = list(dict.fromkeys(t for texts in per_row for t in texts))
        vecs = embed_batches(self.embedder, flat)  # tokenising ahead of the device
        row = {t: k for k, t in enumerate(flat)}
        batch["vectors"] = [vecs[[row[t] for t in texts]].astype(np.float32).tobytes() for texts in per_row]
        batch["embed_s"] = [time.perf_counter() - t0] + [0.0] * (len(per_row) - 1)
        return batch


class _Store:
    """Ray actor: ``Memory.add`` with the precomputed vectors into the shared stores."""

    def __init__(self, config: MemoryConfig, opts: IndexOptions) -> None:
        self.opts = opts
        self.clock = StageClock()
        self.mem, _model = open_memory(config, None, opts, self.clock)

    def __call__(self, batch: Any) -> Any:
        before = dict(self.clock.seconds)
        added, dups, errors = [], [], []
        for record, texts_json, blob in zip(batch["record"], batch["texts"], batch["vectors"], strict=True):
            conv = _decode(record)
            texts = json.loads(texts_json)
            vecs = np.frombuffer(blob, dtype=np.float32).reshape(len(texts), -1) if texts else np.zeros((0, 0))
            with self.clock.stage("store_sql"):
                a, d, bad = store_conversation(self.mem, conv, user=self.opts.user, tenant=self.opts.tenant,
                                               vectors=dict(zip(texts, vecs, strict=True)))
            added.append(a)
            dups.append(d)
            errors.append(json.dumps([str(b) for b in bad]))
        spent = {k: v - before.get(k, 0.0) for k, v in self.clock.seconds.items()}
        n = len(added)
        return {
            "index": batch["index"], "added": added, "duplicates": dups, "errors": errors,
            "messages": [len(_decode(r).messages) for r in batch["record"]],
            "empty": [_decode(r).empty for r in batch["record"]],
            "embed_s": batch["embed_s"],
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
                rows.append({"index": i, "record": _encode(rec), "texts": json.dumps(plan.texts)})
            job.inflight_end = block[-1][0] + 1
            job.save(sql)
            if rows:
                per_batch = max(1, len(rows) // (opts.workers * 2) or 1)
                ds: Any = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), opts.workers * 2)))
                ds = ds.map_batches(_Embed, fn_constructor_kwargs={"config": config}, batch_size=per_batch,
                                    compute=ActorPoolStrategy(size=pool), num_gpus=gpus,
                                    batch_format="pandas")
                ds = ds.map_batches(_Store, fn_constructor_kwargs={"config": work, "opts": opts},
                                    batch_size=per_batch, compute=ActorPoolStrategy(size=opts.workers),
                                    batch_format="pandas")
                rejected: list[str] = []
                for out in ds.iter_rows():
                    job.bump(records=1, messages=int(out["messages"]), turns_added=int(out["added"]),
                             duplicates=int(out["duplicates"]), empty=int(out["empty"]))
                    clock.merge({"embed": float(out["embed_s"]), **json.loads(out["stages"])})
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
    return summary
