"""HippoRAG's OpenIE prompts as data, and the parsing of the model's replies (sans-I/O).

Two steps per passage (Gutiérrez et al. 2024, §3): named-entity recognition, then triples
conditioned on those entities; and HippoRAG 2's "recognition memory" filter of the facts a
query retrieved. Nothing here calls a model: ``*_messages`` build the conversation from a
template and explicit variables (today's date among them, so relative dates such as
"yesterday" in a conversation turn can be resolved), ``parse_*`` turn a reply into values.
:mod:`agentmem.mechanisms.graph.runner` does the calls.

A reply that holds no parseable JSON of the expected shape raises
:class:`~agentmem.errors.ExtractionError` ("the model failed"); a well-formed empty list is
"nothing to extract" and returns ``[]``.

>>> parse_triples('```json\\n{"triples": [["Alice", "lives in", "Paris"],]}\\n```')
[('Alice', 'lives in', 'Paris')]
>>> parse_ner('{"named_entities": []}')
[]
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from agentmem.errors import ExtractionError
from agentmem.protocols import ChatMessage

__all__ = [
    "FILTER_TEMPLATE",
    "NER_TEMPLATE",
    "TRIPLE_TEMPLATE",
    "PromptTemplate",
    "filter_messages",
    "ner_messages",
    "parse_filter",
    "parse_json",
    "parse_ner",
    "parse_triples",
    "triple_messages",
]


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A system message, optional one-shot example turns, and a user message with ``{vars}``."""

    system: str
    user: str
    examples: tuple[ChatMessage, ...] = ()

    def render(self, **variables: str) -> list[ChatMessage]:
        """The conversation for these variables (``str.format``; every variable is required)."""
        try:
            return [
                ("system", self.system.format(**variables)),
                *self.examples,
                ("user", self.user.format(**variables)),
            ]
        except KeyError as exc:
            raise ValueError(f"prompt variable {exc} is missing") from exc


_EXAMPLE_PASSAGE = """Radio City
Radio City is India's first private FM radio station and was started on 3 July 2001.
It plays Hindi, English and regional songs.
Radio City recently forayed into New Media in May 2008 with the launch of a music portal - PlanetRadiocity.com that offers music related news, videos, songs, and other music-related features."""

_EXAMPLE_ENTITIES = (
    '{"named_entities": ["Radio City", "India", "3 July 2001", "Hindi", "English", '
    '"May 2008", "PlanetRadiocity.com"]}'
)

_EXAMPLE_TRIPLES = """{"triples": [
    ["Radio City", "located in", "India"],
    ["Radio City", "is", "private FM radio station"],
    ["Radio City", "started on", "3 July 2001"],
    ["Radio City", "plays songs in", "Hindi"],
    ["Radio City", "plays songs in", "English"],
    ["Radio City", "forayed into", "New Media"],
    ["Radio City", "launched", "PlanetRadiocity.com"],
    ["PlanetRadiocity.com", "launched in", "May 2008"],
    ["PlanetRadiocity.com", "is", "music portal"],
    ["PlanetRadiocity.com", "offers", "news"],
    ["PlanetRadiocity.com", "offers", "videos"],
    ["PlanetRadiocity.com", "offers", "songs"]
]}"""

NER_TEMPLATE = PromptTemplate(
    system=(
        "Your task is to extract named entities from the given paragraph. Today's date is "
        "{today}.\nRespond with a JSON object {{\"named_entities\": [...]}}."
    ),
    examples=(("user", f"Paragraph:\n```\n{_EXAMPLE_PASSAGE}\n```"), ("assistant", _EXAMPLE_ENTITIES)),
    user="Paragraph:\n```\n{passage}\n```",
)

TRIPLE_TEMPLATE = PromptTemplate(
    system=(
        "Your task is to construct an RDF (Resource Description Framework) graph from the "
        "given passages and named entity lists. Today's date is {today}.\n"
        "Respond with a JSON object {{\"triples\": [[subject, predicate, object], ...]}}, each "
        "triple representing a relationship in the RDF graph.\n\n"
        "Pay attention to the following requirements:\n"
        "- Each triple should contain at least one, but preferably two, of the named entities "
        "in the list for each passage.\n"
        "- Clearly resolve pronouns to their specific names to maintain clarity."
    ),
    examples=(
        (
            "user",
            "Convert the paragraph into a JSON dict, it has a named entity list and a triple "
            f"list.\nParagraph:\n```\n{_EXAMPLE_PASSAGE}\n```\n\n{_EXAMPLE_ENTITIES}",
        ),
        ("assistant", _EXAMPLE_TRIPLES),
    ),
    user=(
        "Convert the paragraph into a JSON dict, it has a named entity list and a triple list.\n"
        "Paragraph:\n```\n{passage}\n```\n\n{named_entity_json}"
    ),
)

