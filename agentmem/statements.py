"""Offline statements: who is (or does) what, in a small vocabulary of relations, no model.

A *statement* is one ``(subject, relation, object)`` claim read from a sentence, with its
polarity (``negated``: "I have never used Flask"), whether it says a value stopped holding
(``ended``: "I no longer work at Acme", "I left Acme", "I used to live in Rome"), whether it
announces a change (``changed``: "now", "moved", "started", "new"), and an explicit earlier
value when the sentence names one (``previous``: "I moved from Lisbon to Porto").

Relations are normalised to :data:`RELATIONS`; the *functional* ones (one value at a time:
lives in, works at, is called, role, relationship status, age, favourites, preference) are what
supersession works on. Subjects are the speaker for the first person ("I", "we"), a name for the
third person ("Ada lives in Porto"), or a relative ("my sister" → "Ada's sister"); second person
and bare pronouns are skipped (no coreference offline).

>>> [s.triple() for s in extract_statements("I moved from Lisbon to Porto last week.", speaker="Ada")]
[('Ada', 'lives in', 'Porto')]
>>> extract_statements("I moved from Lisbon to Porto last week.", speaker="Ada")[0].previous
'Lisbon'
>>> render_statement(extract_statements("I've never used Flask.", speaker="user")[0])
'The user has never used Flask.'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "RELATIONS", "Relation", "Statement", "extract_statements", "render_statement", "self_subject", "split_sentences",
]


def _words(text: str) -> list[str]:
    return text.split()


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


_OBJ = r"(?P<obj>[^,;:!?()\"]+)"
_PREV = r"(?P<prev>[^,;:!?()\"]+?)"
# (pattern, relation, ended): each pattern runs over the lowercased sentence; named groups
# ``obj`` / ``prev`` / ``kind`` are cut from the original text at the same spans.
_PATTERNS: list[tuple[re.Pattern[str], str, bool]] = [
    (re.compile(rf"\b(?:moved|relocated|moving|relocating) (?:back )?to {_OBJ} from {_PREV}(?=$|[\s,.;!?])"), "lives in", False),
    (re.compile(rf"\b(?:moved|relocated|moving|relocating) (?:away )?from {_PREV} (?:back )?to {_OBJ}"), "lives in", False),
    (re.compile(rf"\b(?:moved|relocated|moving|relocating) (?:back |over )?to {_OBJ}"), "lives in", False),
    (re.compile(rf"\b(?:moved|relocated) (?:away )?(?:out )?(?:of|from) {_OBJ}"), "lives in", True),
    (re.compile(rf"\b(?:live|lives|lived|living|reside|resides|resided|based|settled|staying) in {_OBJ}"), "lives in", False),
    (re.compile(rf"\bhome is(?: now)? in {_OBJ}"), "lives in", False),
    (re.compile(rf"\b(?:left|quit) {_PREV} (?:to join|for|and joined|to work at|to start at) {_OBJ}"), "works at", False),
    (re.compile(rf"\b(?:work|works|worked|working|employed) (?:as an? [a-z-]+(?: [a-z-]+)? )?(?:at|for|by) {_OBJ}"), "works at", False),
    (re.compile(rf"\b(?:joined|got hired (?:at|by)|was hired (?:at|by)|got a job at|got a new job at|"
                rf"started (?:a new job |my new job |working |a job )?at|took a job at|landed a job at) {_OBJ}"), "works at", False),
    (re.compile(rf"\b(?:left|quit|was laid off from|got laid off from|lost my job at|resigned from) (?:my job at )?{_OBJ}"), "works at", True),
    (re.compile(rf"\b(?:my name is|call me|am called|'m called|go by|changed my name to|name is now) {_OBJ}"), "is called", False),
    (re.compile(rf"\b(?:lost my job as|retired as|stopped being|quit my job as) (?:an? )?{_OBJ}"), "role", True),
    (re.compile(rf"\b(?:work|works|worked|working|started|start|job) as (?:an? )?{_OBJ}"), "role", False),
    (re.compile(r"\b(?:am|'m|is|are|was|became|become|becoming|got promoted to|promoted to|trained as|qualified as) "
                r"(?:now |finally |officially |also |still )?(?:an? )(?P<obj>[a-z-]+(?: [a-z-]+)?)"), "role", False),
    (re.compile(r"\b(?:am|'m|is|are|got|getting|became|was) (?:now |finally |officially |still |happily )?"
                r"(?P<obj>single|married|engaged|divorced|separated|widowed|retired|unemployed|pregnant|"
                r"vegetarian|vegan|in a relationship)\b"), "status", False),
    (re.compile(r"\b(?:am|'m|is|turned|just turned|will be) (?P<obj>\d{1,3})(?: years old| this year)?(?=$|[\s,.;!?])"), "age", False),
    (re.compile(rf"\b(?:study|studies|studying|studied|enrolled|student) at {_OBJ}"), "studies at", False),
    (re.compile(rf"\bfav(?:ou)?rite (?P<kind>[a-z]+(?: [a-z]+)?) (?:is|was|has become|became) (?:now |still )?{_OBJ}"), "favourite", False),
    (re.compile(rf"\b(?:prefer|prefers|preferred|switched to|changed to) {_OBJ}"), "prefers", False),
    (re.compile(rf"\b(?:like|likes|love|loves|enjoy|enjoys|liked|loved|enjoyed|into|hate|hates|dislike|dislikes) {_OBJ}"), "likes", False),
    (re.compile(rf"\b(?:use|uses|used|using|worked with|work with|coded in|code in|program in|written in) (?!to\b){_OBJ}"), "uses", False),
    (re.compile(r"\b(?:wrote|built|deployed|shipped|implemented|coded|set up|maintain|maintained|debugged|fixed) "
                r"(?:the |a |an |our |my |some |this |that )?(?P<obj>[A-Z][\w.+#-]*)(?= [a-z])"), "uses", False),
    (re.compile(rf"\b(?:visited|been to|went to|traveled to|travelled to|trip to) {_OBJ}"), "has visited", False),
    (re.compile(rf"(?<!my )(?<!our )(?<!his )(?<!her )(?<!their )\b(?:own|owns|owned|bought|adopted) (?:an? |my own )?{_OBJ}"), "owns", False),
    (re.compile(rf"\b(?:am|'m|is|are|come) from {_OBJ}"), "is from", False),
]
_PAST_OPENERS = frozenset(_words("my call got left quit lost became been went wrote built bought moved joined started"))
_HATE = re.compile(r"\b(?:hate|hates|dislike|dislikes)\b")
_NEG = re.compile(r"\b(?:never|not|no|n't|don't|doesn't|didn't|haven't|hasn't|isn't|aren't|wasn't|won't|cannot|can't)\b|n't\b")
_ENDED = re.compile(r"\b(?:no longer|not anymore|anymore|any more|used to|formerly|previously)\b")
_CHANGE = re.compile(
    r"\b(?:now|nowadays|these days|anymore|any more|no longer|started|start|began|begin|switched|switch|moved|"
    r"changed|recently|finally|since|just|became|joined|got|lately|at last|decided|"
    r"new (?:job|home|house|flat|apartment|place|city|town|country|role|position|company|employer|name))\b"
)
_STOP_OBJ = re.compile(
    r"\s+(?:because|and|but|since|when|while|with|last|this|next|for|after|before|until|so|as|now|anymore|"
    r"any more|again|too|recently|these days|at the moment|right now|yesterday|today|ago|then|though|"
    r"which|who|where|that|if|or|to|from|at|instead|nowadays|lately|anyway|already|every|each|in \d{4}|in the|"
    r"in (?:january|february|march|april|may|june|july|august|september|october|november|december)|"
    r"on \w+day|near|around|i|we|he|she|they|it|you)\b.*$",
    re.IGNORECASE,
)
_DET = re.compile(r"^(?:the|a|an|my|our|his|her|their|some|this|that)\s+", re.IGNORECASE)
_AUX = frozenset(
    _words("""have has had am is are was were be been do does did don't doesn't didn't never not no longer just also
    recently finally now still really actually already currently officially haven't hasn't used to will would
    ever even both since then eventually 've 'm 're 'd 'll i've i'm i'd i'll we've we're all mostly always
    basically totally kind of sort of gonna going wanna want wanted hope hoping plan planning can could""")
)
_FIRST = frozenset(_words("i i'm i've i'd i'll im ive we we've we're we'd"))
_SKIP_SUBJ = frozenset(_words("you you've you're he she they it this that there who which what someone"))
_KIN = frozenset(
    _words("""sister brother mom mum mother dad father wife husband partner son daughter friend boss cousin aunt uncle
    grandma grandmother grandpa grandfather girlfriend boyfriend roommate colleague coworker neighbour neighbor
    kid kids parents family""")
)
_OPENERS = frozenset(_words("so well oh yes yeah hey hi hello and but also now btw wow ok okay thanks sorry"))
_NAME = re.compile(r"^[A-Z][\w'-]*$")
_GENERIC = frozenset(_words("user human me you assistant ai system document speaker"))
_BAD_ROLE = frozenset(
    _words("""lot bit fan little big huge great good bad new few couple kind sort part person guy girl fan lover
    long hard way time day week year month fun mess joke thing lucky blessing must""")
)
_BAD_OBJ = frozenset(_words("it that this them there here one something anything everything nothing home"))
_WORD = re.compile(r"[A-Za-z][\w'’-]*")


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"“(\[]?[A-Z0-9])|\n+")
_ABBREV = re.compile(r"\b(?:[A-Z]|Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Mt|No|vs|U\.S|U\.K|Inc|Ltd|Co)\.$")


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
    text = _DET.sub("", text).strip(" .'")
    words = text.split()
    if not words or len(words) > 5 or words[0].lower() in _BAD_OBJ:
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
            subj = _subject(norm[: m.start()], speaker)
            if subj is None and _elliptical(norm[: m.start()], m.group(0)):
                subj = (speaker, True, False)  # "My name is ...", "Got hired by ...", "Lost my job as ..."
            if subj is None:
                continue
            obj = _object(norm[m.start("obj") : m.end("obj")])
            if obj is None:
                continue
            if relation == "role" and (obj.split()[0].lower() in _BAD_ROLE or obj.lower().endswith("ing")):
                continue
            rel = relation
            if relation == "favourite":
                rel = f"favourite {m.group('kind')}"
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
    return list(seen.values())


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
        if s.relation == "role":
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
