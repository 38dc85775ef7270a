"""A LlamaIndex memory (``llama_index.core.memory.BaseMemory``) backed by agentmem.

>>> memory = AgentMemLlamaMemory.from_defaults(memory=Memory(), user_id="ada", session_id="s1")  # doctest: +SKIP
>>> agent = FunctionAgent(tools=..., llm=...); await agent.run("hi", memory=memory)              # doctest: +SKIP

``put`` / ``put_messages`` store messages as memories of one session; ``get_all`` returns
that session's messages; ``get(input)`` returns the latest ``history_limit`` of them, led —
when ``input`` is given — by a system message holding what ``Memory.recall`` found for it
across all of the user's sessions (the long-term part). ``reset`` deletes the session only.
"""

from __future__ import annotations

import uuid
from typing import Any

from agentmem import BackendUnavailableError, Turn

from ._backend import MemoryBackend, check_backend, session_turns, tenant_kwargs
from ._tool_calls import (
    CONTENT_EMPTY,
    TOOL_CALL_ID,
    TOOL_CALLS,
    from_openai,
    stored_content,
    to_openai,
    tool_calls_of,
)

try:
    from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock, ToolCallBlock
    from llama_index.core.bridge.pydantic import Field, field_validator
    from llama_index.core.memory import BaseMemory
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise BackendUnavailableError("llama-index-core", "llamaindex") from exc

__all__ = ["AgentMemLlamaMemory"]

# LlamaIndex role → agentmem role (agentmem knows user/assistant/system/tool/document).
_TO_AGENTMEM = {
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "tool",
}
_FROM_AGENTMEM = {
    "user": MessageRole.USER,
    "assistant": MessageRole.ASSISTANT,
    "system": MessageRole.SYSTEM,
    "tool": MessageRole.TOOL,
    "document": MessageRole.USER,
}


# set when the calls came as ``ToolCallBlock``s, so they come back as blocks
_AS_BLOCKS = "tool_calls_as_blocks"


def _message(turn: Turn) -> ChatMessage:
    """A stored turn as a LlamaIndex message; tool calls come back in
    ``additional_kwargs["tool_calls"]`` (OpenAI format) or as ``ToolCallBlock``s, as they were
    given, and a tool result's ``tool_call_id`` in ``additional_kwargs``."""
    kwargs: dict[str, Any] = {"agentmem_id": turn.id, "speaker": turn.speaker}
    content = "" if turn.metadata.get(CONTENT_EMPTY) else turn.content
    calls = tool_calls_of(turn.metadata)
    blocks: list[Any] = []
    if calls and turn.metadata.get(_AS_BLOCKS):
        if content:
            blocks.append(TextBlock(text=content))
        blocks.extend(
            ToolCallBlock(tool_call_id=c.get("id"), tool_name=c["name"], tool_kwargs=c["args"]) for c in calls
        )
    elif calls:
        kwargs["tool_calls"] = to_openai(calls)
    if isinstance(turn.metadata.get(TOOL_CALL_ID), str):
        kwargs["tool_call_id"] = turn.metadata[TOOL_CALL_ID]
        kwargs["name"] = turn.speaker
    role = _FROM_AGENTMEM.get(turn.role, MessageRole.USER)
    if blocks:
        return ChatMessage(role=role, blocks=blocks, additional_kwargs=kwargs)
    return ChatMessage(role=role, content=content, additional_kwargs=kwargs)


