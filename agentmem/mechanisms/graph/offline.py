"""A deterministic offline extractor: entities, dates/numbers and facts, no model, no network.

It stands in for HippoRAG's LLM OpenIE when no chat model is configured. The rules are plain
surface heuristics over English text:

* **entities** — runs of capitalized words (``University of Copenhagen``; connectors such as
  *of*, *de*, *von* are allowed inside a run; sentence-initial function words are dropped),
  dates (``January 1960``, ``3 May 2004``, ``1963``), numbers with their unit word
  (``1.355``, ``12 million``) and quoted titles (``"Hey Jude"``);
* **facts** — within a sentence, the sentence's subject (its first entity, or the text's topic
  entity when the sentence opens with a pronoun / a definite description such as *The
  journal*) is linked to every other entity of the sentence, and consecutive entities are
  linked to each other; the relation is the content words between the two mentions (at most
  four), or ``"mentions"`` when nothing stands between them;
* sentences with fewer than two entities fall back to ``subject verb object`` chunks of content
  words (``user likes pizza`` → ``("user", "likes", "pizza")``), one per clause (a sentence
  is cut at commas, semicolons, colons, brackets and dashes);
* given the speaker of a chat turn, "I" and "we" as a subject are the speaker's name and
  "my" / "our" the speaker's; a sentence that opens with "I" links the speaker to each of its
  entities, the verb after an opening "I" is the next word that is not an adverb, and a
  statement without a subject is the speaker's.

The output is deterministic (same text, same result, same order) and deduplicated.

>>> extract_entities("The journal was founded by Carl Rogers in January 1960.")
['Carl Rogers', 'January 1960']
>>> extract_triples("Jan Solovej is from the University of Copenhagen.")
[('Jan Solovej', 'is from', 'University of Copenhagen')]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Mention", "extract_entities", "extract_mentions", "extract_triples", "split_sentences"]



def _words(text: str) -> list[str]:
    return text.split()


STOPWORDS = frozenset(
    _words(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    one ones known called named later since among within without around upon via per while whose
    several many much another"""
    )
)
# Chat words that open a sentence capitalized but name nothing: interjections, replies and
# sentence-initial verbs or adjectives of small talk ("Thanks, Maria!", "Wow", "Sounds fun").
_FILLERS = frozenset(
    _words(
    """thanks thank wow yeah yep yes yup nope oh ooh ah aw aww hey hi hello haha lol omg sure cool
    nice great awesome amazing glad congrats congratulations definitely really totally absolutely
    okay ok hmm well right exactly indeed agreed true sounds looks seems must keep let hope sorry"""
    )
)
# Words between a subject and its verb ("I just got back", "we also tried").
_ADVERBS = frozenset(_words("just also still always never even already often sometimes so very too not now then ever"))
# Words before a verb that make someone other than a chat turn's speaker its subject.
_NOT_THE_SPEAKER = frozenset(_words("you he she it they that this these those there here what who whom which how where when why let"))
# Words that open a sentence whose subject is the text's topic (He was born ... / The band ...).
_ANAPHORA = frozenset(_words("he she it they his her its their this these the that there"))
# Function words allowed inside a capitalized run ("Bank of the West", "Leonardo da Vinci").
_CONNECTORS = frozenset(_words("of the de da del della der den di du la le von van y & for"))
_CONNECTORS_END_BAD = frozenset(_CONNECTORS)
_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan\\.|Feb\\.|Mar\\.|Apr\\.|Aug\\.|Sept?\\.|Oct\\.|Nov\\.|Dec\\."
)
_DATE = re.compile(
    rf"(?<![\d.,])\b(?:\d{{1,2}}\s+(?:{_MONTHS})(?:,?\s+\d{{3,4}})?"
    rf"|(?:{_MONTHS})(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?(?:,?\s+\d{{3,4}})?"
    rf"|\d{{3,4}}s?)\b(?![.,]\d)"
)
_NUMBER = re.compile(
    r"(?<![\w.])\$?\d+(?:[.,]\d+)*(?:\s+(?:million|billion|thousand|hundred|percent|%|km|miles|"
    r"metres|meters|feet|people|years|episodes|seasons|copies|votes|games|goals|points))?(?![\w])"
)
_QUOTED = re.compile(r"[\"“”]([^\"“”]{2,80})[\"“”]|``\s*([^`']{2,80}?)\s*''")
_CLAUSE_BREAK = re.compile(r"[,;:()]|\s[-–—]+\s")
_WORD = re.compile(r"[A-Za-z0-9][\w'’.&-]*[\w]|[A-Za-z0-9&]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"“(\[]?[A-Z0-9])|\n+")
_ABBREV = re.compile(r"\b(?:[A-Z]|Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Col|Lt|Mt|No|vs|U\.S|U\.K|Inc|Ltd|Co)\.$")
_VERBISH = frozenset(
    _words(
    """is are was were be been being am has have had do does did likes like loves love hates hate
    prefers prefer lives live lived works work worked moved move owns own wants want needs need
    plays play played visited visits uses use used bought buys made makes went goes got gets
    married joined left started founded wrote born died became becomes"""
    )
)


@dataclass(frozen=True, slots=True)
class Mention:
    """An entity mention: its surface text and character span in the source text."""

    text: str
    start: int
    end: int


def _not_a_name(word: str) -> bool:
    """A word that names nothing on its own: a function word, a chat filler, or a contraction
    of either ("I'm", "that's", "you'd", "haven't")."""
    w = word.lower().replace("’", "'")
    if w in STOPWORDS or w in _FILLERS or w.endswith("n't"):
        return True
    base = _base(word)
    return base != w and (base in STOPWORDS or base in _FILLERS)  # a contraction of one


def split_sentences(text: str) -> list[tuple[int, str]]:
    """Split ``text`` into ``(offset, sentence)`` pairs on ``.!?`` and newlines.

    Abbreviations such as ``Dr.`` or ``U.S.`` do not end a sentence.
    """
    out: list[tuple[int, str]] = []
    start = 0
    for m in _SENTENCE.finditer(text):
        piece = text[start : m.start()]
        if _ABBREV.search(piece):
            continue
        if piece.strip():
            out.append((start, piece))
        start = m.end()
    if text[start:].strip():
        out.append((start, text[start:]))
    return out


def _overlaps(spans: list[tuple[int, int]], s: int, e: int) -> bool:
    return any(s < b and a < e for a, b in spans)


def _capitalized_runs(sentence: str) -> list[tuple[int, int]]:
    """Spans of capitalized word runs, function words trimmed from both ends."""
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(sentence)]
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        w = words[i][2]
        if not (w[0].isupper() or (w[0].isdigit() and i > 0 and words[i - 1][2][:1].isupper())):
            i += 1
            continue
        j = i
        while j + 1 < len(words):
            nxt = words[j + 1][2]
            gap = sentence[words[j][1] : words[j + 1][0]]
            initial = len(words[j][2]) == 1  # "George T. Solomon"
            if gap.strip(" -'’." if initial else " -'’") or "," in gap:
                break
            bridge = nxt.lower() in _CONNECTORS and j + 2 < len(words) and (
                words[j + 2][2][0].isupper() or words[j + 2][2].lower() in _CONNECTORS
            )
            if not (nxt[0].isupper() or nxt[0].isdigit() or bridge):
                break
            j += 1
        # Trim function words (sentence-initial "The", "In", trailing connectors).
        a, b = i, j
        while a <= b and (_not_a_name(words[a][2]) or words[a][2].lower() in _CONNECTORS):
            a += 1
        while b >= a and words[b][2].lower() in _CONNECTORS_END_BAD:
            b -= 1
        if a <= b:
            runs.append((words[a][0], words[b][1]))
        i = j + 1
    return runs


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" ,;:()[]\"'`“”’.")


