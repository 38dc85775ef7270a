"""A LangChain ``BaseChatMessageHistory`` kept in agentmem (one session of one user).

``BaseChatMessageHistory`` is deprecated upstream (langchain-core 1.6.4, removal in 2.0) in
favour of LangGraph persistence, but ``RunnableWithMessageHistory`` apps still use it. The
messages stored through it are ordinary memories: ``Memory.recall`` finds them later.

>>> history = AgentMemChatMessageHistory(Memory(), user_id="ada", session_id="s1")  # doctest: +SKIP
>>> history.add_messages([HumanMessage("hi"), AIMessage("hello!")])                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from agentmem import BackendUnavailableError, Turn, ValidationError

from ._backend import MemoryBackend, check_backend, session_turns, tenant_kwargs
from ._tool_calls import (
    CONTENT_EMPTY,
    TOOL_CALL_ID,
    TOOL_CALLS,
    TOOL_STATUS,
    from_openai,
    stored_content,
    tool_calls_of,
)

try:
    from langchain_core.chat_history import BaseChatMessageHistory
    from langchain_core.messages import (
        AIMessage,
        BaseMessage,
        ChatMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
    )
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise BackendUnavailableError("langchain-core", "langchain") from exc

__all__ = ["AgentMemChatMessageHistory", "message_dict", "turn_message"]

# LangChain message type → agentmem role (agentmem knows user/assistant/system/tool/document).
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}


def message_dict(message: BaseMessage) -> dict[str, Any]:
    """A LangChain message as an agentmem message dict (its ``content`` may be empty).

    agentmem treats a re-sent message as a no-op; a chat history must keep a user saying
    "yes" twice, so a message without its own id gets a fresh one. An ``AIMessage``'s
    ``tool_calls`` and a ``ToolMessage``'s ``tool_call_id`` go into the metadata.
    """
    role = _ROLES.get(message.type, "user")
    if isinstance(message, ChatMessage):
        role = message.role if message.role in _ROLES.values() else "user"
    meta: dict[str, Any] = {}
    calls = from_openai(message.tool_calls) if isinstance(message, AIMessage) else []
    if calls:
        meta[TOOL_CALLS] = calls
    if isinstance(message, ToolMessage):
        meta[TOOL_CALL_ID] = message.tool_call_id
        if message.status != "success":
            meta[TOOL_STATUS] = message.status
    content, empty = stored_content(message.text, calls, role)
    if empty and content:
        meta[CONTENT_EMPTY] = True
    return {
        "role": role,
        "speaker": message.name or role,
        "content": content,
        "id": message.id or uuid.uuid4().hex,
        "metadata": meta,
    }


def _lc_calls(turn: Turn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The turn's stored calls as LangChain ``tool_calls`` and ``invalid_tool_calls``."""
    valid, invalid = [], []
    for c in tool_calls_of(turn.metadata):
        args = c.get("args")
        if isinstance(args, str):
            try:
                args = json.loads(args or "{}")
            except ValueError:
                invalid.append({"name": c["name"], "args": c["args"], "id": c.get("id"), "error": None,
                                "type": "invalid_tool_call"})
                continue
        if isinstance(args, dict):
            valid.append({"name": c["name"], "args": args, "id": c.get("id"), "type": "tool_call"})
    return valid, invalid


def turn_message(turn: Turn) -> BaseMessage:
    """A stored turn as the LangChain message of its role (speaker kept as ``name``).

    Assistant turns get back their ``tool_calls``; tool turns stored with a
    ``tool_call_id`` come back as ``ToolMessage``.
    """
    name = turn.speaker if turn.speaker != turn.role else None
    message_id = str(turn.metadata.get("message_id", turn.id))
    content = "" if turn.metadata.get(CONTENT_EMPTY) else turn.content
    if turn.role == "user":
        return HumanMessage(content=content, name=name, id=message_id)
    if turn.role == "assistant":
        valid, invalid = _lc_calls(turn)
        return AIMessage(content=content, name=name, id=message_id, tool_calls=valid,
                         invalid_tool_calls=invalid)
    if turn.role == "system":
        return SystemMessage(content=content, name=name, id=message_id)
    call_id = turn.metadata.get(TOOL_CALL_ID)
    if turn.role == "tool" and isinstance(call_id, str):
        status = turn.metadata.get(TOOL_STATUS, "success")
        return ToolMessage(content=content, tool_call_id=call_id, name=name, id=message_id,
                           status="error" if status == "error" else "success")
    # tool results stored without the id of their call: generic role messages
    return ChatMessage(role=turn.role, content=content, name=name, id=message_id)


class AgentMemChatMessageHistory(BaseChatMessageHistory):
    """Chat history of one ``session_id`` of one user, stored as agentmem memories.

    Parameters
    ----------
    memory
        :class:`agentmem.Memory` or ``agentmem.client.MemoryClient``.
    user_id, session_id, tenant
        Which conversation this history is (``tenant=None``: the backend's default).
    """

    def __init__(
        self, memory: MemoryBackend | Any, *, user_id: str, session_id: str, tenant: str | None = None
    ) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise ValidationError("session_id must be a non-empty string")
        self.memory = check_backend(memory)
        self.user_id = user_id
        self.session_id = session_id
        self.tenant = tenant

    def _turns(self) -> list[Turn]:
        return session_turns(self.memory, user_id=self.user_id, session_id=self.session_id, tenant=self.tenant)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first."""
        return [turn_message(t) for t in self._turns()]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Store messages in one call (one round trip to a sidecar)."""
        batch = [d for d in map(message_dict, messages) if d["content"]]
        if batch:
            self.memory.add(batch, user_id=self.user_id, session_id=self.session_id, **tenant_kwargs(self.tenant))

    def clear(self) -> None:
        """Delete the session's messages (the user's other memories stay)."""
        ids = [t.id for t in self._turns()]
        if ids:
            self.memory.delete_many(ids, user_id=self.user_id, **tenant_kwargs(self.tenant), missing_ok=True)
