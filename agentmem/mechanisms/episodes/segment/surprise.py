"""Event boundaries where surprise is high (EM-LLM, Fountas et al. 2024, eq. 1).

EM-LLM cuts a token stream into episodes where the model's surprise ``-log p(x_t | x_<t)``
exceeds a threshold computed over a trailing window,

.. math::

    s_t > T_t = \\mu_{t-\\tau:t} + \\gamma \\, \\sigma_{t-\\tau:t},

and its shipped configurations use ``γ = 1.0``, at least 8 and at most 128 tokens per block.
agentmem applies the same rule to a series of *text units* (turns of a conversation, sentence
groups of a document), whose score is the mean surprisal of their tokens given the preceding
stream. The text-level defaults (:class:`~agentmem.config.EpisodeConfig`) are ``γ = 1.0``, a
trailing window of 16 units, at least 3 and at most 24 units per episode.

:func:`surprise_boundaries` is vectorised; :func:`surprise_boundaries_reference` is the plain
loop it is tested against; :class:`SurpriseDetector` makes the same decisions one score at a
time (the streaming path).

>>> surprise_boundaries([1.0, 1.0, 1.0, 5.0, 1.0, 1.0], window=3, gamma=1.0, min_size=1, max_size=10)
[3]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from agentmem.errors import ValidationError

__all__ = ["SurpriseDetector", "split_oversized", "surprise_boundaries", "surprise_boundaries_reference"]


def _validate(window: int, gamma: float, min_size: int, max_size: int) -> None:
    if window < 2:
        raise ValidationError("window must be >= 2 (a standard deviation needs two values)")
    if not np.isfinite(gamma):
        raise ValidationError("gamma must be finite")
    if min_size < 1:
        raise ValidationError("min_size must be >= 1")
    if max_size < min_size:
        raise ValidationError(f"max_size ({max_size}) must be >= min_size ({min_size})")


def _fires(x: float, past: np.ndarray, gamma: float) -> bool:
    """The EM-LLM test for one position: ``x > mean(past) + gamma * std(past)``."""
    return len(past) >= 2 and x > float(past.mean()) + gamma * float(past.std())


def surprise_boundaries_reference(
    surprisal: Sequence[float] | np.ndarray,
    *,
    window: int = 16,
    gamma: float = 1.0,
    min_size: int = 3,
    max_size: int = 24,
) -> list[int]:
    """Readable reference of :func:`surprise_boundaries` (one position at a time)."""
    _validate(window, gamma, min_size, max_size)
    s = np.asarray(surprisal, dtype=np.float64)
    out: list[int] = []
    last = 0
    for t in range(1, len(s)):
        size = t - last
        past = s[max(0, t - window) : t]
        if size >= max_size or (size >= min_size and _fires(float(s[t]), past, gamma)):
            out.append(t)
            last = t
    return out


def surprise_boundaries(
    surprisal: Sequence[float] | np.ndarray,
    *,
    window: int = 16,
    gamma: float = 1.0,
    min_size: int = 3,
    max_size: int = 24,
) -> list[int]:
    """Positions where a new segment starts, by the EM-LLM surprise threshold.

    Position ``t`` (``0 < t < N``) starts a segment when the current segment (from the last
    boundary to ``t - 1``) has at least ``min_size`` items and

    .. math:: s_t > \\mu(s_{t-\\tau:t}) + \\gamma \\, \\sigma(s_{t-\\tau:t})

    (population standard deviation over the ``τ = window`` preceding values, or fewer at the
    start of the stream; at least two are needed), or when it has reached ``max_size`` items.
    Every decision depends on the past only, so a stream fed one value at a time
    (:class:`SurpriseDetector`) gets the same boundaries.

    Parameters
    ----------
    surprisal : array_like
        ``[N]`` surprise per item (token or text unit).
    window : int
        Trailing window ``τ`` for the mean and standard deviation.
    gamma : float
        Threshold in standard deviations (EM-LLM: 1.0).
    min_size, max_size : int
        Bounds on segment length in items; the last segment may be shorter than ``min_size``.

    Returns
    -------
    list of int
        Sorted segment start positions, ``0`` excluded.

    Raises
    ------
    ValidationError
        ``window < 2``, ``min_size < 1`` or ``max_size < min_size``.

    Examples
    --------
    >>> surprise_boundaries([0, 0, 0, 0, 0, 0, 0], window=2, gamma=0.0, min_size=1, max_size=3)
    [3, 6]
    """
    _validate(window, gamma, min_size, max_size)
    s = np.asarray(surprisal, dtype=np.float64)
    n = len(s)
    fires = np.zeros(n, dtype=bool)
    for t in range(2, min(window, n)):  # short windows at the start of the stream
        fires[t] = _fires(float(s[t]), s[:t], gamma)
    if n > window:
        past = sliding_window_view(s[:-1], window)  # row i = s[i : i + window], precedes t = i + window
        fires[window:] = s[window:] > past.mean(axis=1) + gamma * past.std(axis=1)
    candidates = np.flatnonzero(fires)
    # The size constraints make the decision sequential, but only over candidates and caps.
    out: list[int] = []
    last = 0
    i = 0
    while True:
        while i < len(candidates) and candidates[i] - last < min_size:
            i += 1
        nxt = int(candidates[i]) if i < len(candidates) else n
        cap = last + max_size
        if cap < nxt and cap < n:
            nxt = cap
        if nxt >= n:
            return out
        out.append(nxt)
        last = nxt


def split_oversized(
    surprisal: Sequence[float] | np.ndarray,
    tokens: Sequence[int] | np.ndarray,
    *,
    max_tokens: int,
    min_size: int = 1,
) -> list[int]:
    """Cuts inside one segment whose units hold more than ``max_tokens`` tokens.

    The segment is cut before its most surprising unit (the first on ties) that leaves at
    least ``min_size`` units on each side, and each part again while it is too long and can
    be cut. A token budget has to be able to hold an episode: EM-LLM caps its events in tokens
    (128 inside the LM); the turn cap alone lets episodes of long turns grow past the
    smallest budget recall packs. Returns sorted positions relative to the segment's start.

    >>> split_oversized([0, 5, 0, 0, 9, 0], [100] * 6, max_tokens=250, min_size=1)
    [1, 2, 4]
    >>> split_oversized([0, 5, 0, 0, 9, 0], [100] * 6, max_tokens=250, min_size=3)
    [3]
    """
    s = np.asarray(surprisal, dtype=np.float64)
    cost = np.asarray(tokens, dtype=np.int64)
    if len(cost) != len(s):
        raise ValidationError(f"{len(s)} scores but {len(cost)} token counts")
    if max_tokens < 1 or min_size < 1:
        raise ValidationError("max_tokens and min_size must be >= 1")
    out: list[int] = []
    todo = [(0, len(s))]
    while todo:
        a, b = todo.pop()
        if int(cost[a:b].sum()) <= max_tokens or b - a < 2 * min_size:
            continue
        j = a + min_size + int(np.argmax(s[a + min_size : b - min_size + 1]))
        out.append(j)
        todo += [(a, j), (j, b)]
    return sorted(out)


class SurpriseDetector:
    """The streaming form of :func:`surprise_boundaries`: feed scores, learn of boundaries.

    Parameters are those of :func:`surprise_boundaries`. ``position`` counts the scores seen,
    ``last`` is the start of the open segment.

    >>> d = SurpriseDetector(window=3, gamma=1.0, min_size=1, max_size=10)
    >>> [d.push(x) for x in [1.0, 1.0, 1.0, 5.0]]
    [False, False, False, True]
    """

    def __init__(
        self,
        *,
        window: int = 16,
        gamma: float = 1.0,
        min_size: int = 3,
        max_size: int = 24,
        position: int = 0,
        last: int = 0,
        history: Sequence[float] = (),
    ) -> None:
        _validate(window, gamma, min_size, max_size)
        self.window, self.gamma, self.min_size, self.max_size = window, gamma, min_size, max_size
        self.position = position
        self.last = last
        self._past: deque[float] = deque(history, maxlen=window)

    @property
    def history(self) -> list[float]:
        """The trailing window of scores (what the next decision is computed over)."""
        return list(self._past)

    def push(self, score: float) -> bool:
        """Take the next score; True when it starts a new segment."""
        t = self.position
        size = t - self.last
        past = np.asarray(self._past, dtype=np.float64)
        cut = t > 0 and (
            size >= self.max_size or (size >= self.min_size and _fires(float(score), past, self.gamma))
        )
        if cut:
            self.last = t
        self._past.append(float(score))
        self.position += 1
        return cut
