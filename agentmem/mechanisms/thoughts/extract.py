"""Post-thinking (Think-in-Memory): turn a finished exchange into thoughts.

After answering, Think-in-Memory (Liu et al. 2023, §3.2 "post-thinking") asks the LLM what it
concluded, so the next question recalls the conclusion instead of re-reasoning over raw
history. Two ways to get those thoughts, same result type:

* :func:`post_think` — with a :class:`~agentmem.protocols.ChatModel`: the prompt
  :data:`POST_THINKING` (a template kept as data, today's date passed in) asks for a JSON list of
  thoughts, each a sentence with an optional ``(subject, relation, object)`` triple.
  The model failing or answering something unparseable raises :class:`ExtractionError`;
  an empty list ``[]`` means "nothing worth remembering" and returns ``[]``.
* :func:`derive_thoughts` — without an LLM: deterministic, one thought per fact that
  :func:`agentmem.mechanisms.graph.offline.extract_triples` finds in the exchange (the user's first
  person and the assistant's second person both become "the user").
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from agentmem.errors import ExtractionError
from agentmem.mechanisms.graph.offline import extract_triples
from agentmem.protocols import ChatMessage, ChatModel

__all__ = ["POST_THINKING", "PromptTemplate", "ThoughtDraft", "derive_thoughts", "parse_thoughts", "post_think"]


@dataclass(frozen=True, slots=True)
class ThoughtDraft:
    """A thought before it is stored: a sentence and, when it states one fact, its triple."""

    text: str
    subject: str | None = None
    relation: str | None = None
    object: str | None = None

    def triple(self) -> tuple[str, str, str] | None:
        if self.subject and self.relation and self.object:
            return (self.subject, self.relation, self.object)
        return None


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A chat prompt as data: ``str.format`` templates with named variables."""

    system: str
    user: str
    variables: tuple[str, ...]

    def render(self, **values: str) -> list[ChatMessage]:
        missing = set(self.variables) - set(values)
        if missing:
            raise ValueError(f"prompt variables missing: {sorted(missing)}")
        return [("system", self.system.format(**values)), ("user", self.user.format(**values))]


POST_THINKING = PromptTemplate(
    system=(
        "You are the memory of an AI assistant. Today is {today}. After each exchange you write "
        "down the conclusions worth remembering for future conversations: facts about the user "
        "and their world, preferences, decisions, and conclusions the assistant reached. Each "
        "thought is one short self-contained sentence that names its subject (write 'the user' "
        "for the person asking, never 'I' or 'you'); resolve relative dates against today. When "
        "a thought states a single fact, also give it as subject, relation, object. Do not "
        "repeat the question, do not write greetings or chit-chat.\n"
        "Answer with a JSON list and nothing else, e.g.\n"
        '[{{"thought": "The user is allergic to peanuts.", "subject": "the user", '
        '"relation": "is allergic to", "object": "peanuts"}}]\n'
        "Write [] when there is nothing worth remembering."
    ),
    user="Question: {query}\n\nResponse: {response}\n\nThoughts (JSON list):",
    variables=("today", "query", "response"),
)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def _clean(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ExtractionError(f"post-thinking: {field!r} must be a string, got {type(value).__name__}")
    text = " ".join(value.split())
    return text or None


def parse_thoughts(raw: str) -> list[ThoughtDraft]:
    """Parse the model's reply to :data:`POST_THINKING`.

    Raises
    ------
    ExtractionError
        The reply is not a JSON list of thought objects (or strings).
    """
    text = _FENCE.sub("", raw.strip())
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end < start:
        raise ExtractionError(f"post-thinking reply is not a JSON list: {raw[:200]!r}")
    try:
        items = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ExtractionError(f"post-thinking reply is not valid JSON: {exc}") from exc
    drafts: list[ThoughtDraft] = []
    for item in items:
        if isinstance(item, str):
            item = {"thought": item}
        if not isinstance(item, dict):
            raise ExtractionError(f"post-thinking item is not an object: {item!r}")
        body = _clean(item.get("thought"), "thought")
        if body is None:
            continue
        s, r, o = (_clean(item.get(k), k) for k in ("subject", "relation", "object"))
        if not (s and r and o):  # a partial triple states no fact: keep the sentence alone
            s = r = o = None
        drafts.append(ThoughtDraft(body, s, r, o))
    return drafts


def post_think(
    chat_model: ChatModel, query: str, response: str, *, today: date, template: PromptTemplate = POST_THINKING
) -> list[ThoughtDraft]:
    """Ask ``chat_model`` for the thoughts of one exchange (see module docstring).

    Raises
    ------
    ExtractionError
        The model raised, or its reply could not be parsed.
    """
    messages = template.render(today=today.isoformat(), query=query, response=response)
    try:
        raw = chat_model.generate(messages)
    except Exception as exc:  # any provider error: translate at this boundary
        raise ExtractionError(f"post-thinking: the chat model failed: {exc}") from exc
    if not isinstance(raw, str):
        raise ExtractionError(f"post-thinking: the chat model returned {type(raw).__name__}, not text")
    return parse_thoughts(raw)


_FIRST_PERSON = {"i", "me", "my", "myself"}
_SECOND_PERSON = {"you", "your", "yourself"}


def _person(subject: str, pronouns: set[str]) -> str:
    return "the user" if subject.lower() in pronouns else subject


def derive_thoughts(query: str, response: str) -> list[ThoughtDraft]:
    """Thoughts of an exchange without an LLM: one per extracted fact, in order, deduplicated.

    Facts come from the user's question (first person → "the user") and the assistant's
    response (second person → "the user"). Bare co-occurrences (relation ``"mentions"``) are
    not conclusions and are skipped. Returns ``[]`` when no fact is found.
    """
    seen: dict[tuple[str, str, str], ThoughtDraft] = {}
    sources: Sequence[tuple[str, set[str]]] = ((query, _FIRST_PERSON), (response, _SECOND_PERSON))
    for text, pronouns in sources:
        for s, r, o in extract_triples(text):
            if r == "mentions":
                continue
            s = _person(s, pronouns)
            key = (s.lower(), r.lower(), o.lower())
            if key not in seen:
                seen[key] = ThoughtDraft(f"{s} {r} {o}.", s, r, o)
    return list(seen.values())
