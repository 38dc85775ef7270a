"""Pack hits into a token budget, in chronological order, with citation markers."""

from __future__ import annotations

from collections.abc import Sequence

from agentmem.protocols import TokenCounter
from agentmem.types import Citation, ContextPack, Hit

__all__ = ["pack_context", "render_hit"]

HEADER = "Relevant memories (oldest first):"


def render_hit(hit: Hit, marker: int) -> str:
    """One context line: ``[n] 2023-05-08 · Caroline: text``."""
    when = f"{hit.timestamp:%Y-%m-%d}" if hit.timestamp else "undated"
    who = f"{hit.speaker}: " if hit.speaker and hit.kind == "turn" else ""
    label = "" if hit.kind == "turn" else f"({hit.kind}) "
    return f"[{marker}] {when} · {label}{who}{hit.text}"


def pack_context(hits: Sequence[Hit], *, token_budget: int, counter: TokenCounter) -> ContextPack:
    """Choose hits by relevance until the budget is spent, then lay them out by time.

    Hits are taken best first; one that does not fit is skipped (a shorter, less relevant
    one may still fit) and counted in ``dropped``. The chosen hits are rendered oldest first,
    each with a ``[n]`` marker that its :class:`Citation` resolves. The header and newlines
    count against the budget.

    Parameters
    ----------
    hits
        Search results, best first.
    token_budget
        Maximum tokens of the rendered text (``cl100k_base`` by default).
    counter
        The token counter.
    """
    if token_budget <= 0:
        return ContextPack("", (), (), 0, token_budget, dropped=len(hits))
    used = counter.count(HEADER)
    if used > token_budget:
        return ContextPack("", (), (), 0, token_budget, dropped=len(hits))
    chosen: list[tuple[Hit, int]] = []
    dropped = 0
    for hit in hits:
        # The marker's digits change with the final order; reserve the widest one.
        cost = counter.count("\n" + render_hit(hit, len(hits)))
        if used + cost <= token_budget:
            chosen.append((hit, cost))
            used += cost
        else:
            dropped += 1
    ordered = sorted(
        (h for h, _ in chosen),
        key=lambda h: (h.timestamp is None, h.timestamp or 0, h.metadata.get("seq", 0)),
    )
    lines = [HEADER]
    citations = []
    for marker, hit in enumerate(ordered, start=1):
        lines.append(render_hit(hit, marker))
        citations.append(Citation(marker, hit.id, hit.kind, hit.timestamp, tuple(sorted(hit.signals))))
    text = "\n".join(lines) if ordered else ""
    return ContextPack(
        text=text,
        hits=tuple(ordered),
        citations=tuple(citations),
        tokens=counter.count(text) if text else 0,
        token_budget=token_budget,
        dropped=dropped,
    )
