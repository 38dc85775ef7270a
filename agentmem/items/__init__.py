"""One item store for LangGraph-style JSON documents, in-process and behind the sidecar.

Items are addressed by ``(namespace, key)`` and kept as turns of their owner, so they are
embedded once, ranked by the memory's own search, recalled next to the conversation and
deleted with the user. :class:`ItemStore` (``Memory.items``) is the implementation;
:class:`HttpItemStore` (``MemoryClient.items``) sends the same calls to the sidecar's
``/store`` routes, which run them on the server's :class:`ItemStore`.

>>> memory.items.put(("ada", "prefs"), "food", {"likes": "ramen"})          # doctest: +SKIP
>>> memory.items.search(("ada",), query="what does she eat?")[0].key        # doctest: +SKIP
'food'
"""

from __future__ import annotations

from agentmem.items.http import HttpItemStore
from agentmem.items.model import META, SPEAKER, Item, ItemPut, check_namespace
from agentmem.items.store import ItemStore
from agentmem.items.text import index_text, render_value, values_at_path

__all__ = [
    "META",
    "SPEAKER",
    "HttpItemStore",
    "Item",
    "ItemPut",
    "ItemStore",
    "check_namespace",
    "index_text",
    "render_value",
    "values_at_path",
]