def extract_mentions(sentence: str, offset: int = 0) -> list[Mention]:
    """Entity mentions of one sentence, in order of appearance (spans shifted by ``offset``)."""
    taken: list[tuple[int, int]] = []
    found: list[Mention] = []

    def take(s: int, e: int) -> None:
        if e <= s or _overlaps(taken, s, e):
            return
        name = _clean(sentence[s:e])
        if len(name) < 2 and not name.isdigit():
            return
        if _not_a_name(name) or name.lower() in _ANAPHORA:
            return
        taken.append((s, e))
        found.append(Mention(name, offset + s, offset + e))

    for m in _QUOTED.finditer(sentence):
        g = 1 if m.group(1) is not None else 2
        take(m.start(g), m.end(g))
    for m in _DATE.finditer(sentence):
        take(m.start(), m.end())
    # Blank what is taken so a capitalized run cannot swallow a date ("Rogers in January").
    masked = list(sentence)
    for s, e in taken:
        masked[s:e] = "," * (e - s)
    for s, e in _capitalized_runs("".join(masked)):
        take(s, e)
    for m in _NUMBER.finditer(sentence):
        take(m.start(), m.end())
    found.sort(key=lambda x: x.start)
    return found


def extract_entities(text: str) -> list[str]:
    """Named entities, dates, numbers and quoted titles of ``text``, deduplicated in order.

    Parameters
    ----------
    text
        Any English text (a passage, a conversation turn).

    Returns
    -------
    list of str
        Surface forms, first occurrence first; empty when nothing looks like an entity.
    """
    seen: dict[str, str] = {}
    for off, sent in split_sentences(text):
        for m in extract_mentions(sent, off):
            seen.setdefault(m.text.lower(), m.text)
    return list(seen.values())


