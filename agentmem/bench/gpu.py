"""``agentmem bench gpu``: every GPU figure of the project in one run (≤ 6 minutes on one GPU).

Sections (each timed and recorded on its own; a failing one is reported and the next runs):
``ceil`` (device-to-device copy bandwidth, bf16 matmul), ``tests`` (``pytest tests/gpu`` in a
subprocess: compiled kernels, then the interpreter's), ``search`` (exact top-k at 1M and 8M
rows, 1 / 64 / 1,024 queries, through :func:`agentmem.bench.search.run_search_bench`),
``index`` (the engine's :class:`~agentmem.store.dense.ExactIndex` on CUDA, fp32 and bf16),
``ppr`` (one and 64 personalization vectors, float64 and float32), ``lsh``, ``lm`` (the surprise
LM with Gemma 3 270M's architecture and random weights: one window per call against
:meth:`~agentmem.mechanisms.episodes.segment.lm.CausalLM.surprisal_batch` over 64 windows, with their parity) and
``embed`` (a MiniLM-L6-shaped BERT in fp32 and fp16: texts/s and the per-vector cosine),
``rescore`` (bf16 storage + certified fp32 rescoring, :mod:`agentmem.kernels.topk_rescore`,
the CUDA default of ``ExactIndex``: 1M and 8M rows × 1 / 64 / 1,024 queries, its share of the
roofline and its agreement with fp32 exact search) and ``feed`` (the indexer's embedding pass,
:func:`agentmem.batch.feed.embed_batches`, over that BERT with a word-level tokenizer: texts/s
pipelined and plain, fp32 and fp16, and the smallest fp16/fp32 cosine) and ``pack`` (short
texts over that BERT, padded against packed by :mod:`agentmem._packing`: texts/s and the
largest difference, fp32 and fp16).

Only leaf modules are imported (kernels, ``store.dense``, ``batch.feed``, ``_packing``, the episode segmenter's ``lm``, ``bench.search``), so it
runs on a GPU image with torch, Triton and transformers but without the storage stack
(chromadb, SQLAlchemy). ``--small`` runs every section on the CPU with small sizes, to check
the command before spending GPU time (a test does, with the storage stack blocked).
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["SECTIONS", "add_arguments", "run"]

SECTIONS = ("ceil", "tests", "search", "index", "ppr", "lsh", "lm", "embed", "rescore", "feed", "pack")
ROOT = Path(__file__).resolve().parents[2]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset of " + ", ".join(SECTIONS))
    p.add_argument("--small", action="store_true", help="small sizes on the CPU (a dry run of the command)")


class _Run:
    def __init__(self, small: bool) -> None:
        self.small = small
        self.dev = "cpu" if small else "cuda"
        self.peak_gbps: float | None = None
        self.peak_tflops: float | None = None

    def sync(self) -> None:
        if self.dev == "cuda":
            torch.cuda.synchronize()

    def timeit(self, fn: Callable[[], Any], reps: int = 20, warm: int = 3) -> float:
        """Median seconds of ``fn()`` over ``reps`` device-synchronised calls."""
        for _ in range(warm):
            fn()
        self.sync()
        ts = []
        for _ in range(reps if not self.small else min(reps, 3)):
            t0 = time.perf_counter()
            fn()
            self.sync()
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts))


def _ceil(r: _Run) -> dict[str, Any]:
    out: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda}
    try:
        import triton

        out["triton"] = triton.__version__
    except ImportError:
        out["triton"] = None
    if r.dev == "cuda":
        out["gpu"] = torch.cuda.get_device_name()
    n = (1 << 20) if r.small else (1 << 30)
    a = torch.randn(n, device=r.dev)
    b = torch.empty_like(a)
    out["copy_gbps_rw"] = round(2 * a.numel() * 4 / r.timeit(lambda: b.copy_(a), reps=10) / 1e9, 1)
    s = 256 if r.small else 8192
    m = torch.randn(s, s, device=r.dev, dtype=torch.bfloat16)
    out["bf16_tflops"] = round(2 * s**3 / r.timeit(lambda: m @ m, reps=10) / 1e12, 2)
    r.peak_gbps, r.peak_tflops = out["copy_gbps_rw"], out["bf16_tflops"]
    return out


def _tests(r: _Run) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rs", "tests/gpu"]
    if r.small:
        cmd += ["-k", "cuda or outlive"]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    tail = (p.stdout + p.stderr).strip().splitlines()
    return {"rc": p.returncode, "summary": tail[-1] if tail else "", "skips": [x for x in tail if "SKIP" in x][:10]}


def _search(r: _Run) -> dict[str, Any]:
    from agentmem.bench.search import run_search_bench

    res = run_search_bench([5_000] if r.small else [1_000_000, 8_000_000], [1, 64] if r.small else [1, 64, 1024],
                           device=r.dev, include_chroma=False, include_faiss=False, peak_gbps=r.peak_gbps,
                           repeats=3 if r.small else 30, budget_s=4.0)
    keys = ("n", "batch", "method", "p50_ms", "qps", "recall_at_k", "kernel_p50_ms", "kernel_gbps", "kernel_pct_of_peak")
    return {"rows": [{k: x.get(k) for k in keys} for x in res["rows"] if x.get("status") == "ok"]}


def _index(r: _Run) -> dict[str, Any]:
    from agentmem.store.dense import ExactIndex

    out: dict[str, Any] = {}
    g = torch.Generator().manual_seed(0)
    for n in [5_000] if r.small else [1_000_000, 8_000_000]:
        for dt in (torch.float32, torch.bfloat16, None):  # None: the device default (CUDA: bf16 + rescoring)
            # the default on CUDA; on the CPU (--small) the same bf16 + rescoring path, asked for
            idx = ExactIndex(384, device=r.dev, dtype=dt if dt or r.dev == "cuda" else torch.bfloat16,
                             rescore=True if dt is None else None)
            for s in range(0, n, 500_000):
                v = torch.randn(min(500_000, n - s), 384, generator=g)
                idx.add([str(i) for i in range(s, s + len(v))], (v / v.norm(dim=1, keepdim=True)).numpy())
            q = torch.randn(64, 384, generator=g)
            q = (q / q.norm(dim=1, keepdim=True)).numpy()
            one = r.timeit(functools.partial(idx.search, q[:1], 10), reps=30)
            many = r.timeit(functools.partial(idx.search, q, 10), reps=10)
            out[f"{n}/{str(dt).split('.')[-1] if dt else 'default_rescored'}"] = {"q1_ms": round(one * 1e3, 3), "q64_ms": round(many * 1e3, 3)}
            del idx
    return out


def _ppr(r: _Run) -> dict[str, Any]:
    import scipy.sparse as sp

    from agentmem.kernels.ppr import Transition, personalized_pagerank, personalized_pagerank_torch

    n, m = (5_000, 20_000) if r.small else (1_000_000, 5_000_000)
    rng = np.random.default_rng(0)
    src, dst, w = rng.integers(0, n, m), rng.integers(0, n, m), rng.random(m)
    tr = Transition.from_adjacency(sp.coo_matrix((np.r_[w, w], (np.r_[src, dst], np.r_[dst, src])), shape=(n, n)))
    resets = np.zeros((64, n))
    for i in range(64):
        resets[i, rng.integers(0, n, 5)] = 1.0
    ref = personalized_pagerank(tr, resets[0], damping=0.5)
    out: dict[str, Any] = {"n": n, "nnz": int(tr.pt.nnz)}
    for dt in (torch.float64, torch.float32):
        name = str(dt).split(".")[-1]

        def run(b: int, dt: torch.dtype = dt) -> torch.Tensor:
            return personalized_pagerank_torch(tr, resets[:b] if b > 1 else resets[0], device=r.dev, dtype=dt)

        got = run(64)
        out[f"{name}_l1_vs_reference"] = float(np.abs(got[0].cpu().numpy() - ref).sum())
        one = r.timeit(functools.partial(run, 1), reps=10)
        many = r.timeit(functools.partial(run, 64), reps=5)
        out[f"{name}_1q_ms"], out[f"{name}_64q_ms"] = round(one * 1e3, 2), round(many * 1e3, 2)
        out[f"{name}_64q_over_1q"] = round(many / one, 2)
    return out


def _lsh(r: _Run) -> dict[str, Any]:
    from agentmem.kernels.lsh import lsh_codes_reference, lsh_codes_torch, random_planes

    n = 20_000 if r.small else 4_000_000
    x = np.random.default_rng(0).standard_normal((n, 384), dtype=np.float32)
    planes = random_planes(384, 32, 16, seed=0)
    codes = lsh_codes_torch(x, planes, device=r.dev)
    t = r.timeit(lambda: lsh_codes_torch(x, planes, device=r.dev), reps=3, warm=1)
    agree = float((codes[:20_000] == lsh_codes_reference(x[:20_000], planes)).mean())
    return {"n": n, "rows_per_s_from_host": round(n / t), "agree_with_reference": agree}


def _gemma(r: _Run) -> Any:
    import transformers as tf

    if r.small:
        cfg = tf.Gemma3TextConfig(vocab_size=4096, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                  num_attention_heads=2, num_key_value_heads=1, head_dim=32, sliding_window=64)
    else:  # Gemma 3 270M
        cfg = tf.Gemma3TextConfig(
            vocab_size=262_144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18,
            num_attention_heads=4, num_key_value_heads=1, head_dim=256, sliding_window=512,
            max_position_embeddings=32_768, query_pre_attn_scalar=256)
    torch.manual_seed(0)
    model: Any = tf.Gemma3ForCausalLM(cfg)
    return model.to(r.dev).eval()


class _Ids:
    bos_token_id, eos_token_id = 2, 1


def _lm(r: _Run) -> dict[str, Any]:
    """One window per call (the streaming engine) against 64 windows per batched call, with parity."""
    from agentmem.mechanisms.episodes.segment.lm import CausalLM

    model = _gemma(r)
    vocab = model.config.vocab_size
    rng = np.random.default_rng(0)
    T = 128 if r.small else 512
    windows = [(rng.integers(3, vocab, T - int(rng.integers(0, T // 4))).tolist(), int(rng.integers(0, 64)))
               for _ in range(64)]
    lm32 = CausalLM(model.float(), _Ids(), name="gemma3-270m-random")
    one = [lm32.surprisal(ids, start=s) for ids, s in windows[:8]]
    batch = lm32.surprisal_batch(windows[:8])
    out: dict[str, Any] = {"window": T, "fp32_max_abs_diff_batched_vs_one": float(
        max(np.abs(a - b).max() for a, b in zip(one, batch, strict=True)))}
    lm = CausalLM(model.to(torch.bfloat16), _Ids(), name="gemma3-270m-random")
    scored = sum(len(ids) - s for ids, s in windows)
    t1 = r.timeit(lambda: lm.surprisal(windows[0][0], start=windows[0][1]), reps=10)
    out["one_window_tokens_per_s"] = round((len(windows[0][0]) - windows[0][1]) / t1)
    tb = r.timeit(lambda: lm.surprisal_batch(windows, max_batch_tokens=64 * T), reps=5, warm=1)
    out["batched_64_windows_tokens_per_s"] = round(scored / tb)
    return out


def _embed(r: _Run) -> dict[str, Any]:
    """MiniLM-L6-shaped BERT (random weights), 64 tokens: texts/s in fp32 and fp16, per-vector cosine."""
    import transformers as tf

    cfg = tf.BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    torch.manual_seed(0)
    model: Any = tf.BertModel(cfg)
    model = model.to(r.dev).eval()
    B = 32 if r.small else 512
    x = torch.randint(1000, 30000, (B, 64), device=r.dev)
    mask = torch.ones_like(x)
    out: dict[str, Any] = {}
    vecs = {}
    for dt in (torch.float32, torch.float16 if r.dev == "cuda" else torch.bfloat16):
        model = model.to(dt)

        def fwd(model: Any = model) -> torch.Tensor:
            with torch.inference_mode():
                v = model(input_ids=x, attention_mask=mask).last_hidden_state.float().mean(1)
                return v / v.norm(dim=1, keepdim=True)

        name = str(dt).split(".")[-1]
        vecs[name] = fwd()
        out[f"texts_per_s_{name}"] = round(B / r.timeit(fwd, reps=5))
    half = next(k for k in vecs if k != "float32")
    out[f"min_cosine_{half}_vs_float32"] = round(float((vecs[half] * vecs["float32"]).sum(1).min()), 5)
    return out


def _rescore(r: _Run) -> dict[str, Any]:
    from agentmem.bench.gpu_extra import rescore_section

    return rescore_section(r)


def _feed(r: _Run) -> dict[str, Any]:
    from agentmem.bench.gpu_extra import feed_section

    return feed_section(r)


def _pack(r: _Run) -> dict[str, Any]:
    from agentmem.bench.gpu_extra import pack_section

    return pack_section(r)


_FNS: dict[str, Callable[[_Run], dict[str, Any]]] = {
    "ceil": _ceil, "tests": _tests, "search": _search, "index": _index, "ppr": _ppr, "lsh": _lsh, "lm": _lm,
    "embed": _embed, "rescore": _rescore, "feed": _feed, "pack": _pack,
}


def _table(sections: dict[str, Any]) -> str:
    lines = ["section | status | seconds | figures", "---|---|---|---"]
    for name, res in sections.items():
        figs = {k: v for k, v in res.items() if k not in ("status", "seconds", "rows", "trace", "skips")}
        lines.append(f"{name} | {res['status']} | {res['seconds']} | {figs}")
        for row in res.get("rows", []):
            lines.append(f"  {row}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    wanted = [s.strip() for s in str(args.sections).split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        from agentmem.errors import ConfigError

        raise ConfigError(f"unknown sections {unknown}; choose from {SECTIONS}")
    if not args.small and not torch.cuda.is_available():
        from agentmem.errors import DeviceUnavailableError

        raise DeviceUnavailableError("agentmem bench gpu needs a CUDA device; --small runs it on the CPU")
    r = _Run(bool(args.small))
    sections: dict[str, Any] = {}
    t_all = time.perf_counter()
    for name in (s for s in SECTIONS if s in wanted):
        t0 = time.perf_counter()
        try:
            res, status = _FNS[name](r), "ok"
        except Exception as exc:  # noqa: BLE001 - record the failure, go on with the next section
            res, status = {"error": repr(exc), "trace": traceback.format_exc()[-1500:]}, "error"
        sections[name] = {"status": status, "seconds": round(time.perf_counter() - t0, 1), **res}
        print(f"== {name}: {status} in {sections[name]['seconds']} s", file=sys.stderr, flush=True)
        if r.dev == "cuda":
            torch.cuda.empty_cache()
    print(_table(sections), file=sys.stderr, flush=True)
    return {"benchmark": "gpu", "device": r.dev, "small": r.small, "cpus": os.cpu_count(),
            "seconds": round(time.perf_counter() - t_all, 1), "sections": sections}
