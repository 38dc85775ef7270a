"""Offline statements: who is (or does) what, in a small vocabulary of relations, no model.

A *statement* is one ``(subject, relation, object)`` claim read from a sentence, with its
polarity (``negated``: "I have never used Flask"), whether it says a value stopped holding
(``ended``: "I no longer work at Acme", "I left Acme", "I used to live in Rome"), whether it
announces a change (``changed``: "now", "moved", "started", "new"), and an explicit earlier
value when the sentence names one (``previous``: "I moved from Lisbon to Porto").

Relations are normalised to :data:`RELATIONS`; the *functional* ones (one value at a time:
lives in, works at, runs (a business of one's own: "I'm starting a dance studio", "my clothing
store"), is called, role, relationship status, age, favourites, preference) are what
supersession works on. Subjects are the speaker for the first person ("I", "we", "my own
bakery"), a name for the third person ("Ada lives in Porto"), the clause's subject for an
infinitive ("I quit Acme to start a bakery"), or a relative ("my sister" → "Ada's sister");
second person and bare pronouns are skipped (no coreference offline), and so is what a clause
only plans or wishes ("I'm gonna start my own business"). The patterns and word lists are in
:mod:`agentmem._statement_vocab`.

>>> [s.triple() for s in extract_statements("I moved from Lisbon to Porto last week.", speaker="Ada")]
[('Ada', 'lives in', 'Porto')]
>>> extract_statements("I moved from Lisbon to Porto last week.", speaker="Ada")[0].previous
'Lisbon'
>>> render_statement(extract_statements("I've never used Flask.", speaker="user")[0])
'The user has never used Flask.'
"""

from __future__ import annotations

from dataclasses import dataclass

from agentmem._statement_vocab import (
    _ABBREV,
    _AUX,
    _BAD_OBJ,
    _BAD_ROLE,
    _CHANGE,
    _CLAUSE,
    _COORDINATED,
    _DET,
    _ENDED,
    _FIRST,
    _GENERIC,
    _GENERIC_BIZ,
    _HATE,
    _INFINITIVE,
    _KIN,
    _NAME,
    _NEG,
    _OPENERS,
    _OWN,
    _PAST_OPENERS,
    _PATTERNS,
    _PLAN,
    _SENTENCE,
    _SKIP_SUBJ,
    _STOP_OBJ,
    _WORD,
    HOMELAND,
)

__all__ = [
    "HOMELAND", "RELATIONS", "Relation", "Statement", "extract_statements", "generic_value", "render_statement", "same_value",
    "self_subject", "split_sentences",
]


@dataclass(frozen=True, slots=True)
class Relation:
    """A relation of the vocabulary and how it reads in a sentence."""

    name: str
    functional: bool
    present: str  # "lives in"
    past: str  # "lived in"
    negative: str  # "does not live in"


def _rel(name: str, functional: bool, present: str, past: str, negative: str) -> Relation:
    return Relation(name, functional, present, past, negative)


RELATIONS: dict[str, Relation] = {
    r.name: r
    for r in (
        _rel("lives in", True, "lives in", "lived in", "has never lived in"),
        _rel("works at", True, "works at", "worked at", "has never worked at"),
        _rel("is called", True, "is called", "was called", "is not called"),
        _rel("role", True, "is", "was", "is not"),
        _rel("status", True, "is", "was", "is not"),
        _rel("age", True, "is", "was", "is not"),
        _rel("studies at", True, "studies at", "studied at", "has never studied at"),
        _rel("runs", True, "runs", "ran", "does not run"),
        _rel("prefers", True, "prefers", "preferred", "does not prefer"),
        _rel("likes", False, "likes", "liked", "does not like"),
        _rel("uses", False, "uses", "used", "has never used"),
        _rel("has visited", False, "has visited", "visited", "has never been to"),
        _rel("owns", False, "owns", "owned", "does not own"),
        _rel("is from", False, "is from", "was from", "is not from"),
    )
}
# "favourite <thing>" relations are functional too; they are built on the fly.


@dataclass(frozen=True, slots=True)
class Statement:
    """One claim of a sentence (see the module docstring)."""

    subject: str
    relation: str
    object: str
    negated: bool = False
    ended: bool = False
    changed: bool = False
    previous: str | None = None
    first_person: bool = False

    def triple(self) -> tuple[str, str, str]:
        return (self.subject, self.relation, self.object)

    @property
    def functional(self) -> bool:
        spec = RELATIONS.get(self.relation)
        return spec.functional if spec is not None else self.relation.startswith("favourite ")




def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: split after ``.!?`` before a capital or digit, and on newlines;
    abbreviations such as ``Dr.`` or ``U.S.`` do not end a sentence."""
    out: list[str] = []
    start = 0
    for m in _SENTENCE.finditer(text):
        piece = text[start : m.start()]
        if _ABBREV.search(piece):
            continue
        if piece.strip():
            out.append(piece)
        start = m.end()
    if text[start:].strip():
        out.append(text[start:])
    return out


def self_subject(speaker: str | None) -> str:
    """Who "I" is: the speaker's name, or "the user" for a generic speaker ("user", "human")."""
    name = " ".join((speaker or "").split())
    return "the user" if not name or name.lower() in _GENERIC else name