def _relation(between: str) -> str:
    words = [w.lower() for w in _WORD.findall(between)]
    content = [w for w in words if w not in _CONNECTORS or w in ("of", "in", "for", "on", "by")]
    content = [w for w in content if w not in ("the", "a", "an", "and", "which", "who", "that")]
    if not content:
        return "mentions"
    # keep the words nearest the object (the verb phrase governing it)
    return " ".join(content[-4:])


def _base(word: str) -> str:
    """A word in lower case without its contraction ("I'm" → ``i``, "it’s" → ``it``)."""
    return word.lower().replace("’", "'").partition("'")[0]


def _first_person(word: str) -> bool:
    """``I`` and its contractions (``I'm``, ``I've``, ``I'd``, ``I'll``): the speaker as a subject."""
    return _base(word) == "i"


def _said_by_speaker(word: str) -> str | None:
    """``"subject"`` for "I", "we" and their contractions, ``"owner"`` for "my" and "our":
    words that name a chat turn's speaker; else ``None``."""
    w = _base(word)
    return "subject" if w in ("i", "we") else "owner" if w in ("my", "our") else None


def _opening_subject(words: Sequence[str]) -> int | None:
    """Where the "I" or "we" a sentence opens with is (only chat fillers before it), else ``None``."""
    for j, w in enumerate(words):
        if _said_by_speaker(w) == "subject":
            return j
        if w.lower() not in _FILLERS:
            return None
    return None


def _speaker_implied(before: Sequence[str], clause: str) -> bool:
    """A chat statement without a subject ("Just been helping some friends."): only fillers
    and adverbs before its verb, no pronoun or question word, and no question mark."""
    return not clause.rstrip().endswith("?") and all(_not_a_name(w) and _base(w) not in _NOT_THE_SPEAKER for w in before)


def _chunk_fact(clause: str, mentions: Sequence[Mention] = (), offset: int = 0,
                speaker: str | None = None) -> tuple[str, str, str] | None:
    """``subject verb object`` from a clause of a sentence without two entities (lowercase chat
    text). The object is the clause's entity when one follows the verb ("I've been reading Harry
    Potter": ``harry potter``, the node other turns name), else the first content words after
    the verb (two at most). A first-person subject is ``speaker`` when one is given, else ``i``."""
    spans = list(_WORD.finditer(clause))
    words = [m.group() for m in spans]
    i = _verb(words, speaker)
    if i is None:
        return None
    lw = words[i].lower()
    subj = ["i" if _first_person(x) else x for x in words[:i] if not _not_a_name(x) or _first_person(x)]
    if speaker is not None:
        said = [_said_by_speaker(x) for x in words[:i]]
        if "subject" in said or _speaker_implied(words[:i], clause):
            subj = [speaker]
        elif "owner" in said:
            subj = [speaker, *subj]
    after = [m.text for m in mentions if m.start - offset >= spans[i].end()]
    obj = after[:1] or [x for x in words[i + 1 :] if not _not_a_name(x)][:2]
    if subj and obj:
        return (" ".join(subj[-3:]), lw, " ".join(obj))
    return None


