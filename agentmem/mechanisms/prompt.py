"""A chat prompt as data, shared by the mechanisms that ask a chat model (thoughts, facts)."""

from __future__ import annotations

from dataclasses import dataclass

from agentmem.protocols import ChatMessage

__all__ = ["PromptTemplate"]


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