def _record(message: ChatMessage) -> dict[str, Any]:
    """A LlamaIndex message as an agentmem message dict (its ``content`` may be empty)."""
    role = _TO_AGENTMEM.get(message.role, "user")
    extra = message.additional_kwargs
    meta: dict[str, Any] = {}
    block_calls = [
        {"id": b.tool_call_id, "name": b.tool_name, "args": b.tool_kwargs}
        for b in message.blocks if isinstance(b, ToolCallBlock)
    ]
    calls = from_openai(block_calls or extra.get("tool_calls") or [])
    if calls:
        meta[TOOL_CALLS] = calls
        if block_calls:
            meta[_AS_BLOCKS] = True
    if isinstance(extra.get("tool_call_id"), str):
        meta[TOOL_CALL_ID] = extra["tool_call_id"]
    text = "".join(b.text for b in message.blocks if isinstance(b, TextBlock))
    content, empty = stored_content(text, calls, role)
    if empty and content:
        meta[CONTENT_EMPTY] = True
    speaker = extra.get("name") if role == "tool" else None
    record = {"role": role, "content": content, "id": uuid.uuid4().hex, "metadata": meta}
    if isinstance(speaker, str) and speaker.strip():
        record["speaker"] = speaker
    return record


class AgentMemLlamaMemory(BaseMemory):
    """Chat memory of one session, with long-term recall over all of the user's memories.

    Parameters
    ----------
    memory
        :class:`agentmem.Memory` or ``agentmem.client.MemoryClient``.
    user_id, session_id, tenant
        Whose conversation this is (``tenant=None``: the backend's default).
    history_limit
        Most session messages ``get`` returns (the latest ones).
    token_budget, k
        Passed to ``Memory.recall`` when ``get`` is given an ``input``.
    """

    memory: Any = Field(description="agentmem Memory or MemoryClient")
    user_id: str
    session_id: str
    tenant: str | None = None
    history_limit: int = Field(default=40, ge=1)
    token_budget: int = Field(default=500, ge=1)
    k: int = Field(default=20, ge=1)

    @field_validator("memory")
    @classmethod
    def _check_memory(cls, value: Any) -> MemoryBackend:
        return check_backend(value)

    @classmethod
    def class_name(cls) -> str:
        return "AgentMemLlamaMemory"

    @classmethod
    def from_defaults(cls, **kwargs: Any) -> AgentMemLlamaMemory:
        """Build from keyword arguments; without ``memory``, an :class:`agentmem.Memory` with
        the default configuration (``$AGENTMEM_HOME`` or ``./.agentmem``)."""
        if kwargs.get("memory") is None:
            from agentmem import Memory

            kwargs["memory"] = Memory()
        return cls(**kwargs)

    # -- read --------------------------------------------------------------------------------
    def _turns(self) -> list[Turn]:
        return session_turns(self.memory, user_id=self.user_id, session_id=self.session_id, tenant=self.tenant)

    def get_all(self) -> list[ChatMessage]:
        """Every message of the session, oldest first."""
        return [_message(t) for t in self._turns()]

    def get(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        """The latest ``history_limit`` messages, led by recalled memories for ``input``."""
        history = self.get_all()[-self.history_limit :]
        if not input or not input.strip():
            return history
        pack = self.memory.recall(
            input, user_id=self.user_id, token_budget=self.token_budget, k=self.k,
            **tenant_kwargs(self.tenant),
        )
        if not pack.hits:
            return history
        return [ChatMessage(role=MessageRole.SYSTEM, content=pack.text), *history]

    # -- write -------------------------------------------------------------------------------
    def put(self, message: ChatMessage) -> None:
        self.put_messages([message])

    def put_messages(self, messages: list[ChatMessage]) -> None:
        """Store messages in one call; each gets an id so repeated texts are all kept, and
        tool calls and ``tool_call_id``s are kept in the turns' metadata."""
        batch = [r for r in map(_record, messages) if r["content"]]
        if batch:
            self.memory.add(batch, user_id=self.user_id, session_id=self.session_id, **tenant_kwargs(self.tenant))

    def set(self, messages: list[ChatMessage]) -> None:
        """Replace the session's messages."""
        self.reset()
        self.put_messages(messages)

    def reset(self) -> None:
        """Delete the session's messages (the user's other memories stay)."""
        ids = [t.id for t in self._turns()]
        if ids:
            self.memory.delete_many(ids, user_id=self.user_id, **tenant_kwargs(self.tenant), missing_ok=True)
