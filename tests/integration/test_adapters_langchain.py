"""LangChain adapters: retriever (incl. ``langchain-tests``' standard suite), chat history and
agent middleware — against an in-process ``Memory`` and a sidecar over loopback."""

# ruff: noqa: F811  (pytest fixtures imported from test_adapters_backends are redefined as arguments)
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_adapters_backends import (  # noqa: F401 - fixtures
    backend,
    local_memory,
    sidecar_memory,
    sidecar_url,
    user,
)

pytest.importorskip("langchain_core")
pytest.importorskip("langchain.agents")

from langchain.agents import create_agent  # noqa: E402
from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402

from agentmem import ValidationError  # noqa: E402
from agentmem.adapters import (  # noqa: E402
    AgentMemChatMessageHistory,
    AgentMemMiddleware,
    AgentMemRetriever,
)

FACTS = [
    "I adopted a grey cat named Miso last spring.",
    "My sister Clara lives in Lisbon and teaches piano.",
    "I am allergic to peanuts, so I never order satay.",
    "We are planning a hiking trip to Patagonia in March.",
    "My favourite dessert is a Basque cheesecake.",
]


def _seed(mem: Any, user_id: str) -> None:
    mem.add([{"role": "user", "content": f} for f in FACTS], user_id=user_id, session_id="seed")


# -- retriever --------------------------------------------------------------------------------

def test_retriever_documents_carry_provenance_and_scores(backend: Any, user: str) -> None:
    _seed(backend, user)
    retriever = AgentMemRetriever(memory=backend, user_id=user, k=2)
    docs = retriever.invoke("what is my cat called?")
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    assert "Miso" in top.page_content
    meta = top.metadata
    assert top.id == meta["id"] and meta["kind"] == "turn" and meta["source"] == "agentmem"
    assert meta["user_id"] == user and meta["session_id"] == "seed" and meta["timestamp"]
    assert isinstance(meta["score"], float) and meta["score"] >= docs[1].metadata["score"]
    assert meta["signals"] and all(isinstance(r, int) for r in meta["signals"].values())
    assert all(isinstance(v, float) for v in meta["signal_scores"].values())
    # per-call k and filters
    assert len(retriever.invoke("family", k=4)) == 4
    assert retriever.invoke("cat", filters={"session_id": "elsewhere"}) == []
    # the one filter dialect, in-process and over REST ($ne / $in returned [] before)
    backend.add("I prefer window seats.", user_id=user, session_id="travel", agent_id="trips",
                metadata={"topic": "travel"})
    seen = [d.page_content for d in retriever.invoke("seats cat", k=10, filters={"metadata": {"topic": {"$ne": "travel"}}})]
    assert len(seen) == len(FACTS) and "I prefer window seats." not in seen  # no topic is not "travel"
    assert [d.page_content for d in retriever.invoke("seats", filters={"topic": {"$in": ["travel"]}})] \
        == ["I prefer window seats."]
    assert {d.metadata["session_id"] for d in retriever.invoke("cat", k=10, filters={"agent_id": {"$ne": "trips"}})} \
        == {"seed"}
    with pytest.raises(ValidationError):
        retriever.invoke("cat", filters={"topic": {"$regex": "t"}})
    # the async twin
    adocs = asyncio.run(retriever.ainvoke("what is my cat called?", k=1))
    assert [d.id for d in adocs] == [top.id]
    with pytest.raises(ValidationError):
        retriever.invoke("cat", k=0)


