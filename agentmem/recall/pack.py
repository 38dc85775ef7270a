"""Pack hits into a token budget, in chronological order, with citation markers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agentmem.mechanisms.base import Candidate
from agentmem.protocols import TokenCounter
from agentmem.types import Citation, ContextPack, Hit, Scope

__all__ = ["episode_spans_of", "facts_first", "pack_context", "render_hit"]

HEADER = "Relevant memories (oldest first):"
FACTS_HEADER = "Facts (what holds now first, with what changed and when):"


def render_hit(hit: Hit, marker: int) -> str:
    """One context line: ``[n] 2023-05-08 · Caroline: text``."""
    when = f"{hit.timestamp:%Y-%m-%d}" if hit.timestamp else "undated"
    who = f"{hit.speaker}: " if hit.speaker and hit.kind == "turn" else ""
    label = "" if hit.kind == "turn" else f"({hit.kind}) "
    return f"[{marker}] {when} · {label}{who}{hit.text}"


def facts_first(hits: Sequence[Hit], candidates: Sequence[Candidate], *, scope: Scope, limit: int = 2) -> list[Hit]:
    """``hits`` led by the first ``limit`` facts fact memory proposed for the query.

    Fact memory proposes only facts that answer the query (the current value for a "now"
    question, the earlier one for "before"), but a fact enters the fused ranking with a small
    weight, so in a long memory it can fall below the ``k`` hits. A packed context should
    still state it: the proposed facts missing from ``hits`` come first (their ``signals``
    hold the fact rank), the hits follow unchanged.

    >>> h = Hit("t9", "turn", "x", 1.0, Scope("default", "u"), None)
    >>> fact = Candidate("f1", "fact", 3.0, "fact", text="The user lives in Porto.")
    >>> [x.id for x in facts_first([h], [fact, Candidate("t1", "turn", 3.0, "fact")], scope=h.scope)]
    ['f1', 't9']
    """
    have = {(h.kind, h.id) for h in hits}
    proposed = [c for c in candidates if c.kind == "fact"][:limit]
    lead = [
        Hit(c.id, "fact", c.text or "", 0.0, scope, c.timestamp, {c.signal: i}, {c.signal: c.score},
            metadata=dict(c.metadata), superseded_by=c.superseded_by, contradicts=c.contradicts)
        for i, c in enumerate(proposed, start=1)
        if ("fact", c.id) not in have
    ]
    return [*lead, *hits]


def episode_spans_of(hits: Sequence[Hit], episodes: Sequence[Candidate]) -> dict[str, tuple[str, ...]]:
    """For each turn hit that a recalled episode holds, the turns of the first (best-ranked)
    such episode, in order.

    >>> from agentmem.types import Scope
    >>> h = Hit("t2", "turn", "x", 1.0, Scope("default", "u"), None)
    >>> episode_spans_of([h], [Candidate("e", "episode", 0.5, "episode", turn_ids=("t1", "t2"))])
    {'t2': ('t1', 't2')}
    """
    out: dict[str, tuple[str, ...]] = {}
    for hit in hits:
        if hit.kind != "turn":
            continue
        span = next((e.turn_ids for e in episodes if hit.id in e.turn_ids), None)
        if span is not None and len(span) > 1:
            out[hit.id] = tuple(span)
    return out


def pack_context(
    hits: Sequence[Hit], *, token_budget: int, counter: TokenCounter, spans: Mapping[str, Sequence[Hit]] | None = None
) -> ContextPack:
    """Choose hits by relevance until the budget is spent, then lay them out by time.

    Hits are taken best first; one that does not fit is skipped (a shorter, less relevant
    one may still fit) and counted in ``dropped``. With ``spans`` (hit id → the turns of its
    episode, the hit among them), a hit brings its whole span when the span's turns not
    chosen yet fit the remaining budget, else it comes alone. Chosen facts (``kind="fact"``)
    come first under their own header, current ones before superseded ones, each in relevance
    order; the other hits follow oldest first. Each line has a ``[n]`` marker that its
    :class:`Citation` resolves. Headers and newlines count against the budget.

    Parameters
    ----------
    hits
        Search results, best first.
    token_budget
        Maximum tokens of the rendered text (``cl100k_base`` by default).
    counter
        The token counter.
    spans
        Optional episode spans per hit id (:func:`episode_spans_of`).
    """
    if token_budget <= 0:
        return ContextPack("", (), (), 0, token_budget, dropped=len(hits))
    used = counter.count(HEADER)
    if used > token_budget:
        return ContextPack("", (), (), 0, token_budget, dropped=len(hits))
    chosen: dict[tuple[str, str], Hit] = {}
    dropped = 0
    widest = len(hits) + sum(len(v) for v in (spans or {}).values())  # markers' digits: reserve the widest

    def cost(group: Sequence[Hit]) -> int:
        return sum(counter.count("\n" + render_hit(h, widest)) for h in group)

    facts_header = counter.count(FACTS_HEADER + "\n")
    for hit in hits:
        if (hit.kind, hit.id) in chosen:
            continue
        if hit.kind == "fact" and not any(h.kind == "fact" for h in chosen.values()):
            if used + facts_header > token_budget:
                dropped += 1
                continue
            used += facts_header  # the first fact brings its header
        span = [h for h in (spans or {}).get(hit.id, ()) if (h.kind, h.id) not in chosen and h.id != hit.id]
        if span:
            group = [hit, *span]
            c = cost(group)
            if used + c <= token_budget:
                chosen.update({(h.kind, h.id): h for h in group})
                used += c
                continue
        c = cost([hit])
        if used + c <= token_budget:
            chosen[(hit.kind, hit.id)] = hit
            used += c
        else:
            dropped += 1
    facts = [h for h in chosen.values() if h.kind == "fact"]
    facts.sort(key=lambda h: h.superseded_by is not None or h.metadata.get("current") is False)
    ordered = facts + sorted(
        (h for h in chosen.values() if h.kind != "fact"),
        key=lambda h: (h.timestamp is None, h.timestamp or 0, h.metadata.get("seq", 0)),
    )
    lines = [FACTS_HEADER] if facts else []
    citations = []
    for marker, hit in enumerate(ordered, start=1):
        if marker == len(facts) + 1:
            lines.append(HEADER)
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
