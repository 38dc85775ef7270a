"""The in-context view of a turn: the turn read after the one before it in its session.

A reply ("Yes, last Tuesday!") means little alone; the turn it answers makes it findable. The
turn component searches each turn by the better of two cosines, with the turn's own vector and
with its in-context view, built one of two ways (``RecallConfig.context_source``):

* ``"text"`` (default): the embedding of the predecessor's ``speaker: content`` followed by the
  turn's rendering (:func:`context_text`), one more embedding per turn;
* ``"vectors"``: no embedding of its own, the turn's vector plus a share ``w``
  (``RecallConfig.context_weight``) of its predecessor's, normalised (:func:`context_vectors`):

.. math::

    c_i = \\frac{v_i + w \\, v_{p(i)}}{\\lVert v_i + w \\, v_{p(i)} \\rVert}.

A session's first turn, a document and a turn outside a session have no predecessor: their
view is their own vector. Which turn precedes which is :func:`predecessors`' walk, shared by
both.

>>> v = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
>>> np.round(context_vectors(v, np.array([-1, 0]), weight=1.0), 3)
array([[1.   , 0.   ],
       [0.707, 0.707]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from agentmem.types import Turn

__all__ = ["context_text", "context_vectors", "linked", "predecessors"]


def linked(turn: Turn) -> bool:
    """Whether a turn has conversational neighbours: it is in a session and not a document."""
    return turn.scope.session_id is not None and turn.role != "document"


def context_text(turn: Turn, previous: Turn) -> str:
    """The text of the ``"text"`` in-context view: the previous turn, then this one's rendering."""
    return f"{previous.speaker}: {previous.content}\n{turn.render()}"


def predecessors(turns: Sequence[Turn], stored_before: Callable[[str, int], Turn | None] | None
                 ) -> tuple[np.ndarray, dict[int, Turn]]:
    """Per turn of ``turns`` (in stored order), the position of its predecessor among them,
    ``-2`` when it is a turn stored before them (given in the second result, by position), or
    ``-1`` for none.

    Only linked turns (:func:`linked`) have or are predecessors. A session's first turn among
    ``turns`` asks ``stored_before(session_id, seq)`` (``None``: ``turns`` are all there is).
    """
    previous = np.full(len(turns), -1)
    stored: dict[int, Turn] = {}
    latest: dict[str, int] = {}  # per session, the position of its latest linked turn so far
    for k, t in enumerate(turns):
        if not linked(t):
            continue
        sid = t.scope.session_id
        assert sid is not None
        if sid in latest:
            previous[k] = latest[sid]
        elif stored_before is not None and (before := stored_before(sid, t.seq)) is not None:
            previous[k] = -2
            stored[k] = before
        latest[sid] = k
    return previous, stored


def context_vectors(plain: np.ndarray, previous: np.ndarray, *, weight: float,
                    before: np.ndarray | None = None) -> np.ndarray:
    """``"vectors"`` in-context views of ``plain`` (``[n, d]``), each normalised to unit length.

    Parameters
    ----------
    plain
        The turns' own vectors.
    previous
        Per turn, the row of its predecessor in ``plain``, ``-1`` for none, or ``-2`` for a
        predecessor given in ``before`` instead (as :func:`predecessors` returns).
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