def test_retriever_in_a_chain(local_memory: Any, user: str) -> None:
    from langchain_core.language_models.fake_chat_models import ParrotFakeChatModel
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough

    _seed(local_memory, user)
    retriever = AgentMemRetriever(memory=local_memory, user_id=user, k=1)
    prompt = ChatPromptTemplate.from_messages([("human", "Context: {context}\nQuestion: {question}")])

    def join(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    chain = {"context": retriever | join, "question": RunnablePassthrough()} | prompt | ParrotFakeChatModel()
    out = chain.invoke("where does my sister live?")
    assert "Lisbon" in out.text


# -- the langchain-tests standard suite ---------------------------------------------------

try:
    from langchain_tests.integration_tests import RetrieversIntegrationTests
except ImportError:  # pragma: no cover - langchain-tests not installed
    RetrieversIntegrationTests = None  # type: ignore[assignment,misc]

if RetrieversIntegrationTests is not None:

    class TestAgentMemRetrieverStandard(RetrieversIntegrationTests):  # type: ignore[misc,valid-type]
        """``langchain-tests``' retriever suite over a seeded in-process Memory."""

        # the suite has one async test; pytest-asyncio runs in strict mode (marks required)
        pytestmark = [
            pytest.mark.asyncio,
            pytest.mark.filterwarnings("ignore:.*marked with '@pytest.mark.asyncio' but it is not an async"),
        ]

        @pytest.fixture(autouse=True)
        def _memory(self, local_memory: Any) -> None:
            if not local_memory.memories(user_id="standard-suite"):
                _seed(local_memory, "standard-suite")
            self._mem = local_memory

        @property
        def retriever_constructor(self) -> type[AgentMemRetriever]:
            return AgentMemRetriever

        @property
        def retriever_constructor_params(self) -> dict[str, Any]:
            return {"memory": self._mem, "user_id": "standard-suite"}

        @property
        def retriever_query_example(self) -> str:
            return "what do I like to eat?"
else:  # pragma: no cover

    def test_standard_retriever_suite() -> None:
        pytest.skip("langchain-tests is not installed")


# -- chat history -----------------------------------------------------------------------------

def test_chat_history_roundtrip(backend: Any, user: str) -> None:
    history = AgentMemChatMessageHistory(backend, user_id=user, session_id="chat-1")
    other = AgentMemChatMessageHistory(backend, user_id=user, session_id="chat-2")
    assert history.messages == []
    history.add_messages([
        SystemMessage("be brief"), HumanMessage("yes"), AIMessage("ok"), HumanMessage("yes"),
        HumanMessage("I'm Ada", name="Ada"),
    ])
    other.add_user_message("unrelated")
    msgs = history.messages
    assert [type(m) for m in msgs] == [SystemMessage, HumanMessage, AIMessage, HumanMessage, HumanMessage]
    assert [m.text for m in msgs] == ["be brief", "yes", "ok", "yes", "I'm Ada"]  # repeats kept
    assert msgs[4].name == "Ada"
    assert asyncio.run(history.aget_messages()) == msgs
    history.clear()
    assert history.messages == []
    assert [m.text for m in other.messages] == ["unrelated"]  # only the session was cleared
    # stored turns are memories: recall finds them
    assert "unrelated" in backend.recall("unrelated", user_id=user, token_budget=100).text


def test_chat_history_with_runnable_with_message_history(local_memory: Any, user: str) -> None:
    from langchain_core.language_models.fake_chat_models import ParrotFakeChatModel
    from langchain_core.runnables.history import RunnableWithMessageHistory

    chain = RunnableWithMessageHistory(
        ParrotFakeChatModel(),
        lambda session_id: AgentMemChatMessageHistory(local_memory, user_id=user, session_id=session_id),
    )
    chain.invoke([HumanMessage("first")], config={"configurable": {"session_id": "rwmh"}})
    chain.invoke([HumanMessage("second")], config={"configurable": {"session_id": "rwmh"}})
    texts = [t.content for t in local_memory.memories(user_id=user, session_id="rwmh")]
    assert texts == ["first", "first", "second", "second"]  # parrot answers echo the question


# -- middleware -------------------------------------------------------------------------------

class SeenMessages(BaseCallbackHandler):
    """Records what the chat model was called with (a LangChain callback, no patching)."""

    def __init__(self) -> None:
        self.calls: list[list[BaseMessage]] = []

    def on_chat_model_start(self, serialized: Any, messages: list[list[BaseMessage]], **kwargs: Any) -> None:
        self.calls.extend(messages)


def test_middleware_recalls_before_the_model_and_remembers_after(backend: Any, user: str) -> None:
    model = GenericFakeChatModel(messages=iter([
        AIMessage("Noted: your sister Clara lives in Lisbon."),
        AIMessage("Your sister is Clara."),
    ]))
    agent = create_agent(
        model, tools=[], system_prompt="You are helpful.",
        middleware=[AgentMemMiddleware(backend, token_budget=300)], checkpointer=InMemorySaver(),
    )
    seen = SeenMessages()
    agent.invoke(
        {"messages": [HumanMessage("My sister Clara lives in Lisbon.")]},
        config={"configurable": {"thread_id": "t1"}, "callbacks": [seen]}, context={"user_id": user},
    )
    stored = backend.memories(user_id=user, session_id="t1")
    assert [t.role for t in stored] == ["user", "assistant"]
    assert stored[1].content == "Noted: your sister Clara lives in Lisbon."

    out = agent.invoke(
        {"messages": [HumanMessage("What is my sister called?")]},
        config={"configurable": {"thread_id": "t2"}, "callbacks": [seen]}, context={"user_id": user},
    )
    system = seen.calls[-1][0]
    assert isinstance(system, SystemMessage)
    assert system.text.startswith("You are helpful.") and "Clara lives in Lisbon" in system.text
    # recalled memories go to the model call only, never into the thread's messages
    assert not any(isinstance(m, SystemMessage) for m in out["messages"])
    assert [t.content for t in backend.memories(user_id=user, session_id="t2")] == [
        "What is my sister called?", "Your sister is Clara."
    ]


def test_middleware_async_and_needs_a_user(local_memory: Any, user: str) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("hello"), AIMessage("again")]))
    agent = create_agent(model, tools=[], middleware=[AgentMemMiddleware(local_memory, user_id=user, think=False)])
    out = asyncio.run(agent.ainvoke({"messages": [HumanMessage("hi there")]}))
    assert out["messages"][-1].text == "hello"
    assert [t.content for t in local_memory.memories(user_id=user)] == ["hi there", "hello"]

    anonymous = create_agent(model, tools=[], middleware=[AgentMemMiddleware(local_memory)])
    with pytest.raises(ValidationError, match="needs a user"):
        anonymous.invoke({"messages": [HumanMessage("who am I?")]})
