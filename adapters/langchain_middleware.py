"""LangChain agent middleware: recall before the model, remember (and post-think) after.

>>> agent = create_agent(model, tools, middleware=[AgentMemMiddleware(Memory())])  # doctest: +SKIP
>>> agent.invoke({"messages": [("user", "what is my cat called?")]},                # doctest: +SKIP
...              config={"configurable": {"thread_id": "t1"}}, context={"user_id": "ada"})

* ``before_model`` — for the latest user message, once per message, ``Memory.recall``
  packs the relevant memories into ``token_budget`` tokens; the text is kept in private,
  unchecked-pointed state.
* ``wrap_model_call`` — appends that text to the system message of the model call only, so
  recalled memories never enter the conversation's message history.
* ``facts_tool=True`` — the model also gets the ``remembered_facts`` tool (the user's facts,
  current or past, with their dates).
* ``after_agent`` — stores the exchange (the latest user message and the agent's final
  answer) with ``Memory.add`` in the session named by the thread id, then calls
  ``Memory.think(question, answer)`` (Think-in-Memory post-thinking).

The user is ``user_id=`` or, per run, ``context["user_id"]`` (``create_agent(...,
context_schema=...)`` / ``invoke(..., context={"user_id": ...})``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NotRequired

from agentmem import BackendUnavailableError, ValidationError

from ._backend import MemoryBackend, check_backend, tenant_kwargs
from .langchain_facts import remembered_facts_tool
from .langchain_history import message_dict

try:
    from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
    from langchain.agents.middleware.types import PrivateStateAttr
    from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
    from langgraph.channels.untracked_value import UntrackedValue
    from langgraph.runtime import Runtime
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise BackendUnavailableError("langchain", "langchain") from exc

__all__ = ["AgentMemMiddleware", "AgentMemState"]

DEFAULT_HEADER = "What you remember about this user (cite nothing you do not find here):"


class AgentMemState(AgentState[Any]):
    """Agent state with the recalled context (private, not checkpointed)."""

    agentmem_query: NotRequired[Annotated[str, UntrackedValue, PrivateStateAttr]]
    agentmem_context: NotRequired[Annotated[str, UntrackedValue, PrivateStateAttr]]


def _last(messages: list[AnyMessage], kind: type) -> AnyMessage | None:
    for m in reversed(messages):
        if isinstance(m, kind):
            return m
    return None


class AgentMemMiddleware(AgentMiddleware[AgentMemState, Any, Any]):
    """Long-term memory for ``langchain.agents.create_agent``.

    Parameters
    ----------
    memory
        :class:`agentmem.Memory` or ``agentmem.client.MemoryClient``.
    user_id
        The user, or ``None`` to read ``user_id`` from the run's context.
    tenant
        agentmem tenant; ``None``: the backend's default (``MemoryClient``: its key's).
    token_budget, k
        Passed to ``Memory.recall``.
    header
        Line put before the recalled memories in the system message.
    remember
        Store the exchange after the agent finishes.
    think
        Post-think the exchange (``Memory.think``) after storing it.
    facts_tool
        Also give the model the ``remembered_facts`` tool
        (:func:`~agentmem.adapters.remembered_facts_tool`): the user's dated facts, current or
        past, on demand (the model must support tool calling).
    """

    state_schema = AgentMemState

    def __init__(
        self,
        memory: MemoryBackend | Any,
        *,
        user_id: str | None = None,
        tenant: str | None = None,
        token_budget: int = 500,
        k: int = 20,
        header: str = DEFAULT_HEADER,
        remember: bool = True,
        think: bool = True,
        facts_tool: bool = False,
    ) -> None:
        super().__init__()
        self.memory = check_backend(memory)
        self.user_id = user_id
        self.tenant = tenant
        self.token_budget = token_budget
        self.k = k
        self.header = header
        self.remember = remember
        self.think = think
        self.tools = [remembered_facts_tool(self.memory, user_id=user_id, tenant=tenant)] if facts_tool else []

    # -- who -------------------------------------------------------------------------------
    def _user(self, runtime: Runtime[Any] | None) -> str:
        if self.user_id is not None:
            return self.user_id
        context = getattr(runtime, "context", None)
        user = context.get("user_id") if isinstance(context, dict) else getattr(context, "user_id", None)
        if not isinstance(user, str) or not user:
            raise ValidationError(
                "AgentMemMiddleware needs a user: pass user_id=... or invoke the agent with "
                "context={'user_id': ...}"
            )
        return user

    @staticmethod
    def _thread(runtime: Runtime[Any] | None) -> str | None:
        info = getattr(runtime, "execution_info", None)
        return getattr(info, "thread_id", None)

    # -- before the model: recall ------------------------------------------------------------
    def before_model(self, state: AgentMemState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Recall for the latest user message (once per message)."""
        question = _last(state["messages"], HumanMessage)
        if question is None or not question.text.strip():
            return None
        if state.get("agentmem_query") == question.text:
            return None
        pack = self.memory.recall(
            question.text, user_id=self._user(runtime), token_budget=self.token_budget, k=self.k,
            **tenant_kwargs(self.tenant),
        )
        return {"agentmem_query": question.text, "agentmem_context": pack.text if pack.hits else ""}

    async def abefore_model(self, state: AgentMemState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        return await asyncio.to_thread(self.before_model, state, runtime)

    def _with_memory(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        context = request.state.get("agentmem_context")
        if not context:
            return request
        text = f"{self.header}\n{context}"
        if request.system_message is not None:
            base = request.system_message.text
            text = f"{base}\n\n{text}" if base else text
        return request.override(system_message=SystemMessage(content=text))

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Call the model with the recalled memories added to its system message."""
        return handler(self._with_memory(request))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        return await handler(self._with_memory(request))

    # -- after the agent: remember and post-think -------------------------------------------
    def after_agent(self, state: AgentMemState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Store the latest question and the final answer, then post-think them."""
        if not self.remember:
            return None
        messages = state["messages"]
        answer = messages[-1] if messages and isinstance(messages[-1], AIMessage) else None
        question = _last(messages, HumanMessage)
        if answer is None or question is None or not answer.text.strip() or not question.text.strip():
            return None
        user = self._user(runtime)
        stored = self.memory.add(
            [message_dict(question), message_dict(answer)],
            user_id=user, session_id=self._thread(runtime), **tenant_kwargs(self.tenant),
        )
        if self.think:
            self.memory.think(
                question.text, answer.text, user_id=user, source_ids=[t.id for t in stored],
                **tenant_kwargs(self.tenant),
            )
        return None

    async def aafter_agent(self, state: AgentMemState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        return await asyncio.to_thread(self.after_agent, state, runtime)
