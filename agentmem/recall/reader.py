"""The reader: a small learned ranker over every signal's candidates.

In the spirit of LongMem's decoupled reader over a frozen memory bank and of learning to rank:
the components propose candidates, :func:`agentmem.recall.features.candidate_table` turns
them into one feature row per record, and a small network scores the rows
(:class:`ReaderModel`: standardise, one hidden ReLU layer, a linear output; with no hidden
layer it is a linear ranker). Its weights are trained offline (``agentmem bench
train-reader``, on the dev data named in docs/benchmarks.md) and ship as a small JSON file
(:data:`DEFAULT_WEIGHTS`); inference is a few numpy matrix products.

The reader ranks turns. Thoughts have no training data (the dev sets hold no assistant
conclusions) and facts are records of another kind, so each thought and fact keeps the place
plain RRF gives it; a fact's source turns carry the ``fact`` signal's features.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from agentmem.errors import ConfigError
from agentmem.mechanisms.base import Candidate
from agentmem.recall.features import FEATURES, SIGNALS, candidate_table
from agentmem.recall.fusion import Fused, fuse_candidates

__all__ = ["DEFAULT_WEIGHTS", "ReaderModel", "default_reader", "read"]

DEFAULT_WEIGHTS = "reader.json"  # in the agentmem.data package
_PLACED_BY_RRF = ("thought", "fact")  # record kinds the reader does not rank


@dataclass(frozen=True)
class ReaderModel:
    """``score(x) = relu(((x - mean) / scale) @ w1 + b1) @ w2 + b2`` (no hidden layer:
    ``((x - mean) / scale) @ w2 + b2``). ``features`` names the columns it was trained on."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray | None
    b1: np.ndarray | None
    w2: np.ndarray
    b2: float
    info: Mapping[str, Any]

    def __post_init__(self) -> None:
        n = len(self.features)
        width = self.w1.shape[1] if self.w1 is not None else n
        if self.mean.shape != (n,) or self.scale.shape != (n,) or self.w2.shape != (width,):
            raise ConfigError("reader weights do not match their feature list")
        if self.w1 is not None and (self.w1.shape[0] != n or self.b1 is None or self.b1.shape != (width,)):
            raise ConfigError("reader hidden layer does not match its feature list")

    def score(self, x: np.ndarray) -> np.ndarray:
        """One score per row of ``x`` (columns :attr:`features`); higher is better."""
        z = (np.asarray(x, dtype=np.float32) - self.mean) / self.scale
        if self.w1 is not None and self.b1 is not None:
            z = np.maximum(z @ self.w1 + self.b1, 0.0)
        return np.asarray(z @ self.w2 + self.b2, dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        def arr(a: np.ndarray | None) -> Any:
            return None if a is None else np.asarray(a, dtype=np.float64).tolist()

        return {"features": list(self.features), "mean": arr(self.mean), "scale": arr(self.scale),
                "w1": arr(self.w1), "b1": arr(self.b1), "w2": arr(self.w2), "b2": float(self.b2),
                "info": dict(self.info)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReaderModel:
        def arr(v: Any) -> np.ndarray | None:
            return None if v is None else np.asarray(v, dtype=np.float32)

        try:
            features = tuple(str(f) for f in data["features"])
            mean, scale, w2 = arr(data["mean"]), arr(data["scale"]), arr(data["w2"])
            if mean is None or scale is None or w2 is None:
                raise ConfigError("reader weights lack mean, scale or w2")
            return cls(features, mean, scale, arr(data.get("w1")), arr(data.get("b1")), w2,
                       float(data["b2"]), dict(data.get("info") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"malformed reader weights: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path) -> ReaderModel:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")


@cache
def default_reader() -> ReaderModel:
    """The shipped reader (``agentmem/data/reader.json``); its features must be :data:`FEATURES`."""
    text = resources.files("agentmem.data").joinpath(DEFAULT_WEIGHTS).read_text(encoding="utf-8")
    model = ReaderModel.from_json(json.loads(text))
    if model.features != FEATURES:
        raise ConfigError("the shipped reader was trained on other features; retrain it (bench train-reader)")
    return model


def read(
    lists: Sequence[Sequence[Candidate]],
    *,
    query_text: str,
    has_time_window: bool,
    model: ReaderModel,
    weights: Mapping[str, float],
    rrf_k: int = 60,
) -> list[Fused]:
    """Every candidate record, ordered by the reader; thoughts and facts at their plain-RRF places.

    Each :class:`Fused` keeps its per-signal ranks and raw scores (as RRF reports them, the
    sub-signals' ranks included); ``score`` is the reader's score (for a thought: the score of
    the record it was placed after, or its RRF score when first).
    """
    keys, x = candidate_table(lists, query_text=query_text, has_time_window=has_time_window)
    if not keys:
        return []
    rrf = fuse_candidates(lists, weights=weights, k=rrf_k)
    by_key = {f.key: f for f in rrf}
    scores = model.score(x)
    turns: list[tuple[float, int, Fused]] = []
    for i, key in enumerate(keys):
        if key[0] in _PLACED_BY_RRF:
            continue
        f = by_key.get(key) or _from_row(key, x[i])
        turns.append((-float(scores[i]), i, f))
    turns.sort(key=lambda t: (t[0], t[1]))
    out = []
    for neg, _, f in turns:
        f.score = -neg
        out.append(f)
    for place, f in enumerate(rrf):
        if f.key[0] in _PLACED_BY_RRF:
            out.insert(min(place, len(out)), f)
    return out


def _from_row(key: tuple[str, str], row: np.ndarray) -> Fused:
    """A record no weighted signal found (e.g. only ``bridge``): its ranks from its features."""
    f = Fused(key)
    for s in SIGNALS:
        j = FEATURES.index(f"{s}_found")
        if row[j]:
            f.ranks[s] = round(1.0 / float(row[j + 1]))
            f.raw[s] = float(row[j + 3])
    return f