def _object(raw: str) -> str | None:
    text = _STOP_OBJ.sub("", " ".join(raw.replace("’", "'").split()))
    text = _DET.sub("", text).strip(" .'-")
    words = text.split()
    homeland = HOMELAND.match(text)
    if homeland:
        return homeland.group(0).lower()  # "my home country": a value derive_facts resolves from "is from"
    if not words or len(words) > 5 or words[0].lower() in _BAD_OBJ or not words[0][0].isalnum():
        return None
    return " ".join(words)


def _subject(head: str, speaker: str) -> tuple[str, bool, bool] | None:
    """``(subject, first_person, negated)`` from the words before the verb, or ``None``."""
    words = [w.replace("’", "'") for w in _WORD.findall(head)]
    negated = False
    i = len(words) - 1
    while i >= 0 and words[i].lower() not in _FIRST and (words[i].lower() in _AUX or _NEG.fullmatch(words[i].lower())):
        negated = negated or bool(_NEG.fullmatch(words[i].lower())) or words[i].lower().endswith("n't")
        i -= 1
    if i < 0:
        return None
    w = words[i]
    lw = w.lower()
    if lw in _FIRST or lw in ("my", "our"):
        return (self_subject(speaker), True, negated or lw.endswith("n't"))
    if lw in _KIN and i > 0 and words[i - 1].lower() in ("my", "our"):
        owner = self_subject(speaker)
        return (f"{owner}'s {lw}" if owner != "the user" else f"the user's {lw}", False, negated)
    if lw in _SKIP_SUBJ or not _NAME.match(w) or w.lower() in _AUX:
        return None
    j = i
    while j > 0 and _NAME.match(words[j - 1]) and words[j - 1].lower() not in _SKIP_SUBJ | _FIRST | _AUX | _OPENERS:
        j -= 1
    if lw in _OPENERS:
        return None
    name = " ".join(words[j : i + 1])
    return (name, False, negated)


def _elliptical(head: str, match: str) -> bool:
    """A chat sentence without a subject is the speaker's: "Got hired by Initech", "Lost my job as ..."."""
    words = [w.lower() for w in _WORD.findall(head)]
    if any(w not in _OPENERS and w not in _AUX for w in words):
        return False
    first = match.split()[0].lower()
    return first.endswith("ed") or first in _PAST_OPENERS


def _planned(head: str) -> bool:
    """Whether the clause before a match only plans or wishes it ("I want to move to Oslo")."""
    low = head.lower()
    cut = max((m.end() for m in _CLAUSE.finditer(low)), default=0)
    return bool(_PLAN.search(low[cut:]))


def _clause_subject(head: str, speaker: str) -> tuple[str, bool, bool] | None:
    """The subject an infinitive takes: the first word of its clause, when that is "I" / "we"
    or a name ("Ada left Acme to start ..."); ``None`` otherwise."""
    low = head.replace("’", "'")
    cut = max((m.end() for m in _CLAUSE.finditer(low.lower())), default=0)
    words = [w for w in _WORD.findall(low[cut:]) if w.lower() not in _OPENERS]
    if not words:
        return None
    if words[0].lower() in _FIRST:
        return (speaker, True, any(_NEG.fullmatch(w.lower()) for w in words))
    if _NAME.match(words[0]) and words[0].lower() not in _SKIP_SUBJ | _AUX:
        return (words[0], False, any(_NEG.fullmatch(w.lower()) for w in words))
    return None


def _possessive(match: str, obj: str) -> bool:
    """A match that opens with "my" / "our" ("my own dance studio", "my home country, Sweden")
    names its owner, the speaker; "my sister's bakery" is not the speaker's."""
    if match.split(maxsplit=1)[0].lower() not in ("my", "our"):
        return False
    return not any(w.lower().endswith("'s") or w.lower() in _KIN for w in obj.split())


