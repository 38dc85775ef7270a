"""Contract test of ``AgentMemStore`` written from LangGraph's ``BaseStore`` documentation.

Every op type (GetOp, PutOp incl. delete / index / ttl, SearchOp incl. query / filter
operators / limit / offset, ListNamespacesOp incl. prefix / suffix / wildcards / max_depth),
the ordering of results, namespace validation and TTL — against an in-process ``Memory``
and against the sidecar over loopback. Then the store inside a LangGraph graph.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_adapters_backends are redefined as arguments)
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_adapters_backends import (  # noqa: F401 - fixtures
    FakeClock,
    backend,
    local_memory,
    sidecar_memory,
    sidecar_url,
    user,
)

pytest.importorskip("langgraph.store.base")

from langgraph.store.base import (  # noqa: E402
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchItem,
    SearchOp,
)

from agentmem import ValidationError  # noqa: E402
from agentmem.adapters import AgentMemStore  # noqa: E402


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(backend: Any, user: str, clock: FakeClock) -> AgentMemStore:
    return AgentMemStore(backend, user_id=user, clock=clock)


# -- GetOp / PutOp ----------------------------------------------------------------------------

def test_put_get_roundtrip_replace_and_delete(store: AgentMemStore, clock: FakeClock) -> None:
    value = {"text": "Ada adopted a grey cat named Miso", "tags": ["pet", "cat"], "n": 2, "nested": {"a": None}}
    store.put(("memories", "pets"), "cat", value)
    got = store.get(("memories", "pets"), "cat")
    assert isinstance(got, Item)
    assert got.value == value and got.key == "cat" and got.namespace == ("memories", "pets")
    assert got.created_at == got.updated_at == clock.now
    assert got.created_at.tzinfo is not None
    assert store.get(("memories", "pets"), "dog") is None
    assert store.get(("memories",), "cat") is None  # namespaces are exact for get

    clock.advance(5)
    store.put(("memories", "pets"), "cat", {"text": "Miso is now two years old"})
    again = store.get(("memories", "pets"), "cat")
    assert again is not None and again.value == {"text": "Miso is now two years old"}
    assert again.created_at == got.created_at and again.updated_at == clock.now
    assert len(store.search(("memories",))) == 1  # replaced, not duplicated

    store.delete(("memories", "pets"), "cat")
    assert store.get(("memories", "pets"), "cat") is None
    store.delete(("memories", "pets"), "cat")  # deleting what is gone is fine
    store.batch([PutOp(("memories", "pets"), "never", None)])


def test_batch_results_follow_op_order(store: AgentMemStore) -> None:
    ns = ("batch",)
    results = store.batch([
        PutOp(ns, "a", {"v": 1}),
        GetOp(ns, "a"),
        PutOp(ns, "b", {"v": 2}),
        SearchOp(ns, filter={"v": 2}),
        ListNamespacesOp(),
        PutOp(ns, "a", None),
        GetOp(ns, "a"),
    ])
    assert len(results) == 7
    assert results[0] is None and results[2] is None and results[5] is None
    assert isinstance(results[1], Item) and results[1].value == {"v": 1}
    assert [i.key for i in results[3]] == ["b"]  # type: ignore[union-attr]
    assert results[4] == [ns]
    assert results[6] is None


# -- SearchOp ---------------------------------------------------------------------------------

def test_search_prefix_filter_operators_and_paging(store: AgentMemStore, clock: FakeClock) -> None:
    rows = [
        (("docs", "a"), "k1", {"score": 1, "color": "red", "meta": {"lang": "en"}}),
        (("docs", "a"), "k2", {"score": 2.5, "color": "blue", "meta": {"lang": "fr"}}),
        (("docs", "b"), "k3", {"score": 4, "color": "red", "meta": {"lang": "en"}}),
        (("docsx",), "k4", {"score": 5, "color": "red"}),
    ]
    for ns, key, value in rows:
        clock.advance(1)
        store.put(ns, key, value, index=False)

    def keys(*args: Any, **kwargs: Any) -> list[str]:
        return [i.key for i in store.search(*args, **kwargs)]

    # newest-updated first; a prefix matches whole labels only
    assert keys(("docs",)) == ["k3", "k2", "k1"]
    assert keys(()) == ["k4", "k3", "k2", "k1"]
    assert keys(("docs", "a")) == ["k2", "k1"]
    assert keys(("nothing",)) == []
    # filters: exact, nested, and every operator
    assert keys(("docs",), filter={"color": "red"}) == ["k3", "k1"]
    assert keys(("docs",), filter={"meta": {"lang": "fr"}}) == ["k2"]
    assert keys((), filter={"score": {"$eq": 4}}) == ["k3"]
    assert keys((), filter={"color": {"$ne": "red"}}) == ["k2"]
    assert keys((), filter={"score": {"$gt": 2.5}}) == ["k4", "k3"]
    assert keys((), filter={"score": {"$gte": 2.5}}) == ["k4", "k3", "k2"]
    assert keys((), filter={"score": {"$lt": 2.5}}) == ["k1"]
    assert keys((), filter={"score": {"$lte": 2.5}}) == ["k2", "k1"]
    assert keys((), filter={"score": {"$gte": 2, "$lt": 5}, "color": "red"}) == ["k3"]
    assert keys((), filter={"missing": {"$gt": 0}}) == []
    # the rest of agentmem's one dialect (the same as Memory.search and /store)
    assert keys((), filter={"color": {"$in": ["blue", "green"]}}) == ["k2"]
    assert keys((), filter={"color": {"$nin": ["blue"]}, "meta.lang": "en"}) == ["k3", "k1"]
    assert keys((), filter={"$or": [{"score": {"$gt": 4}}, {"meta": {"lang": "fr"}}]}) == ["k4", "k2"]
    assert keys((), filter={"$not": {"color": "red"}}) == ["k2"]
    assert keys((), filter={"color": {"$contains": "lu"}}) == ["k2"]
    with pytest.raises(ValidationError, match="operator"):
        store.search((), filter={"score": {"$regex": "x"}})
    # limit / offset page through the same order
    assert keys((), limit=2) == ["k4", "k3"]
    assert keys((), limit=2, offset=2) == ["k2", "k1"]
    assert keys((), limit=2, offset=4) == []
    # results are SearchItems without a score when there is no query
    first = store.search(("docs", "b"))[0]
    assert isinstance(first, SearchItem) and first.score is None and first.value["score"] == 4


def test_search_with_query_ranks_by_meaning(store: AgentMemStore) -> None:
    ns = ("facts",)
    store.put(ns, "cat", {"text": "Ada has a grey cat named Miso who loves tuna"})
    store.put(ns, "job", {"text": "Ada works as a structural engineer building bridges"})
    store.put(ns, "trip", {"text": "Ada is planning a hiking trip to Patagonia in March"})
    store.put(ns, "secret", {"text": "the cat's vet appointment code is 4411"}, index=False)
    store.put(("other",), "cat2", {"text": "Bob's cat is black"})

    found = store.search(ns, query="what is the name of the cat?")
    assert [i.key for i in found][0] == "cat"
    assert {i.key for i in found} == {"cat", "job", "trip", "secret"}  # prefix respected
    ranked = [i for i in found if i.score is not None]
    assert [i.key for i in found[-1:]] == ["secret"] and found[-1].score is None  # index=False: unranked, last
    assert all(isinstance(i.score, float) for i in ranked)
    assert [i.score for i in ranked] == sorted((i.score for i in ranked), reverse=True)  # type: ignore[type-var]
    assert store.search(ns, query="bridges and engineering", limit=1)[0].key == "job"
    assert [i.key for i in store.search(ns, query="what is the name of the cat?", limit=2, offset=1)] == [
        i.key for i in found[1:3]
    ]
    # a query combines with a filter
    assert "cat" not in {i.key for i in store.search(ns, query="cat", filter={"text": {"$ne": found[0].value["text"]}})}


def test_index_fields_choose_what_is_searchable(store: AgentMemStore, backend: Any, user: str) -> None:
    ns = ("profile",)
    store.put(ns, "a", {"title": "favourite food", "body": "spicy ramen with extra garlic"}, index=["body"])
    store.put(ns, "b", {"title": "noodles", "tags": ["ramen", "udon"]}, index=["title", "tags[*]"])
    store.put(ns, "c", {"other": 1}, index=["missing"])  # nothing at that path: kept, unranked
    texts = {t.metadata["langgraph_store"]["key"]: t.content for t in backend.memories(user_id=user)}
    assert texts == {"a": "spicy ramen with extra garlic", "b": "noodles\nramen\nudon", "c": "other: 1"}
    found = store.search(ns, query="ramen with garlic")
    assert found[0].key == "a" and found[-1].key == "c" and found[-1].score is None


# -- ListNamespacesOp -------------------------------------------------------------------------

def test_list_namespaces(store: AgentMemStore) -> None:
    for ns in [("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f"), ("a", "c", "f"), ("x",)]:
        store.put(ns, "k", {"v": 1}, index=False)
    assert store.list_namespaces() == [
        ("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f"), ("a", "c", "f"), ("x",)
    ]
    # the BaseStore docstring example
    assert store.list_namespaces(prefix=("a", "b"), max_depth=3) == [("a", "b", "c"), ("a", "b", "d"), ("a", "b", "f")]
    assert store.list_namespaces(suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("a",), suffix=("*", "i")) == [("a", "b", "d", "i")]
    assert store.list_namespaces(max_depth=1) == [("a",), ("x",)]
    assert store.list_namespaces(limit=2, offset=1) == [("a", "b", "d", "e"), ("a", "b", "d", "i")]
    assert store.batch([ListNamespacesOp(match_conditions=(MatchCondition("suffix", ("c",)),))])[0] == [("a", "b", "c")]


# -- namespace validation ---------------------------------------------------------------------

@pytest.mark.parametrize("namespace", [("foo.bar",), ("foo", ""), (123,), ("a\x00b",)])
def test_invalid_namespace_labels_are_rejected(local_memory: Any, namespace: Any) -> None:
    store = AgentMemStore(local_memory, user_id="validation")
    for call in (
        lambda: store.put(namespace, "k", {"v": 1}),
        lambda: store.get(namespace, "k"),
        lambda: store.search(namespace),
        lambda: store.list_namespaces(prefix=namespace),
        lambda: store.batch([PutOp(namespace, "k", {"v": 1})]),  # ops handed in directly
        lambda: store.batch([GetOp(namespace, "k")]),
        lambda: store.batch([SearchOp(namespace)]),
    ):
        with pytest.raises(InvalidNamespaceError):
            call()
    assert local_memory.memories(user_id="validation") == []


def test_put_needs_a_namespace_not_rooted_at_langgraph(local_memory: Any) -> None:
    store = AgentMemStore(local_memory, user_id="validation")
    for ns in [(), ("langgraph", "x")]:
        with pytest.raises(InvalidNamespaceError):
            store.put(ns, "k", {"v": 1})
        with pytest.raises(InvalidNamespaceError):
            store.batch([PutOp(ns, "k", {"v": 1})])
    with pytest.raises(ValidationError):
        store.put(("ok",), "k", "not a mapping")  # type: ignore[arg-type]


# -- TTL --------------------------------------------------------------------------------------

def test_ttl_expires_refreshes_and_sweeps(store: AgentMemStore, clock: FakeClock, backend: Any, user: str) -> None:
    assert store.supports_ttl
    ns = ("session",)
    store.put(ns, "short", {"v": 1}, ttl=10)
    store.put(ns, "forever", {"v": 2})
    clock.advance(8)
    assert store.get(ns, "short") is not None  # read at 8 min: refreshed to expire at 18
    clock.advance(8)
    assert store.get(ns, "short", refresh_ttl=False) is not None  # 16 < 18, not refreshed
    clock.advance(3)  # 19 > 18
    assert store.get(ns, "short") is None
    assert [i.key for i in store.search(ns)] == ["forever"]
    assert store.list_namespaces() == [ns]

    store.put(ns, "gone", {"v": 3}, ttl=1)
    clock.advance(2)
    assert store.sweep_expired() == 1
    assert store.sweep_expired() == 0
    keys = {t.metadata["langgraph_store"]["key"] for t in backend.memories(user_id=user)}
    assert keys == {"forever"}  # expired items were deleted, not just hidden


def test_ttl_config_default_and_search_refresh(backend: Any, user: str, clock: FakeClock) -> None:
    store = AgentMemStore(backend, user_id=user, clock=clock, ttl={"default_ttl": 5, "refresh_on_read": False})
    store.put(("t",), "a", {"v": 1})  # takes default_ttl
    clock.advance(3)
    assert store.search(("t",))  # refresh_on_read=False: no refresh
    clock.advance(3)
    assert store.get(("t",), "a") is None
    store.put(("t",), "b", {"v": 1}, ttl=None)  # an explicit None: never expires
    clock.advance(10_000)
    assert store.get(("t",), "b") is not None


# -- scopes -----------------------------------------------------------------------------------

def test_user_from_namespace_keeps_users_apart(local_memory: Any, clock: FakeClock) -> None:
    store = AgentMemStore(local_memory, user_position=1, clock=clock)
    store.put(("memories", "ada-lg"), "food", {"text": "ramen"})
    store.put(("memories", "bob-lg"), "food", {"text": "pizza"})
    assert [t.metadata["langgraph_store"]["value"] for t in local_memory.memories(user_id="ada-lg")] == [{"text": "ramen"}]
    assert [i.value for i in store.search(("memories", "bob-lg"))] == [{"text": "pizza"}]
    assert store.list_namespaces(prefix=("memories", "ada-lg")) == [("memories", "ada-lg")]
    with pytest.raises(ValidationError, match="never cross users"):
        store.search(("memories",))
    with pytest.raises(ValidationError, match="never cross users"):
        store.list_namespaces()
    with pytest.raises(InvalidNamespaceError):
        store.put(("memories",), "k", {"v": 1})
    with pytest.raises(ValidationError):
        AgentMemStore(local_memory, user_id="x", user_position=0)


def test_items_are_recallable_memories(store: AgentMemStore, backend: Any, user: str) -> None:
    store.put(("memories",), "allergy", {"text": "Ada is allergic to peanuts"}, index=["text"])
    pack = backend.recall("does she have food allergies?", user_id=user, token_budget=200)
    assert "allergic to peanuts" in pack.text


# -- async ------------------------------------------------------------------------------------

def test_async_api(store: AgentMemStore) -> None:
    async def run() -> None:
        await store.aput(("a",), "k", {"text": "async value"})
        got = await store.aget(("a",), "k")
        assert got is not None and got.value == {"text": "async value"}
        assert [i.key for i in await store.asearch(("a",), query="value")] == ["k"]
        assert await store.alist_namespaces() == [("a",)]
        res = await store.abatch([GetOp(("a",), "k"), PutOp(("a",), "k", None), GetOp(("a",), "k")])
        assert isinstance(res[0], Item) and res[1] is None and res[2] is None
        await store.adelete(("a",), "nothing")

    asyncio.run(run())


# -- inside LangGraph -------------------------------------------------------------------------

def test_state_graph_remembers_across_threads(local_memory: Any, user: str) -> None:
    from typing import TypedDict

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.runtime import Runtime

    class State(TypedDict):
        text: str
        answer: str

    def node(state: State, runtime: Runtime[Any]) -> dict[str, str]:
        assert runtime.store is not None
        if state["text"].startswith("remember "):
            runtime.store.put(("notes",), "fact", {"text": state["text"][len("remember "):]})
            return {"answer": "noted"}
        hits = runtime.store.search(("notes",), query=state["text"], limit=1)
        return {"answer": hits[0].value["text"] if hits else "no idea"}

    builder = StateGraph(State)
    builder.add_node("node", node)
    builder.add_edge(START, "node")
    builder.add_edge("node", END)
    graph = builder.compile(checkpointer=InMemorySaver(), store=AgentMemStore(local_memory, user_id=user))
    graph.invoke({"text": "remember my locker code is 2718", "answer": ""}, {"configurable": {"thread_id": "1"}})
    out = graph.invoke({"text": "what is my locker code?", "answer": ""}, {"configurable": {"thread_id": "2"}})
    assert out["answer"] == "my locker code is 2718"
