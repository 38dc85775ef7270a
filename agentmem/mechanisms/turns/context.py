"""The in-context view of a turn, from vectors: the turn's embedding plus a share of its predecessor's.

A reply ("Yes, last Tuesday!") means little alone; the turn it answers makes it findable. The
turn component searches each turn by the better of two cosines: with the turn's own vector and
with its in-context view,

.. math::

    c_i = \\frac{v_i + w \\, v_{p(i)}}{\\lVert v_i + w \\, v_{p(i)} \\rVert},

where ``v_{p(i)}`` is the vector of the turn before it in the same session (no term for a
session's first turn, a document or a turn outside a session) and ``w`` is
``RecallConfig.context_weight``. The view needs no embedding of its own: it is built from the
vectors the turns are stored with, in the write path and when an index is rebuilt alike.

>>> v = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
>>> np.round(context_vectors(v, np.array([-1, 0]), weight=1.0), 3)
array([[1.   , 0.   ],
       [0.707, 0.707]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

__all__ = ["context_vectors"]


def context_vectors(plain: np.ndarray, previous: np.ndarray, *, weight: float,
                    before: np.ndarray | None = None) -> np.ndarray:
    """In-context views of ``plain`` (``[n, d]``), each normalised to unit length.

    Parameters
    ----------
    plain
        The turns' own vectors.
    previous
        Per turn, the row of its predecessor in ``plain``, ``-1`` for none, or ``-2`` for a
        predecessor given in ``before`` instead.
    weight
        The predecessor's share ``w``.
    before
        ``[n, d]``: the predecessor's vector of the turns marked ``-2`` (other rows unused).
    """
    prev = np.asarray(previous)
    base = np.asarray(plain, dtype=np.float32)
    out = base.copy()
    w = np.float32(weight)
    inside = prev >= 0
    out[inside] += w * base[prev[inside]]
    given = prev == -2
    if given.any():
        if before is None:
            raise ValueError("previous marks rows given in `before`, but `before` is None")
        out[given] += w * np.asarray(before, dtype=np.float32)[given]
    changed = inside | given
    norms = np.linalg.norm(out[changed], axis=1, keepdims=True)
    out[changed] /= np.where(norms > 0, norms, 1.0)
    return out
