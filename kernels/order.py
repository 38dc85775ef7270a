"""The first ``k`` positions of a descending stable sort, without sorting everything.

``np.argsort(-x, kind="stable")[:k]`` sorts all ``n`` values to keep ``k``; over a user's
100k passages that is several milliseconds a call, several calls a search.
:func:`stable_top` selects the candidates with ``np.argpartition`` first and sorts only them,
keeping every value tied with the ``k``-th, so its answer is the full sort's exactly (ties by
position), including the order of NaNs (last, as ``argsort`` puts them).
:func:`stable_top_reference` is the full sort, for tests.
"""

from __future__ import annotations

import numpy as np

__all__ = ["stable_top", "stable_top_reference"]


def stable_top_reference(values: np.ndarray, k: int) -> np.ndarray:
    """``np.argsort(-values, kind="stable")[:k]``."""
    return np.argsort(-np.asarray(values), kind="stable")[: max(k, 0)]


def stable_top(values: np.ndarray, k: int) -> np.ndarray:
    """The indices of the ``k`` largest ``values``, largest first, ties by position: the
    same array as :func:`stable_top_reference`.

    >>> stable_top(np.array([0.5, 2.0, 0.5, 1.0, 0.5]), 3).tolist()
    [1, 3, 0]
    """
    neg = -np.asarray(values).ravel()
    n = len(neg)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= n or n <= 4 * k or np.isnan(neg).any():
        return np.argsort(neg, kind="stable")[:k]
    kth = neg[np.argpartition(neg, k - 1)[k - 1]]  # the k-th smallest of -values
    pool = np.flatnonzero(neg <= kth)  # every value tied with the k-th comes along
    return pool[np.argsort(neg[pool], kind="stable")][:k]
