"""Turn vectors read in their session's context (late chunking over a conversation).

A reply ("Yes, last Tuesday!") embedded alone says little; read among the turns around it, its
tokens carry what it answers. When the embedder can read several texts as one sequence
(:class:`~agentmem.protocols.ContextEmbedder`), the turns of one write are embedded in
*windows* (:func:`plan_windows`):

* the linked turns (:func:`~agentmem.mechanisms.turns.context.linked`) of each session, in
  order, are packed greedily into runs of consecutive turns whose tokens sum to at most
  ``MemoryConfig.turn_window`` minus the two special tokens (:func:`pack`); each run is a
  window, and each turn's vector is the mean of its own tokens' states in it;
* a write that continues a stored session also reads, before its first run, the session's
  latest stored turns that fit in that window's remaining room (whole turns, nearest first),
  as context that gets no vector;
* a run of one turn with no context, a document, and a turn outside a session are embedded
  alone, by the embedder's ``embed``: a turn without neighbours gets its plain vector.

Vectors are computed once, when a turn is written (or edited: ``Memory.update`` reads the new
text after its stored predecessors); later turns and edits of a neighbour do not change them.
A session stored in one write reads every turn among neighbours on both sides; a session
stored turn by turn reads each turn after up to a window of its predecessors. A vector that a
crash kept from being stored is embedded again alone when the index is rebuilt.
docs/benchmarks.md compares these with embedding each turn alone.

>>> runs([50, 50, 40, 200, 10], room=126)
[[0, 1], [2], [3], [4]]
>>> fill_context([30, 40, 90], room=80)
2
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from agentmem._packing import runs
from agentmem._windows import window_keys
from agentmem.mechanisms.turns.context import linked
from agentmem.protocols import ContextEmbedder, Embedder
from agentmem.types import Turn

__all__ = ["WindowPlan", "context_embedder", "fill_context", "plan_windows", "turn_texts", "turn_vectors"]

SPECIAL_TOKENS = 2  # [CLS] and [SEP]
MAX_CONTEXT_TURNS = 16  # stored turns fetched to fill a write's first window

Previous = Callable[[Turn, int], Sequence[Turn]]
"""``previous(turn, n)``: up to ``n`` stored turns of ``turn``'s session before it, nearest first."""


def fill_context(lengths_nearest_first: Sequence[int], room: int) -> int:
    """How many of the nearest turns fit, whole, in ``room`` tokens."""
    used = taken = 0
    for n in lengths_nearest_first:
        if used + n > room:
            break
        used += n
        taken += 1
    return taken


@dataclass
class WindowPlan:
    """How one write's turns are embedded: ``alone`` (positions embedded by ``embed``) and
    ``windows`` (context texts, positions read together)."""

    alone: list[int] = field(default_factory=list)
    windows: list[tuple[list[str], list[int]]] = field(default_factory=list)


def plan_windows(turns: Sequence[Turn], counts: Callable[[Sequence[str]], list[int]], previous: Previous,
                 window: int) -> WindowPlan:
    """The windows :func:`turn_vectors` embeds ``turns`` in (see the module docstring);
    ``counts`` gives the embedder's tokens per text."""
    room = window - SPECIAL_TOKENS
    plan = WindowPlan()
    sessions: dict[str, list[int]] = {}
    for k, t in enumerate(turns):
        if linked(t) and room > 0:
            sessions.setdefault(str(t.scope.session_id), []).append(k)
        else:
            plan.alone.append(k)
    for members in sessions.values():
        lengths = counts([turns[k].render() for k in members])
        windows = [[members[i] for i in run] for run in runs(lengths, room)]
        first = windows[0]
        left = room - sum(lengths[: len(first)])
        before = list(previous(turns[first[0]], MAX_CONTEXT_TURNS)) if left > 0 else []
        taken = fill_context(counts([t.render() for t in before]), left) if before else 0
        context = [t.render() for t in reversed(before[:taken])]
        for i, run in enumerate(windows):
            ctx = context if i == 0 else []
            if len(run) == 1 and not ctx:
                plan.alone.append(run[0])
            else:
                plan.windows.append((ctx, run))
    plan.alone.sort()
    return plan


def context_embedder(embedder: Embedder) -> ContextEmbedder | None:
    """``embedder`` when it reads windows (:class:`~agentmem.protocols.ContextEmbedder`), else ``None``."""
    try:
        reads = bool(getattr(embedder, "reads_windows", False))
    except Exception:  # noqa: BLE001 - a plug-in whose property fails cannot read windows
        return None
    return embedder if reads else None  # type: ignore[return-value]


def _planned(embedder: Embedder, turns: Sequence[Turn], previous: Previous,
             window: int) -> tuple[ContextEmbedder, WindowPlan] | None:
    """The reader and its plan for ``turns``, or ``None`` when every turn is embedded alone."""
    reader = context_embedder(embedder) if window > 0 else None
    if reader is None:
        return None
    return reader, plan_windows(turns, reader.token_counts, previous, window)


def _window_texts(turns: Sequence[Turn], plan: WindowPlan) -> list[tuple[list[str], list[str]]]:
    return [(ctx, [turns[k].render() for k in run]) for ctx, run in plan.windows]


def turn_vectors(embedder: Embedder, turns: Sequence[Turn], previous: Previous, window: int) -> np.ndarray:
    """``[len(turns), dim]`` vectors of ``turns``, read in windows of ``window`` tokens when the
    embedder can (:func:`plan_windows`), each alone otherwise or when ``window`` is 0."""
    planned = _planned(embedder, turns, previous, window)
    if planned is None:
        return embedder.embed([t.render() for t in turns])
    reader, plan = planned
    out = np.zeros((len(turns), embedder.dim), dtype=np.float32)
    if plan.alone:
        out[plan.alone] = embedder.embed([turns[k].render() for k in plan.alone])
    if plan.windows:
        out[[k for _, run in plan.windows for k in run]] = reader.embed_windows(_window_texts(turns, plan))
    return out


def turn_texts(embedder: Embedder, turns: Sequence[Turn], previous: Previous, window: int) -> list[str]:
    """What :func:`turn_vectors` of ``turns`` embeds, as a write plan lists it: the renderings
    of turns embedded alone, then a key per turn read in a window (:func:`~agentmem._windows.window_keys`)."""
    planned = _planned(embedder, turns, previous, window)
    if planned is None:
        return [t.render() for t in turns]
    _, plan = planned
    keys = [k for w in _window_texts(turns, plan) for k in window_keys(w)]
    return [turns[k].render() for k in plan.alone] + keys
