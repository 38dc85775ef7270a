"""A LangChain tool that reads the user's facts: what holds now, and what held before.

>>> tools = [remembered_facts_tool(Memory(), user_id="ada")]         # doctest: +SKIP
>>> agent = create_agent(model, tools)                                # doctest: +SKIP

Fact memory (``Memory.facts``) keeps subject–relation–object facts with their validity; the
tool gives them to the model as sentences with their time ("The user lives in Porto (since
2024-03-02; before: Lisbon)."). Arguments the model may pass: ``include_past`` (also the facts
that were superseded or ended: "where did I live before?") and ``subject`` (one person's facts).
The user is ``user_id=`` or, per run, ``context["user_id"]``, as for
:class:`~agentmem.adapters.AgentMemMiddleware` (which offers this tool with ``facts_tool=True``).
"""

from __future__ import annotations

from typing import Any

from agentmem import BackendUnavailableError, ValidationError

from ._backend import MemoryBackend, check_backend, tenant_kwargs

try:
    from langchain.tools import ToolRuntime
    from langchain_core.tools import BaseTool, StructuredTool
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise BackendUnavailableError("langchain", "langchain") from exc

__all__ = ["remembered_facts_tool"]

NAME = "remembered_facts"
DESCRIPTION = (
    "What you know about the user as dated facts: where they live, work, what they do, their "
    "status and preferences. Current facts by default; include_past=true also lists what was "
    "true before and when it changed. subject narrows to one person (e.g. 'Clara')."
)
NONE = "No facts are known about this user."


def _user(user_id: str | None, runtime: Any) -> str:
    if user_id is not None:
        return user_id
    context = getattr(runtime, "context", None)
    user = context.get("user_id") if isinstance(context, dict) else getattr(context, "user_id", None)
    if not isinstance(user, str) or not user:
        raise ValidationError(
            "remembered_facts needs a user: pass user_id=... or invoke the agent with context={'user_id': ...}"
        )
    return user


def remembered_facts_tool(
    memory: MemoryBackend | Any, *, user_id: str | None = None, tenant: str | None = None
) -> BaseTool:
    """The ``remembered_facts`` tool over ``memory`` (a ``Memory`` or ``MemoryClient``).

    Raises
    ------
    ValidationError
        ``memory`` is not a Memory look-alike or lists no facts.
    """
    backend = check_backend(memory)
    facts = getattr(backend, "facts", None)
    if not callable(facts):
        raise ValidationError(f"{type(memory).__name__} lists no facts (it needs a facts() method)")

    def listed(user: str, include_past: bool, subject: str | None) -> str:
        found = facts(user_id=user, subject=subject or None, include_past=include_past, **tenant_kwargs(tenant))
        found = sorted(found, key=lambda f: not f.current)  # what holds now first
        return "\n".join(f"- {f.text}" for f in found) or NONE

    def for_user(include_past: bool = False, subject: str | None = None) -> str:
        return listed(_user(user_id, None), include_past, subject)

    def for_run(runtime: ToolRuntime, include_past: bool = False, subject: str | None = None) -> str:
        return listed(_user(user_id, runtime), include_past, subject)

    # with a fixed user the tool needs no run (it can be invoked alone); else the agent injects it
    return StructuredTool.from_function(for_user if user_id is not None else for_run, name=NAME,
                                        description=DESCRIPTION)
