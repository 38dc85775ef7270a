"""A small LSH index for cosine similarity: ``insert / remove / query / merge``.

Think-in-Memory (Liu et al. 2023) retrieves thoughts through locality-sensitive hashing with
random-hyperplane codes ``F(x) = argmax([xR; −xR])`` (see :mod:`agentmem.kernels.lsh`). One
such code puts a vector into one of ``2m`` buckets, too coarse alone and too fine to find every
neighbour, so this index follows the standard amplification (Andoni et al. 2015, FALCONN):

* a **table** keys a vector by ``hashes_per_table`` codes at once, i.e. one of
  ``(2m)^hashes_per_table`` buckets;
* there are ``n_tables`` independent tables (different random planes);
* **multi-probe** (Lv et al. 2007): a query visits, besides its home bucket in every table,
  the nearby buckets in order of their score gap ``Σ_i (max_j s_ij − s_i,c_i)``, where
  ``s_i = [qR_i; −qR_i]``; the buckets of all tables are ranked together by that gap. It stops
  after ``probes`` buckets, or as soon as the buckets visited hold ``max_scan`` of the store.

The candidates are then re-ranked by exact cosine, so a query never returns a wrong score,
only (rarely) misses a neighbour. ``stats`` counts how much of the store queries scanned.

The shape follows datasketch's ``MinHashLSH``: parameters validated up front, keys are
strings, ``insert`` refuses a key already present, ``merge`` unions an index built with the
same parameters. Codes can be handed back to ``insert`` (``codes=``) so a store that persists
them rebuilds the index without rehashing; :attr:`LSHIndex.signature` names the parameters a
code was made with.

>>> import numpy as np
>>> idx = LSHIndex(4, n_planes=2, hashes_per_table=1, n_tables=2, probes=8)
>>> idx.insert("a", np.array([1.0, 0.0, 0.0, 0.0])); idx.insert("b", np.array([0.0, 1.0, 0.0, 0.0]))
>>> [key for key, _ in idx.query(np.array([0.9, 0.1, 0.0, 0.0]), 1)]
['a']
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agentmem.errors import ValidationError
from agentmem.kernels.lsh import lsh_codes, lsh_projections, random_planes

__all__ = ["LSHIndex", "LSHStats"]


@dataclass(slots=True)
class LSHStats:
    """Running totals over the queries an index answered."""

    queries: int = 0
    scanned: int = 0  # distinct live candidates scored exactly, summed over queries
    stored: int = 0  # live vectors at query time, summed over queries

    @property
    def scan_fraction(self) -> float:
        """Mean fraction of the store scored per query."""
        return self.scanned / self.stored if self.stored else 0.0


class LSHIndex:
    """Cosine LSH over string keys with exact re-ranking.

    Parameters
    ----------
    dim
        Vector dimension.
    n_planes
        ``m``: hyperplanes per code; a code takes one of ``2m`` values.
    hashes_per_table
        Codes concatenated into one table key.
    n_tables
        Independent hash tables.
    probes
        Most buckets a query visits, over all tables together (at least ``n_tables``).
    max_scan
        Stop probing once the visited buckets hold this fraction of the store (``None``: only
        ``probes`` limits). The home bucket of every table is always visited.
    seed
        Seed of the random planes; two indexes can only be merged when it matches.
    center
        A point subtracted from (unit) vectors before hashing, typically the mean of the data.
        Sentence embeddings share a common direction (MiniLM: the mean of a corpus has norm
        ≈ 0.4), which crowds hyperplanes through the origin into a few buckets; hashing
        ``x − center`` balances them (docs/benchmarks.md). Scores are always the cosine of the
        original vectors.
    device
        ``None`` (numpy / torch on the CPU) or a torch device for bulk hashing in
        :meth:`insert_many`.
    """

    def __init__(
        self,
        dim: int,
        *,
        n_planes: int = 16,
        hashes_per_table: int = 2,
        n_tables: int = 8,
        probes: int = 64,
        max_scan: float | None = None,
        seed: int = 0,
        center: np.ndarray | None = None,
        device: str | None = None,
    ) -> None:
        if dim < 1:
            raise ValidationError(f"dim must be >= 1, got {dim}")
        if n_planes < 1:
            raise ValidationError(f"n_planes must be >= 1, got {n_planes}")
        if not 1 <= hashes_per_table <= 4:
            raise ValidationError(f"hashes_per_table must be in [1, 4], got {hashes_per_table}")
        if n_tables < 1:
            raise ValidationError(f"n_tables must be >= 1, got {n_tables}")
        if probes < n_tables:
            raise ValidationError(f"probes ({probes}) must be >= n_tables ({n_tables})")
        if max_scan is not None and not 0.0 < max_scan <= 1.0:
            raise ValidationError(f"max_scan must be in (0, 1], got {max_scan}")
        self.dim = dim
        self.n_planes = n_planes
        self.hashes_per_table = hashes_per_table
        self.n_tables = n_tables
        self.probes = probes
        self.max_scan = max_scan
        self.seed = seed
        self.device = device
        self.planes = random_planes(dim, n_tables * hashes_per_table, n_planes, seed=seed)
        if center is not None:
            center = np.asarray(center, dtype=np.float32).reshape(-1)
            if center.shape != (dim,) or not np.isfinite(center).all():
                raise ValidationError(f"center must be a finite vector of dimension {dim}")
        self.center = center
        self.stats = LSHStats()
        self._radix = (2 * n_planes) ** np.arange(hashes_per_table, dtype=np.int64)
        self._keys: list[str | None] = []
        self._slot: dict[str, int] = {}
        # Slot-indexed buffers with spare capacity (doubling), so single inserts stay O(1).
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._codes = np.zeros((0, n_tables * hashes_per_table), dtype=np.int16)
        self._alive = np.zeros(0, dtype=bool)
        self._buckets: list[dict[int, list[np.ndarray]]] = [{} for _ in range(n_tables)]

    # -- identity ------------------------------------------------------------------------
    @property
    def signature(self) -> str:
        """A short id of the hash functions: codes are reusable iff the signature matches."""
        raw = f"tim-lsh/v1/{self.dim}/{self.n_planes}/{self.hashes_per_table}/{self.n_tables}/{self.seed}"
        if self.center is not None:
            raw += "/" + hashlib.sha1(self.center.tobytes()).hexdigest()
        return hashlib.sha1(raw.encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, key: object) -> bool:
        return key in self._slot

    def keys(self) -> list[str]:
        return list(self._slot)

    def codes(self, key: str) -> list[int]:
        """The codes of ``key`` (``n_tables * hashes_per_table`` ints), for persisting."""
        return [int(c) for c in self._codes[self._get_slot(key)]]

    def vector(self, key: str) -> np.ndarray:
        return self._vectors[self._get_slot(key)].copy()

    def hash(self, vectors: np.ndarray) -> np.ndarray:
        """Codes ``[n, n_tables * hashes_per_table]`` for these vectors (nothing is stored)."""
        return lsh_codes(self._centered(self._as_matrix(vectors)), self.planes, device=self.device)

    # -- writes --------------------------------------------------------------------------
    def insert(self, key: str, vector: np.ndarray, *, codes: Sequence[int] | None = None) -> None:
        """Add one vector under ``key`` (a key already present is a :class:`ValidationError`)."""
        self.insert_many([key], np.asarray(vector).reshape(1, -1), codes=None if codes is None else [codes])

    def insert_many(
        self,
        keys: Sequence[str],
        vectors: np.ndarray,
        *,
        codes: Sequence[Sequence[int]] | np.ndarray | None = None,
    ) -> None:
        """Add many vectors at once (hashed in bulk; ``codes`` skips hashing)."""
        mat = self._as_matrix(vectors)
        if len(keys) != mat.shape[0]:
            raise ValidationError(f"{len(keys)} keys for {mat.shape[0]} vectors")
        if len(set(keys)) != len(keys):
            raise ValidationError("duplicate keys in one insert")
        clash = [k for k in keys if k in self._slot]
        if clash:
            raise ValidationError(f"key {clash[0]!r} is already in the index; remove it first")
        if not keys:
            return
        if codes is None:
            code_arr = self.hash(mat)
        else:
            code_arr = np.asarray(codes, dtype=np.int16).reshape(len(keys), -1)
            if code_arr.shape[1] != self._codes.shape[1] or (
                code_arr.size and (code_arr.min() < 0 or code_arr.max() >= 2 * self.n_planes)
            ):
                raise ValidationError("codes do not match this index's parameters; rehash them")
        start = len(self._keys)
        slots = np.arange(start, start + len(keys), dtype=np.int64)
        self._reserve(start + len(keys))
        self._vectors[start : start + len(keys)] = mat
        self._codes[start : start + len(keys)] = code_arr
        self._alive[start : start + len(keys)] = True
        self._keys.extend(keys)
        self._slot.update(zip(keys, slots.tolist(), strict=True))
        self._add_to_buckets(slots, code_arr)

    def remove(self, key: str) -> None:
        """Remove ``key`` (absent keys raise :class:`ValidationError`); space is reclaimed lazily."""
        slot = self._get_slot(key)
        del self._slot[key]
        self._keys[slot] = None
        self._alive[slot] = False
        if len(self._keys) > 1024 and len(self._slot) < len(self._keys) // 2:
            self._compact()

    def merge(self, other: LSHIndex) -> None:
        """Add every entry of ``other`` (same parameters, disjoint keys) without rehashing."""
        if other.signature != self.signature:
            raise ValidationError("cannot merge LSH indexes built with different parameters")
        keys = other.keys()
        slots = [other._slot[k] for k in keys]
        self.insert_many(keys, other._vectors[slots], codes=other._codes[slots])

    # -- reads ---------------------------------------------------------------------------
    def candidates(self, vector: np.ndarray) -> list[str]:
        """Keys in the buckets a query probes (unordered); what :meth:`query` re-ranks."""
        return [self._keys[s] for s in self._candidate_slots(self._as_matrix(vector)[0])]  # type: ignore[misc]

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Up to ``k`` ``(key, cosine)`` pairs among the candidates, best first."""
        return self.query_many(np.asarray(vector).reshape(1, -1), k)[0]

    def query_many(self, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """:meth:`query` for each row of ``vectors``."""
        if k < 1:
            raise ValidationError(f"k must be >= 1, got {k}")
        mat = self._as_matrix(vectors)
        scores = lsh_projections(self._centered(mat), self.planes) if len(self._slot) else None
        out: list[list[tuple[str, float]]] = []
        for i, q in enumerate(mat):
            if scores is None:
                out.append([])
                continue
            slots = self._probe(scores[i])
            self.stats.queries += 1
            self.stats.scanned += len(slots)
            self.stats.stored += len(self._slot)
            sims = _dot(self._vectors[slots], q)
            top = np.argsort(-sims, kind="stable")[:k] if len(slots) <= 4 * k else _topk(sims, k)
            out.append([(self._keys[slots[j]], float(sims[j])) for j in top])  # type: ignore[misc]
        return out

    def exact(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Brute-force top ``k`` over every live vector (the ground truth LSH approximates)."""
        q = self._as_matrix(vector)[0]
        slots = np.flatnonzero(self._alive)
        if not len(slots):
            return []
        sims = _dot(self._vectors[slots], q)
        return [(self._keys[slots[j]], float(sims[j])) for j in _topk(sims, k)]  # type: ignore[misc]

    # -- internals -----------------------------------------------------------------------
    def _as_matrix(self, vectors: np.ndarray) -> np.ndarray:
        mat = np.asarray(vectors, dtype=np.float32)
        if mat.ndim == 1:
            mat = mat.reshape(1, -1)
        if mat.ndim != 2 or mat.shape[1] != self.dim:
            raise ValidationError(f"expected vectors of dimension {self.dim}, got shape {mat.shape}")
        if not np.isfinite(mat).all():
            raise ValidationError("vectors must be finite")
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        if (norms == 0).any():
            raise ValidationError("zero vectors have no direction to hash")
        return mat / norms

    def _centered(self, mat: np.ndarray) -> np.ndarray:
        return mat if self.center is None else mat - self.center

    def _reserve(self, n: int) -> None:
        cap = len(self._alive)
        if n <= cap:
            return
        new = max(n, 2 * cap, 64)
        for name in ("_vectors", "_codes", "_alive"):
            old = getattr(self, name)
            buf = np.zeros((new, *old.shape[1:]), dtype=old.dtype)
            buf[: len(self._keys)] = old[: len(self._keys)]
            setattr(self, name, buf)

    def _get_slot(self, key: str) -> int:
        try:
            return self._slot[key]
        except KeyError:
            raise ValidationError(f"key {key!r} is not in the index") from None

    def _table_keys(self, codes: np.ndarray) -> np.ndarray:
        """``[n, n_tables]`` bucket ids: each table's codes read as base-``2m`` digits."""
        per = codes.astype(np.int64).reshape(codes.shape[0], self.n_tables, self.hashes_per_table)
        return per @ self._radix

    def _add_to_buckets(self, slots: np.ndarray, codes: np.ndarray) -> None:
        tkeys = self._table_keys(codes)
        for t, table in enumerate(self._buckets):
            col = tkeys[:, t]
            order = np.argsort(col, kind="stable")
            uniq, starts = np.unique(col[order], return_index=True)
            for u, part in zip(uniq.tolist(), np.split(slots[order], starts[1:]), strict=True):
                table.setdefault(u, []).append(part)

    def _bucket(self, t: int, key: int) -> np.ndarray | None:
        parts = self._buckets[t].get(key)
        if not parts:
            return None
        if len(parts) > 1:  # consolidate appended pieces once, on first read
            parts[:] = [np.concatenate(parts)]
        return parts[0]

    def _probe_order(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Buckets to visit as ``(table, bucket id)`` arrays, smallest score gap first.

        ``scores`` is ``[n_hashes, 2m]`` for one query. For each table the ``q`` best values of
        each of its codes are combined; the gap of a combination is the sum of its codes' gaps.
        """
        h, m2 = self.n_tables, scores.shape[1]
        order = np.argsort(-scores, axis=1)[:, : min(m2, self.probes)]
        gaps = np.take_along_axis(scores, order[:, :1], axis=1) - np.take_along_axis(scores, order, axis=1)
        q = order.shape[1]
        order = order.reshape(h, self.hashes_per_table, q)
        gaps = gaps.reshape(h, self.hashes_per_table, q)
        combo_gap = np.zeros((h, 1), dtype=np.float32)
        combo_key = np.zeros((h, 1), dtype=np.int64)
        for i in range(self.hashes_per_table):
            combo_gap = (combo_gap[:, :, None] + gaps[:, i, None, :]).reshape(h, -1)
            combo_key = (combo_key[:, :, None] + order[:, i, None, :] * self._radix[i]).reshape(h, -1)
            if combo_gap.shape[1] > self.probes:  # keep each table's best few before widening
                keep = np.argsort(combo_gap, axis=1, kind="stable")[:, : self.probes]
                combo_gap = np.take_along_axis(combo_gap, keep, axis=1)
                combo_key = np.take_along_axis(combo_key, keep, axis=1)
        tables = np.repeat(np.arange(h), combo_gap.shape[1])
        flat = np.argsort(combo_gap.ravel(), kind="stable")[: self.probes]
        return tables[flat], combo_key.ravel()[flat]

    def _probe(self, scores: np.ndarray) -> np.ndarray:
        """Live slots in the probed buckets. Every table's home bucket (gap 0) comes first."""
        tables, bucket_ids = self._probe_order(scores)
        limit = np.inf if self.max_scan is None else self.max_scan * len(self._slot)
        found: list[np.ndarray] = []
        total = 0
        for i, (t, b) in enumerate(zip(tables.tolist(), bucket_ids.tolist(), strict=True)):
            if i >= self.n_tables and total >= limit:
                break
            arr = self._bucket(t, b)
            if arr is not None:
                found.append(arr)
                total += len(arr)
        if not found:
            return np.zeros(0, dtype=np.int64)
        slots = np.unique(np.concatenate(found))
        return slots[self._alive[slots]]

    def _candidate_slots(self, q: np.ndarray) -> np.ndarray:
        if not self._slot:
            return np.zeros(0, dtype=np.int64)
        return self._probe(lsh_projections(self._centered(q.reshape(1, -1)), self.planes)[0])

    def _compact(self) -> None:
        keys = list(self._slot)
        slots = [self._slot[k] for k in keys]
        vectors, codes = self._vectors[slots], self._codes[slots]
        self._keys, self._slot = [], {}
        self._alive[:] = False
        self._buckets = [{} for _ in range(self.n_tables)]
        self.insert_many(keys, vectors, codes=codes)


def _dot(rows: np.ndarray, q: np.ndarray) -> np.ndarray:
    # einsum's own loop, not BLAS: a matrix-vector product this small gains nothing from BLAS
    # threads and loses badly to them when the cores are busy.
    return np.einsum("nd,d->n", rows, q)


def _topk(sims: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, largest first (ties by index)."""
    if len(sims) <= k:
        return np.argsort(-sims, kind="stable")
    part = np.argpartition(-sims, k - 1)[:k]
    return part[np.lexsort((part, -sims[part]))]