def _sentence_statements(sentence: str, speaker: str) -> list[Statement]:
    low = sentence.lower().replace("’", "'")
    norm = sentence.replace("’", "'")
    out: list[Statement] = []
    taken: list[tuple[int, int, str]] = []
    for pattern, relation, ends in _PATTERNS:
        source = norm if "[A-Z]" in pattern.pattern else low  # a pattern that needs the capital
        for m in pattern.finditer(source):
            if any(m.start() < b and a < m.end() and r == relation for a, b, r in taken):
                continue
            head = norm[: m.start()]
            if _planned(head):
                continue
            raw_obj = norm[m.start("obj") : m.end("obj")]
            if relation in ("runs", "is from") and m.group(0).split(maxsplit=1)[0].lower() in ("my", "our"):
                if not _possessive(m.group(0), raw_obj):
                    continue
                subj: tuple[str, bool, bool] | None = (speaker, True, False)
            elif _INFINITIVE.search(head):
                subj = _clause_subject(head, speaker)  # "I quit Acme to start my own bakery": I start it
            elif _COORDINATED.search(head):  # "I left Acme and opened a food truck": I opened it
                subj = _clause_subject(_COORDINATED.sub("", head), speaker)
            else:
                subj = _subject(head, speaker)
                if subj is None and _elliptical(head, m.group(0)):
                    subj = (speaker, True, False)  # "My name is ...", "Got hired by ...", "Lost my job as ..."
            if subj is None:
                continue
            obj = _object(raw_obj)
            if obj is not None and relation == "runs":
                obj = _OWN.sub("", _OWN.sub("", obj)) or None
            if obj is None:
                continue
            if relation == "role" and (obj.split()[0].lower() in _BAD_ROLE or obj.lower().endswith("ing")):
                continue
            rel = relation
            if relation == "favourite":
                rel = f"favourite {m.group('kind')}"
            if ends and subj[2]:
                continue  # "I won't quit", "I didn't leave Acme": no ending
            negated = subj[2] or bool(_HATE.search(m.group(0)))
            ended = ends or bool(_ENDED.search(low))
            prev = None
            if "prev" in m.re.groupindex and m.group("prev") is not None:
                prev = _object(norm[m.start("prev") : m.end("prev")])
            changed = bool(_CHANGE.search(low)) or prev is not None
            if relation in ("role", "status", "is called", "age", "is from") and not subj[1] and subj[0] == speaker:
                continue
            out.append(Statement(subj[0], rel, obj, negated and not ended, ended, changed, prev, subj[1]))
            taken.append((m.start(), m.end(), relation))
    return out


def extract_statements(text: str, *, speaker: str | None = None) -> list[Statement]:
    """The statements of ``text`` said by ``speaker``, in order, deduplicated.

    Parameters
    ----------
    text
        A conversation turn or document text (English).
    speaker
        Who says it: the first person becomes this name (``"the user"`` when generic).

    Returns
    -------
    list of Statement
        Empty when no sentence states anything in the vocabulary.
    """
    me = self_subject(speaker)
    seen: dict[tuple[str, str, str, bool, bool], Statement] = {}
    for sentence in split_sentences(text):
        if sentence.rstrip().endswith("?"):
            continue  # a question asserts nothing
        for s in _sentence_statements(sentence, me):
            seen.setdefault((s.subject.lower(), s.relation, s.object.lower(), s.negated, s.ended), s)
    return _most_specific(list(seen.values()))


def _most_specific(statements: list[Statement]) -> list[Statement]:
    """One text naming a value twice ("my own store", "my clothing store"; "my dream business:
    my own dance studio") states one value: of a functional relation's objects the ones that
    another object of the same claim contains, or a generic business beside a named one, go."""
    def claim(s: Statement) -> tuple[str, str, bool, bool]:
        return (s.subject.lower(), s.relation, s.negated, s.ended)

    def covered(s: Statement) -> bool:
        words = set(s.object.lower().split())
        for o in statements:
            if o is s or claim(o) != claim(s) or o.object.lower() == s.object.lower():
                continue
            if words < set(o.object.lower().split()) or (s.relation == "runs" and s.object.lower() in _GENERIC_BIZ):
                return True
        return False

    return [s for s in statements if not (s.functional and covered(s))]


def same_value(relation: str, a: str, b: str) -> bool:
    """Whether two objects of ``relation`` name one value: equal up to case; a longer name of a
    multi-word one ("clothing store" / "online clothing store"); for a business of one's own,
    the same kind of place or a generic one ("dance studio" / "studio" / "business")."""
    x, y = a.lower().split(), b.lower().split()
    if x == y:
        return True
    short, long_ = (x, y) if len(x) <= len(y) else (y, x)
    if relation == "runs":
        return short[-1] == long_[-1] or " ".join(short) in _GENERIC_BIZ or " ".join(long_) in _GENERIC_BIZ
    return len(short) >= 2 and long_[-len(short):] == short


def generic_value(relation: str, obj: str) -> bool:
    """An object that names no particular value ("business" for a business of one's own)."""
    return relation == "runs" and obj.lower() in _GENERIC_BIZ


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def render_statement(s: Statement, *, when: str | None = None) -> str:
    """A sentence for one statement: ``"The user lives in Porto (since 2024-03-02; before: Lisbon)."``.

    ``when`` is the date the statement was made (ISO); it is written as "since" for a current
    value, "until" for an ended one.
    """
    spec = RELATIONS.get(s.relation)
    obj = s.object
    if s.relation.startswith("favourite "):
        verb = "was" if s.ended else "is not" if s.negated else "is"
        body = f"{s.subject}'s {s.relation} {verb} {obj}"
    else:
        assert spec is not None
        if s.relation == "role" or (s.relation == "runs" and not obj[:1].isupper()):
            obj = f"{_article(obj)} {obj}"
        elif s.relation == "age":
            obj = f"{obj} years old"
        verb = spec.past if s.ended else spec.negative if s.negated else spec.present
        body = f"{s.subject} {verb} {obj}"
    notes = []
    if when:
        notes.append(f"until {when}" if s.ended else f"since {when}" if s.changed or s.previous else f"as of {when}")
    if s.previous:
        notes.append(f"before: {s.previous}")
    return _cap(body) + (f" ({'; '.join(notes)})" if notes else "") + "."
