"""A compact forward pass of a BERT sentence encoder, for the few texts of a query.

``SentenceTransformer`` runs Hugging Face's ``BertModel``: for one short query on a CPU its
per-call work (mask expansion, separate Q/K/V projections, ~20 small ops a layer, the module
tree) costs as much as the arithmetic. :class:`CompactBert` holds the same weights with Q, K
and V fused into one ``[D, 3D]`` matrix and runs each text alone — no padding, so no attention
mask — then mean-pools and normalises: the function ``encode`` computes, to float32 rounding
(the tests hold it within 1e-6 of ``encode``'s output).

Only the plain architecture of the bundled all-MiniLM-L6-v2 is covered (``BertModel`` with
absolute positions and erf-GELU, mean pooling, normalisation); :func:`compact_encoder` returns
``None`` for anything else and the caller keeps sentence-transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["CompactBert", "compact_encoder"]


@dataclass(frozen=True)
class _Layer:
    qkv_w: torch.Tensor  # [D, 3D] (transposed: x @ w)
    qkv_b: torch.Tensor
    out_w: torch.Tensor  # [D, D]
    out_b: torch.Tensor
    ln1_w: torch.Tensor
    ln1_b: torch.Tensor
    up_w: torch.Tensor  # [D, F]
    up_b: torch.Tensor
    down_w: torch.Tensor  # [F, D]
    down_b: torch.Tensor
    ln2_w: torch.Tensor
    ln2_b: torch.Tensor


class CompactBert:
    """Mean-pooled, normalised BERT embeddings of token id sequences, one sequence at a time."""

    def __init__(self, bert: Any) -> None:
        cfg = bert.config
        sd = {k: v.detach().to(torch.float32) for k, v in bert.state_dict().items()}
        self.heads = int(cfg.num_attention_heads)
        self.eps = float(cfg.layer_norm_eps)
        self.word = sd["embeddings.word_embeddings.weight"]
        self.position = sd["embeddings.position_embeddings.weight"]
        self.segment0 = sd["embeddings.token_type_embeddings.weight"][0]
        self.ln_w, self.ln_b = sd["embeddings.LayerNorm.weight"], sd["embeddings.LayerNorm.bias"]
        self.dim = int(self.word.shape[1])
        self.layers = [self._layer(sd, f"encoder.layer.{i}.") for i in range(int(cfg.num_hidden_layers))]

    @staticmethod
    def _layer(sd: dict[str, torch.Tensor], p: str) -> _Layer:
        qkv = ("query", "key", "value")

        def t(name: str) -> torch.Tensor:
            return sd[p + name + ".weight"].T.contiguous()

        return _Layer(
            qkv_w=torch.cat([sd[f"{p}attention.self.{n}.weight"] for n in qkv]).T.contiguous(),
            qkv_b=torch.cat([sd[f"{p}attention.self.{n}.bias"] for n in qkv]),
            out_w=t("attention.output.dense"), out_b=sd[p + "attention.output.dense.bias"],
            ln1_w=sd[p + "attention.output.LayerNorm.weight"], ln1_b=sd[p + "attention.output.LayerNorm.bias"],
            up_w=t("intermediate.dense"), up_b=sd[p + "intermediate.dense.bias"],
            down_w=t("output.dense"), down_b=sd[p + "output.dense.bias"],
            ln2_w=sd[p + "output.LayerNorm.weight"], ln2_b=sd[p + "output.LayerNorm.bias"],
        )

    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """``[D]`` unit vector for one sequence of token ids (``[T]``, special tokens included)."""
        d, h = self.dim, self.heads
        n = int(ids.shape[0])
        with torch.inference_mode():
            x = F.layer_norm(self.word[ids] + self.position[:n] + self.segment0, (d,), self.ln_w, self.ln_b, self.eps)
            for layer in self.layers:
                qkv = torch.addmm(layer.qkv_b, x, layer.qkv_w).view(n, 3, h, d // h).permute(1, 2, 0, 3)
                att = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).transpose(0, 1).reshape(n, d)
                x = F.layer_norm(torch.addmm(layer.out_b, att, layer.out_w) + x, (d,), layer.ln1_w, layer.ln1_b, self.eps)
                up = F.gelu(torch.addmm(layer.up_b, x, layer.up_w))
                x = F.layer_norm(torch.addmm(layer.down_b, up, layer.down_w) + x, (d,), layer.ln2_w, layer.ln2_b, self.eps)
            return F.normalize(x.mean(0), dim=0)

    def embed(self, features: dict[str, Any]) -> np.ndarray:
        """``[B, D]`` float32 embeddings of a tokenised batch (padding is dropped per row)."""
        ids, mask = features["input_ids"], features["attention_mask"]
        rows = [self.embed_ids(ids[i][mask[i].bool()]) for i in range(int(ids.shape[0]))]
        return torch.stack(rows).numpy().astype(np.float32, copy=False)


def _covered(model: Sequence[Any]) -> Any | None:
    """The ``BertModel`` of a Transformer → mean Pooling → Normalize pipeline, else ``None``."""
    if len(model) != 3:
        return None
    names = [type(m).__name__ for m in model]
    if names != ["Transformer", "Pooling", "Normalize"]:
        return None
    bert: Any = getattr(model[0], "auto_model", None)
    cfg = getattr(bert, "config", None)
    if bert is None or cfg is None or type(bert).__name__ != "BertModel" or str(next(bert.parameters()).device) != "cpu":
        return None
    plain = (getattr(cfg, "position_embedding_type", "absolute") == "absolute" and cfg.hidden_act == "gelu"
             and not getattr(cfg, "is_decoder", False) and not getattr(cfg, "add_cross_attention", False))
    pooling = model[1]
    mean_only = getattr(pooling, "pooling_mode", None) == "mean" and getattr(pooling, "include_prompt", True)
    return bert if plain and mean_only else None


def compact_encoder(model: Any) -> CompactBert | None:
    """A :class:`CompactBert` for a covered sentence-transformers ``model`` on the CPU, else ``None``."""
    try:
        bert = _covered(model)
    except (TypeError, AttributeError, StopIteration):
        return None
    return None if bert is None else CompactBert(bert)