def _verb(words: Sequence[str], speaker: str | None) -> int | None:
    """Where a sentence's verb is: in a chat turn's sentence that opens with "I" or "we", the
    next word that is not an adverb ("I really enjoy painting": ``enjoy``); else the first
    verb-like word after the first (a listed verb, or a past form in ``-ed``)."""
    j = _opening_subject(words) if speaker is not None else None
    if j is not None:
        return next((k for k in range(j + 1, len(words)) if not _adverb(words[k])), None)
    for i, w in enumerate(words[1:], start=1):
        lw = w.lower()
        if lw in _VERBISH or (lw.endswith("ed") and len(lw) > 4):
            return i
    return None


def _adverb(word: str) -> bool:
    w = word.lower()
    return w in _ADVERBS or w in _FILLERS or (w.endswith("ly") and len(w) > 4)


def _clauses(sentence: str, offset: int) -> list[tuple[int, str]]:
    """``(offset, clause)`` pieces of a sentence, cut at commas, semicolons, colons, brackets
    and dashes."""
    out, start = [], 0
    for m in _CLAUSE_BREAK.finditer(sentence):
        out.append((offset + start, sentence[start : m.start()]))
        start = m.end()
    out.append((offset + start, sentence[start:]))
    return [(o, c) for o, c in out if c.strip()]


def _speaker_opens(sentence: str, offset: int, speaker: str | None) -> Mention | None:
    """The speaker as a mention, where the sentence's first word that is not chat filler is
    "I" or one of its contractions ("Yeah, I went to Paris"); else ``None``."""
    if speaker is None:
        return None
    spans = list(_WORD.finditer(sentence))
    j = _opening_subject([m.group() for m in spans])
    return None if j is None else Mention(speaker, offset + spans[j].start(), offset + spans[j].end())


def extract_triples(text: str, *, speaker: str | None = None) -> list[tuple[str, str, str]]:
    """``(subject, relation, object)`` facts of ``text``, deduplicated in order.

    Parameters
    ----------
    text
        Any English text.
    speaker
        Who said ``text`` (a chat turn's speaker): "I" as a sentence's subject is then this
        name, so the facts of one person's turns share their subject node.

    Returns
    -------
    list of (str, str, str)
        Every subject and object is one of :func:`extract_entities` (or, for sentences
        with fewer than two entities, a chunk of content words). Empty when nothing is found.
    """
    out: dict[tuple[str, str, str], None] = {}
    topic: str | None = None
    for off, sent in split_sentences(text):
        mentions = extract_mentions(sent, off)
        if topic is None and mentions:
            topic = mentions[0].text
        first_word = (_WORD.findall(sent) or [""])[0].lower()
        opens_with_mention = bool(mentions) and mentions[0].start - off <= 4
        subj: Mention | None
        me = _speaker_opens(sent, off, speaker) if mentions else None
        if me is not None:
            subj, objs = me, mentions
        elif topic is not None and first_word in _ANAPHORA and not opens_with_mention:
            subj = Mention(topic, off, off)
            objs = mentions
        elif mentions:
            subj, objs = mentions[0], mentions[1:]
        else:
            subj, objs = None, []
        if subj is None or not objs:
            for c_off, clause in _clauses(sent, off):
                fact = _chunk_fact(clause, [m for m in mentions if c_off <= m.start < c_off + len(clause)], c_off,
                                   speaker)
                if fact is not None:
                    out.setdefault(fact, None)
            continue
        prev = subj
        for o in objs:
            if o.text.lower() != subj.text.lower():
                rel = _relation(text[max(prev.end, subj.end) : o.start])
                out.setdefault((subj.text, rel, o.text), None)
            if prev is not subj and prev.text.lower() != o.text.lower():
                rel = _relation(text[prev.end : o.start])
                out.setdefault((prev.text, rel, o.text), None)
            prev = o
    return list(out)