FILTER_TEMPLATE = PromptTemplate(
    system=(
        "You are a critical component of a high-stakes question-answering system used by "
        "top researchers and decision-makers worldwide. Today's date is {today}.\n"
        "Given a question and candidate facts (subject, predicate, object) retrieved for it, "
        "select the facts that are relevant to answering the question, in order of relevance, "
        "without adding new facts. Respond with a JSON object {{\"fact\": [[s, p, o], ...]}}; "
        "an empty list if none is relevant."
    ),
    user="Question: {question}\n\nCandidate facts: {facts_json}",
)


def _today(today: date | None) -> str:
    return (today or date.today()).isoformat()


def ner_messages(passage: str, *, today: date | None = None) -> list[ChatMessage]:
    """The NER conversation for one passage."""
    return NER_TEMPLATE.render(passage=passage, today=_today(today))


def triple_messages(
    passage: str, entities: Sequence[str], *, today: date | None = None
) -> list[ChatMessage]:
    """The triple-extraction conversation for one passage, conditioned on its entities."""
    ner = json.dumps({"named_entities": list(entities)}, ensure_ascii=False)
    return TRIPLE_TEMPLATE.render(passage=passage, named_entity_json=ner, today=_today(today))


def filter_messages(
    question: str, facts: Sequence[tuple[str, str, str]], *, today: date | None = None
) -> list[ChatMessage]:
    """The recognition-memory conversation: which of ``facts`` matter for ``question``."""
    facts_json = json.dumps({"fact": [list(f) for f in facts]}, ensure_ascii=False)
    return FILTER_TEMPLATE.render(question=question, facts_json=facts_json, today=_today(today))


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([\]}])")


def _close_brackets(text: str) -> str:
    """Append the closers a truncated reply is missing (strings are assumed closed)."""
    stack: list[str] = []
    in_str = False
    esc = False
    for ch in text:
        if in_str:
            esc = ch == "\\" and not esc
            if ch == '"' and not esc:
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}" and stack:
            stack.pop()
    text = text.rstrip().rstrip(",")
    return text + ('"' if in_str else "") + "".join(reversed(stack))


def parse_json(reply: str) -> Any:
    """The first JSON value in a model reply, repaired if it must be.

    Repairs: code fences, prose around the JSON, trailing commas, Python literals (single
    quotes), and a truncated tail (missing closing brackets).

    Raises
    ------
    ExtractionError
        No JSON value can be recovered.
    """
    fenced = _FENCE.search(reply)
    text = fenced.group(1) if fenced else reply
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise ExtractionError(f"model reply holds no JSON: {reply[:200]!r}")
    text = text[min(starts):].strip()
    for candidate in (text, _TRAILING_COMMA.sub(r"\1", text)):
        try:
            return json.JSONDecoder().raw_decode(candidate)[0]
        except json.JSONDecodeError:
            pass
        try:
            return ast.literal_eval(candidate)
        except (ValueError, SyntaxError):
            pass
    repaired = _TRAILING_COMMA.sub(r"\1", _close_brackets(text))
    try:
        return json.loads(repaired)
    except json.JSONDecodeError as exc:
        raise ExtractionError(f"model reply is not valid JSON: {reply[:200]!r}") from exc


def _field(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if key not in value:
            raise ExtractionError(f"model reply lacks the {key!r} field: {str(value)[:200]}")
        return value[key]
    return value  # a bare list is accepted


def parse_ner(reply: str) -> list[str]:
    """Entity names from a NER reply, deduplicated in order; ``[]`` when there are none."""
    items = _field(parse_json(reply), "named_entities")
    if not isinstance(items, list):
        raise ExtractionError(f"named_entities is not a list: {str(items)[:200]}")
    seen: dict[str, None] = {}
    for x in items:
        if isinstance(x, str | int | float) and str(x).strip():
            seen.setdefault(str(x).strip(), None)
    return list(seen)


def _triples(items: Any) -> list[tuple[str, str, str]]:
    if not isinstance(items, list):
        raise ExtractionError(f"triples is not a list: {str(items)[:200]}")
    out: dict[tuple[str, str, str], None] = {}
    for x in items:
        # malformed single triples are dropped (HippoRAG's filter_invalid_triples)
        if isinstance(x, list | tuple) and len(x) == 3:
            parts = tuple(str(p).strip() for p in x)
            if all(parts):
                out.setdefault(parts, None)  # type: ignore[arg-type]
    return list(out)


def parse_triples(reply: str) -> list[tuple[str, str, str]]:
    """``(subject, relation, object)`` triples from a reply; malformed triples are dropped."""
    return _triples(_field(parse_json(reply), "triples"))


def parse_filter(reply: str, facts: Sequence[tuple[str, str, str]]) -> list[int]:
    """Indices into ``facts`` of the facts the model kept (unknown facts it invents are ignored)."""
    kept = _triples(_field(parse_json(reply), "fact"))
    index = {tuple(p.lower() for p in f): i for i, f in enumerate(facts)}
    out: dict[int, None] = {}
    for f in kept:
        i = index.get(tuple(p.lower() for p in f))
        if i is not None:
            out.setdefault(i, None)
    return list(out)
