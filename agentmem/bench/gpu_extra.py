"""The ``rescore`` and ``feed`` sections of ``agentmem bench gpu`` (see :mod:`agentmem.bench.gpu`).

Leaf imports only (kernels, ``batch.feed``, transformers/tokenizers), like the rest of the
command: the GPU image has no storage stack.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np
import torch

__all__ = ["feed_section", "rescore_section"]

DIM = 384


def _unit(n: int, g: torch.Generator, device: str) -> torch.Tensor:
    x = torch.randn(n, DIM, generator=g, device=device)
    return x / x.norm(dim=1, keepdim=True)


def rescore_section(r: Any) -> dict[str, Any]:
    """bf16 rows on the device, fp32 rows on the host, certified top-10 (ExactIndex's CUDA default)."""
    from agentmem.kernels.topk import topk
    from agentmem.kernels.topk_rescore import rescoring_bound, topk_rescored

    rows: list[dict[str, Any]] = []
    g = torch.Generator(device=r.dev).manual_seed(0)
    sizes = [20_000] if r.small else [1_000_000, 8_000_000]
    batches = [1, 64] if r.small else [1, 64, 1024]
    for n in sizes:
        low = torch.empty((n, DIM), dtype=torch.bfloat16, device=r.dev)
        exact = torch.empty((n, DIM), dtype=torch.float32)  # the host copy
        bound = 0.0
        for s in range(0, n, 1_000_000):
            part = _unit(min(1_000_000, n - s), g, r.dev)
            low[s : s + len(part)] = part.to(torch.bfloat16)
            exact[s : s + len(part)] = part.cpu()
            bound = max(bound, rescoring_bound(part, low[s : s + len(part)]))
        queries = _unit(max(batches), g, r.dev)
        for b in batches:
            q = queries[:b]
            t = r.timeit(functools.partial(topk_rescored, q, low, exact, 10, bound=bound),
                         reps=3 if b >= 1024 else 10, warm=1)
            bytes_read = n * DIM * 2
            flops = 2 * b * n * DIM * 2  # the split query: two bf16 products per score
            ideal = max(bytes_read / (r.peak_gbps * 1e9) if r.peak_gbps else 0.0,
                        flops / (r.peak_tflops * 1e12) if r.peak_tflops else 0.0)
            row: dict[str, Any] = {"n": n, "batch": b, "ms": round(t * 1e3, 3), "qps": round(b / t),
                                   "roofline_pct": round(100 * ideal / t, 1) if ideal else None}
            if b <= 64:  # exactness against fp32 exact search on the device (fp32 rows there too)
                ids = topk_rescored(q, low, exact, 10, bound=bound)[1].cpu()
                full = exact.to(r.dev) if n <= 1_000_000 or r.dev == "cpu" else None
                if full is not None:
                    want = topk(q, full, 10, method="torch")[1].cpu()
                    row["ids_equal_fp32"] = round(float((ids == want).all(dim=1).float().mean()), 4)
                    del full
            rows.append(row)
        del low, exact
        if r.dev == "cuda":
            torch.cuda.empty_cache()
    return {"k": 10, "dim": DIM, "rows": rows}


class _RandomBert:
    """A MiniLM-L6-shaped BERT (random weights) behind a word-level tokenizer, with the
    ``tokenize`` / ``embed_tokens`` split of :class:`agentmem.embedding.SentenceTransformerEmbedder`."""

    def __init__(self, model: Any, device: str, dtype: torch.dtype, batch_size: int) -> None:
        from tokenizers import Tokenizer, models, pre_tokenizers

        vocab = {"[UNK]": 0, "[PAD]": 1, **{f"w{i}": i + 2 for i in range(30_000)}}
        self.tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        self.tok.pre_tokenizer = pre_tokenizers.Whitespace()
        self.tok.enable_padding(pad_id=1, pad_token="[PAD]")
        self.tok.enable_truncation(max_length=128)
        self.model, self.device, self.dtype = model, device, dtype
        self.batch_size, self.dim = batch_size, DIM

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        enc = self.tok.encode_batch(texts)
        ids = torch.tensor([e.ids for e in enc])
        mask = torch.tensor([e.attention_mask for e in enc])
        if self.device == "cuda":
            ids, mask = ids.pin_memory(), mask.pin_memory()
        return {"input_ids": ids, "attention_mask": mask}

    def embed_tokens(self, feats: dict[str, torch.Tensor]) -> np.ndarray:
        ids = feats["input_ids"].to(self.device, non_blocking=True)
        mask = feats["attention_mask"].to(self.device, non_blocking=True)
        with torch.inference_mode():
            h = self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
            m = mask.unsqueeze(2).float()
            v = (h * m).sum(1) / m.sum(1)
            v = v / v.norm(dim=1, keepdim=True)
        return v.cpu().numpy()

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.embed_tokens(self.tokenize(texts))


def feed_section(r: Any) -> dict[str, Any]:
    """Texts/s of the indexer's embedding pass, pipelined (tokenising ahead) and plain, per dtype."""
    import transformers as tf

    from agentmem.batch.feed import embed_batches

    cfg = tf.BertConfig(hidden_size=DIM, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    torch.manual_seed(0)
    base: Any = tf.BertModel(cfg).eval()
    rng = np.random.default_rng(0)
    n, longest = (96, 16) if r.small else (40_000, 64)
    texts = [" ".join(f"w{i}" for i in rng.integers(0, 30_000, int(rng.integers(4, longest)))) for _ in range(n)]
    size = 16 if r.small else 512
    half = torch.float16 if r.dev == "cuda" else torch.bfloat16
    out: dict[str, Any] = {"texts": n, "batch": size}
    vecs: dict[str, np.ndarray] = {}
    for dt in (torch.float32, half):
        name = str(dt).split(".")[-1]
        emb = _RandomBert(base.to(r.dev, dt), r.dev, dt, size)

        def plain(emb: _RandomBert = emb) -> np.ndarray:
            order = np.argsort([-len(t) for t in texts])
            parts = [emb.embed([texts[i] for i in order[s : s + size]]) for s in range(0, n, size)]
            res = np.empty((n, DIM), dtype=np.float32)
            res[order] = np.concatenate(parts)
            return res

        embed_batches(emb, texts[: 4 * size])  # warm up
        r.sync()
        t0 = time.perf_counter()
        vecs[name] = embed_batches(emb, texts)
        r.sync()
        fed = time.perf_counter() - t0
        t0 = time.perf_counter()
        same = plain()
        r.sync()
        seq = time.perf_counter() - t0
        out[f"{name}_fed_texts_per_s"] = round(n / fed)
        out[f"{name}_plain_texts_per_s"] = round(n / seq)
        out[f"{name}_fed_max_abs_diff_vs_plain"] = float(np.abs(same - vecs[name]).max())
    other = next(k for k in vecs if k != "float32")
    out[f"min_cosine_{other}_vs_float32"] = round(float((vecs[other] * vecs["float32"]).sum(1).min()), 5)
    return out


def pack_section(r: Any) -> dict[str, Any]:
    """Short texts (entity- and fact-like, 2-10 tokens) padded against packed
    (:mod:`agentmem._packing`, rows of 128 tokens): texts/s and the largest difference, per dtype."""
    import transformers as tf

    from agentmem._packing import embed_packed, packed_batch, unpadded

    cfg = tf.BertConfig(hidden_size=DIM, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    torch.manual_seed(0)
    base: Any = tf.BertModel(cfg).eval()
    rng = np.random.default_rng(1)
    n = 256 if r.small else 50_000
    texts = [" ".join(f"w{i}" for i in rng.integers(0, 30_000, int(rng.integers(2, 10)))) for _ in range(n)]
    size = 64 if r.small else 1024
    order = np.argsort([-len(t) for t in texts])
    groups = [[texts[i] for i in order[s: s + size]] for s in range(0, n, size)]
    half = torch.float16 if r.dev == "cuda" else torch.bfloat16
    out: dict[str, Any] = {"texts": n, "batch": size}
    for dt in (torch.float32, half):
        name = str(dt).split(".")[-1]
        emb = _RandomBert(base.to(r.dev, dt), r.dev, dt, size)
        feats = [emb.tokenize(g) for g in groups]
        packs = [packed_batch(unpadded(f), 128) for f in feats]
        if r.dev == "cuda":
            packs = [p.pin_memory() for p in packs]
        emb.embed_tokens(feats[0])
        embed_packed(emb.model, packs[0])  # warm up
        r.sync()
        t0 = time.perf_counter()
        padded = np.concatenate([emb.embed_tokens(f) for f in feats])
        r.sync()
        t_pad = time.perf_counter() - t0
        t0 = time.perf_counter()
        packed = np.concatenate([embed_packed(emb.model, p).cpu().numpy() for p in packs])
        r.sync()
        t_pack = time.perf_counter() - t0
        out[f"{name}_padded_texts_per_s"] = round(n / t_pad)
        out[f"{name}_packed_texts_per_s"] = round(n / t_pack)
        out[f"{name}_packed_max_abs_diff_vs_padded"] = float(np.abs(packed - padded).max())
    return out
