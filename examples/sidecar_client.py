"""Talk to an agentmem sidecar from Python: add a conversation, search it, recall a context.

Start a local sidecar first (no API keys, loopback only):

    agentmem serve --no-auth --port 8750

then run ``python examples/sidecar_client.py``. Against a shared deployment pass its URL and
an API key: ``AGENTMEM_URL=http://memory:8750 AGENTMEM_API_KEY=amk_... python examples/sidecar_client.py``.
"""

from __future__ import annotations

import asyncio
import os

from agentmem.client import AsyncMemoryClient, MemoryClient

URL = os.environ.get("AGENTMEM_URL", "http://127.0.0.1:8750")
KEY = os.environ.get("AGENTMEM_API_KEY")  # MemoryClient reads it too when api_key is None


def main() -> None:
    with MemoryClient(URL, api_key=KEY) as mem:
        mem.add(
            [
                {"role": "user", "content": "I adopted a grey cat named Miso.", "id": "m1"},
                {"role": "assistant", "content": "Miso is a lovely name! How old is she?", "id": "m2"},
                {"role": "user", "content": "Two years. Also, I'm allergic to peanuts.", "id": "m3"},
            ],
            user_id="ada",
            session_id="2024-02-19",
        )
        for hit in mem.search("what is my cat called?", user_id="ada", k=3):
            print(f"{hit.score:.4f} {sorted(hit.signals)} {hit.text}")
        pack = mem.recall("what should a restaurant know about me?", user_id="ada", token_budget=200)
        print(pack.text)

    async def recall_async() -> None:
        async with AsyncMemoryClient(URL, api_key=KEY) as amem:
            pack = await amem.recall("pets", user_id="ada", token_budget=100)
            print(f"async recall: {len(pack.hits)} memories, {pack.tokens} tokens")

    asyncio.run(recall_async())


if __name__ == "__main__":
    main()
