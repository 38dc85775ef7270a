"""A LangChain chain that answers from a user's memories through ``AgentMemRetriever``.

Each retrieved ``Document`` carries its provenance (memory id, session, timestamp) and scores
(fused score, and which signals — dense, bm25, time, ... — found it).

Runs offline: ``ParrotFakeChatModel`` echoes the prompt it receives, so the output shows
exactly what the chain put in front of the model (swap in any LangChain chat model)::

    python examples/langchain_retriever_chain.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import ParrotFakeChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from agentmem.adapters import AgentMemRetriever


def open_memory() -> Any:
    """A sidecar client when ``AGENTMEM_URL`` is set, else an in-process Memory."""
    if url := os.environ.get("AGENTMEM_URL"):
        from agentmem.client import MemoryClient

        return MemoryClient(url, os.environ.get("AGENTMEM_API_KEY"))
    from agentmem import EpisodeConfig, Memory, MemoryConfig

    home = Path(os.environ.get("AGENTMEM_HOME") or tempfile.mkdtemp(prefix="agentmem-example-"))
    return Memory(MemoryConfig(home=home, episodes=EpisodeConfig(segmenter="drift")))


def format_docs(docs: list[Document]) -> str:
    return "\n".join(
        f"- ({d.metadata['timestamp'][:10]}, found by {'+'.join(d.metadata['signals'])}) {d.page_content}"
        for d in docs
    )


def main() -> None:
    memory = open_memory()
    memory.add(
        [
            {"role": "user", "content": "My sister Clara moved to Lisbon last year.", "timestamp": "2024-03-02T10:00:00Z"},
            {"role": "assistant", "content": "Lisbon is lovely! Does she like it?", "timestamp": "2024-03-02T10:00:05Z"},
            {"role": "user", "content": "She loves it, she teaches piano there now.", "timestamp": "2024-03-02T10:01:00Z"},
            {"role": "user", "content": "I'm allergic to peanuts.", "timestamp": "2024-04-11T18:30:00Z"},
        ],
        user_id="ada", session_id="2024-03-02",
    )
    retriever = AgentMemRetriever(memory=memory, user_id="ada", k=2)
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer from the user's memories."),
        ("human", "Memories:\n{context}\n\nQuestion: {question}"),
    ])
    chain = (
        {"context": retriever | format_docs, "question": RunnablePassthrough()}
        | prompt
        | ParrotFakeChatModel()
        | StrOutputParser()
    )
    question = "Where does my sister live?"
    for doc in retriever.invoke(question):
        print(f"{doc.metadata['score']:.4f} {dict(doc.metadata['signals'])} {doc.page_content}")
    answer = chain.invoke(question)  # the parrot model echoes its prompt
    print(answer)
    assert "Lisbon" in answer, "the retriever did not find the memory"


if __name__ == "__main__":
    main()
