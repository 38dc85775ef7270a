"""Fact memory's pure functions: the life cycle of facts, and reading a query.

Facts are *derived*: :func:`derive_facts` folds the statements read from a subject's turns
(:class:`Mention`, in time order) into facts, applying Think-in-Memory's operations (Liu et
al. 2023, §3.3) to facts with validity:

* **insert** — a statement of a new (subject, relation, object) starts a fact, valid from the
  turn's time;
* **merge** — restating a fact that still holds adds the turn to its ``source_ids`` (the same
  value named another way counts: :func:`~agentmem.statements.same_value`);
* **forget by supersession** — a newer value of a *functional* relation (lives in, works at,
  is called, role, status, …) ends the older fact (``valid_to``, ``superseded_by``), and an
  announced change of one's work ("I run my own bakery now") ends the employer, or the
  business, the other relation held (:data:`_EXCLUSIVE`); so does
  an explicit earlier value ("I moved from Lisbon to Porto") and an ending ("I left Acme");
* **resolution** — "my home country" (:data:`~agentmem.statements.HOMELAND`) is read as the
  subject's "is from" value when one is stated ("my home country, Sweden"), at any time;
* **contradiction** — a statement and its negation ("I have never used Flask" / "I wrote the
  Flask route") mark each other in ``contradicts``; both stay until one is superseded. A
  negation that announces a change ("I don't use Flask any more") ends the fact instead.

Because facts are a function of the mentions, deleting a turn re-derives its subjects' facts
from the mentions left: nothing survives that only the deleted turn supported.

>>> from datetime import datetime
>>> from agentmem.statements import extract_statements
>>> from agentmem.types import Scope
>>> said = [("t1", datetime(2023, 5, 1), "I live in Lisbon."), ("t2", datetime(2024, 3, 2), "I moved to Porto.")]
>>> ms = [Mention(t, at, i, s) for i, (t, at, text) in enumerate(said) for s in extract_statements(text, speaker="Ada")]
>>> [f.text for f in derive_facts(ms, Scope("default", "ada"))]
['Ada lived in Lisbon (until 2024-03-02; then: Porto).', 'Ada lives in Porto (since 2024-03-02; before: Lisbon).']
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from agentmem.statements import HOMELAND, Statement, generic_value, render_statement, same_value
from agentmem.types import Fact, Scope

__all__ = [
    "Intent", "Mention", "derive_facts", "names_object", "query_intent", "query_relations", "render_fact", "score_fact",
]

Intent = Literal["now", "before", "change"]


@dataclass(frozen=True, slots=True)
class Mention:
    """A statement read from one turn: the turn id, its time and order, the statement."""

    turn_id: str
    at: datetime
    seq: int
    statement: Statement


@dataclass(slots=True)
class _Work:
    id: str
    subject: str
    relation: str
    object: str
    negated: bool
    valid_from: datetime | None
    valid_to: datetime | None = None
    sources: list[str] = field(default_factory=list)
    superseded_by: str | None = None
    contradicts: list[str] = field(default_factory=list)
    previous: str | None = None
    order: int = 0


def _fact_id(scope: Scope, subject: str, relation: str, obj: str, negated: bool, first: str) -> str:
    key = "\x1f".join((scope.tenant, scope.user_id, subject.lower(), relation, obj.lower(), str(negated), first))
    return hashlib.sha1(key.encode()).hexdigest()[:32]


def _day(ts: datetime | None) -> str | None:
    return None if ts is None else f"{ts:%Y-%m-%d}"


# relations that hold one value between them: an announced change of one ends the other
_EXCLUSIVE: dict[str, tuple[str, ...]] = {"works at": ("runs",), "runs": ("works at",)}


def derive_facts(mentions: Sequence[Mention], scope: Scope) -> list[Fact]:
    """Fold ``mentions`` (any order; sorted by ``(at, seq)`` here) into facts.

    Parameters
    ----------
    mentions
        Statements with the turn each came from.
    scope
        The owner (tenant and user) the facts belong to; part of each fact id.

    Returns
    -------
    list of Fact
        Every fact ever derived (current and past), in order of first appearance, each with
        its sentence in ``text`` (:func:`render_fact`). Ids are stable: the same mentions give
        the same ids.
    """
    works: list[_Work] = []

    def live(subject: str, relation: str, obj: str | None, negated: bool) -> list[_Work]:
        return [
            w for w in works
            if w.valid_to is None and w.negated == negated and w.subject.lower() == subject.lower()
            and w.relation == relation and (obj is None or same_value(relation, w.object, obj))
        ]

    def start(s: Statement, obj: str, negated: bool, m: Mention, *, valid_from: datetime | None, tag: str = "") -> _Work:
        w = _Work(_fact_id(scope, s.subject, s.relation, obj, negated, m.turn_id + tag), s.subject, s.relation, obj,
                  negated, valid_from, sources=[m.turn_id], order=len(works))
        works.append(w)
        return w

    def end(w: _Work, at: datetime, by: _Work | None, m: Mention) -> None:
        w.valid_to = at
        w.superseded_by = by.id if by is not None else None
        if m.turn_id not in w.sources:
            w.sources.append(m.turn_id)

    homeland = {m.statement.subject.lower(): m.statement.object for m in sorted(mentions, key=lambda x: (x.at, x.seq))
                if m.statement.relation == "is from" and not m.statement.negated and not HOMELAND.fullmatch(m.statement.object)}
    for m in sorted(mentions, key=lambda x: (x.at, x.seq)):
        s = m.statement
        if HOMELAND.fullmatch(s.object) and s.subject.lower() in homeland:  # "my home country" -> "Sweden"
            s = replace(s, object=homeland[s.subject.lower()])
        prior: _Work | None = None
        if s.previous is not None and s.functional:
            same = live(s.subject, s.relation, s.previous, False)
            prior = same[0] if same else start(s, s.previous, False, m, valid_from=None, tag="<previous")
            if m.turn_id not in prior.sources:
                prior.sources.append(m.turn_id)
        if s.ended:
            same = live(s.subject, s.relation, s.object, False)
            for w in same:
                end(w, m.at, None, m)
            told = [w for w in works if w.valid_to is not None and w.superseded_by is None and not w.negated
                    and w.subject.lower() == s.subject.lower() and w.relation == s.relation
                    and same_value(s.relation, w.object, s.object)]
            if not same and told:  # the ending told again: one more source of the ended fact
                if m.turn_id not in told[-1].sources:
                    told[-1].sources.append(m.turn_id)
            elif not same:
                w = start(s, s.object, False, m, valid_from=None, tag="<ended")
                w.valid_to = m.at
            continue
        # a restatement merges into its live twin; else the new fact ends (announced change) or
        # contradicts the live facts of the opposite polarity
        same = live(s.subject, s.relation, s.object, s.negated)
        if same:
            same[0].sources.append(m.turn_id)
            if generic_value(s.relation, same[0].object) and not generic_value(s.relation, s.object):
                same[0].object = s.object  # "my business" named later: "my dance studio"
            continue
        w = start(s, s.object, s.negated, m, valid_from=m.at)
        for o in live(s.subject, s.relation, s.object, not s.negated):
            if s.changed:
                end(o, m.at, w, m)
            else:
                o.contradicts.append(w.id)
                w.contradicts.append(o.id)
        if s.negated:
            continue
        if s.functional:
            for old in live(s.subject, s.relation, None, False):
                if old is not w:
                    end(old, m.at, w, m)
            rivals = _EXCLUSIVE.get(s.relation, ())
            if s.changed:  # "I run my own bakery now" ends "works at Acme" (and the other way round)
                for rel in rivals:
                    for old in live(s.subject, rel, None, False):
                        end(old, m.at, w, m)
            earlier = [
                x for x in works
                if x is not w and not x.negated and x.valid_to is not None and x.subject.lower() == s.subject.lower()
                and (x.relation == s.relation and not same_value(s.relation, x.object, s.object) or x.relation in rivals)
                and x.valid_to <= m.at
            ]
            if earlier:
                w.previous = max(earlier, key=lambda x: (x.valid_to or m.at, x.order)).object
    by_id = {w.id: w for w in works}
    facts = [
        Fact(
            id=w.id, scope=scope, subject=w.subject, relation=w.relation, object=w.object, negated=w.negated,
            valid_from=w.valid_from, valid_to=w.valid_to, source_ids=tuple(dict.fromkeys(w.sources)),
            superseded_by=w.superseded_by, contradicts=tuple(dict.fromkeys(w.contradicts)),
        )
        for w in works
    ]
    return [replace(f, text=render_fact(f, {k: _as_fact(v, scope) for k, v in by_id.items()},
                                        previous=by_id[f.id].previous)) for f in facts]


def _as_fact(w: _Work, scope: Scope) -> Fact:
    return Fact(w.id, scope, w.subject, w.relation, w.object, w.negated, w.valid_from, w.valid_to)


def render_fact(fact: Fact, others: Mapping[str, Fact] | None = None, *, previous: str | None = None) -> str:
    """The fact as a sentence with its time and what changed.

    ``"Ada lives in Porto (since 2024-03-02; before: Lisbon)."``,
    ``"Ada lived in Lisbon (until 2024-03-02; then: Porto)."``,
    ``"The user has never used Flask (as of 2024-01-10; contradicted: the user uses Flask, 2024-02-01)."``.
    ``others`` resolves ``superseded_by`` and ``contradicts`` ids; ``previous`` is the value
    this fact replaced.
    """
    others = others or {}
    st = Statement(fact.subject, fact.relation, fact.object, negated=fact.negated, ended=not fact.current)
    text = render_statement(st).rstrip(".")
    notes: list[str] = []
    if fact.current:
        when = _day(fact.valid_from)
        if when:
            notes.append(f"since {when}" if previous else f"as of {when}")
        if previous:
            notes.append(f"before: {previous}")
    else:
        notes.append(f"until {_day(fact.valid_to)}")
        nxt = others.get(fact.superseded_by or "")
        if nxt is not None:
            notes.append(f"then: {nxt.object}" if not nxt.negated else "then: no longer")
    for cid in fact.contradicts:
        c = others.get(cid)
        if c is not None:
            said = render_statement(Statement(c.subject, c.relation, c.object, negated=c.negated)).rstrip(".")
            said = "the user" + said[8:] if said.startswith("The user") else said
            notes.append(f"contradicted: {said}" + (f", {_day(c.valid_from)}" if c.valid_from else ""))
    return text + (f" ({'; '.join(notes)})" if notes else "") + "."


# -- reading a query ---------------------------------------------------------------------------

_BEFORE = re.compile(r"\b(?:before|previous(?:ly)?|used to|former(?:ly)?|earlier|old|originally|first|past|ago|prior)\b")
_CHANGE = re.compile(r"\b(?:change[ds]?|changing|switch(?:ed)?|move[ds]?|moving|when did|since when|how long|new|different)\b")
_CUES: dict[str, tuple[str, ...]] = {
    "lives in": ("live", "lives", "lived", "living", "home", "city", "town", "country", "move", "moved", "based", "reside", "where"),
    "works at": ("work", "works", "worked", "working", "job", "employer", "company", "employed", "firm"),
    "is called": ("name", "called", "call"),
    "role": ("role", "job", "occupation", "profession", "title", "career", "do for a living", "do for work", "work as"),
    "runs": ("business", "company", "store", "shop", "studio", "run", "runs", "running", "owner", "job", "career",
             "do for a living", "do for work"),
    "status": ("married", "single", "engaged", "divorced", "relationship", "status", "retired", "vegetarian", "vegan"),
    "age": ("age", "old"),
    "studies at": ("study", "studies", "studying", "school", "university", "college"),
    "prefers": ("prefer", "prefers", "preference", "rather"),
    "likes": ("like", "likes", "love", "enjoy", "hate", "dislike"),
    "uses": ("use", "uses", "used", "using", "wrote", "work with", "tool", "framework", "language"),
    "has visited": ("visit", "visited", "been", "travel", "trip"),
    "owns": ("own", "owns", "pet", "car"),
    "is from": ("from", "origin", "grew up", "born"),
}
_FIRST = re.compile(r"\b(?:i|i'm|i've|my|me|mine|we|our)\b")
_TOKEN = re.compile(r"[a-z0-9]+")


def query_intent(query: str) -> Intent:
    """``"before"`` for questions about earlier values, ``"change"`` for what changed / when, else ``"now"``."""
    q = query.lower()
    if _BEFORE.search(q):
        return "before"
    if _CHANGE.search(q):
        return "change"
    return "now"


def query_relations(query: str) -> set[str]:
    """The relations of the vocabulary a query asks about (from cue words; ``favourite X`` too)."""
    q = query.lower()
    words = set(_TOKEN.findall(q))
    out = {rel for rel, cues in _CUES.items() if any((c in words) if " " not in c else (c in q) for c in cues)}
    m = re.search(r"fav(?:ou)?rite ([a-z]+(?: [a-z]+)?)", q)
    if m:
        out.update({f"favourite {m.group(1)}", f"favourite {m.group(1).split()[0]}"})
    return out


def names_object(fact: Fact, query: str) -> bool:
    """Whether ``query`` names every word of the fact's object ("Does John still work at the
    mechanical engineering company?" names the object of "John worked at mechanical engineering company")."""
    words = set(_TOKEN.findall(fact.object.lower()))
    return bool(words) and words <= set(_TOKEN.findall(query.lower()))


def score_fact(fact: Fact, query: str, relations: set[str], *, about_user: bool) -> float:
    """How well ``fact`` answers ``query`` (0: not at all).

    A fact qualifies when the query is about its subject (names it, or speaks in the first
    person and the fact is about the user) and either asks about its relation or names its
    object. Relation match counts 2, object words 1 each, subject 1.
    """
    q = query.lower()
    words = set(_TOKEN.findall(q))
    subject_words = set(_TOKEN.findall(fact.subject.lower())) - {"the", "user", "s"}
    about = bool(subject_words) and subject_words <= words
    about = about or (about_user and bool(_FIRST.search(q)))
    if not about:
        return 0.0
    obj_hits = len(set(_TOKEN.findall(fact.object.lower())) & words)
    rel = 2.0 if fact.relation in relations else 0.0
    if rel == 0.0 and obj_hits == 0:
        return 0.0
    return rel + obj_hits + 1.0
