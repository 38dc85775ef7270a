"""Runs the OpenIE prompts against a :class:`~agentmem.protocols.ChatModel` (the only I/O of extraction).

Passages are processed in batches with at most ``max_concurrency`` calls in flight (threads:
``ChatModel.generate`` is synchronous and mostly waits on the network). Each passage takes two
calls, NER then triples conditioned on the entities, as in HippoRAG. A call that raises or
returns unparseable output fails the batch with :class:`~agentmem.errors.ExtractionError`
naming the passage; a passage with nothing to extract yields empty lists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from agentmem.errors import AgentMemError, ExtractionError
from agentmem.mechanisms.graph import openie
from agentmem.protocols import ChatMessage, ChatModel

__all__ = ["ExtractionRunner", "OpenIEResult"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OpenIEResult:
    """Entities and triples of one passage."""

    entities: tuple[str, ...]
    triples: tuple[tuple[str, str, str], ...]


class ExtractionRunner:
    """Drive the sans-I/O prompts of :mod:`agentmem.mechanisms.graph.openie` with a chat model.

    Parameters
    ----------
    model
        Any object with ``generate(messages) -> str``.
    max_concurrency
        Most calls in flight at once.
    today
        The date the prompts state (default: the day of the call, read per call).
    """

    def __init__(self, model: ChatModel, *, max_concurrency: int = 4, today: date | None = None) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.model = model
        self.max_concurrency = max_concurrency
        self.today = today

    def _ask(self, messages: Sequence[ChatMessage], parse: Callable[[str], T], what: str) -> T:
        try:
            reply = self.model.generate(messages)
        except AgentMemError:
            raise
        except Exception as exc:  # a provider's own error types: translate at this boundary
            raise ExtractionError(f"{what}: chat model call failed: {exc}") from exc
        if not isinstance(reply, str):
            raise ExtractionError(f"{what}: chat model returned {type(reply).__name__}, not str")
        try:
            return parse(reply)
        except ExtractionError as exc:
            raise ExtractionError(f"{what}: {exc}") from exc

    def _one(self, i: int, passage: str) -> OpenIEResult:
        today = self.today or date.today()
        entities = self._ask(openie.ner_messages(passage, today=today), openie.parse_ner, f"passage {i} NER")
        triples = self._ask(
            openie.triple_messages(passage, entities, today=today),
            openie.parse_triples,
            f"passage {i} triples",
        )
        return OpenIEResult(tuple(entities), tuple(triples))

    def extract(self, passages: Sequence[str]) -> list[OpenIEResult]:
        """NER then triples for every passage, row-aligned with ``passages``.

        Raises
        ------
        ExtractionError
            A call failed or a reply could not be parsed (the first such passage is named).
        """
        if len(passages) <= 1 or self.max_concurrency == 1:
            return [self._one(i, p) for i, p in enumerate(passages)]
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            return list(pool.map(self._one, range(len(passages)), passages))

    def filter_facts(self, question: str, facts: Sequence[tuple[str, str, str]]) -> list[int]:
        """HippoRAG 2's recognition memory: indices of ``facts`` relevant to ``question``."""
        if not facts:
            return []
        return self._ask(
            openie.filter_messages(question, facts, today=self.today or date.today()),
            lambda reply: openie.parse_filter(reply, facts),
            "fact filter",
        )
