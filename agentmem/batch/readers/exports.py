"""Parsers for personal chat exports: ChatGPT ``conversations.json`` and Claude exports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentmem.batch.readers.records import (
    Conversation,
    ReadError,
    Record,
    _Bad,
    _message,
    _text,
    _ts,
)

__all__ = ["parse_chatgpt", "parse_claude"]


# -- ChatGPT ----------------------------------------------------------------------------------
_CHATGPT_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "tool": "tool"}


def _chatgpt_text(content: Any) -> str:
    if not isinstance(content, Mapping):
        raise _Bad("message content is not an object")
    parts = content.get("parts")
    if parts is None:
        text = content.get("text")  # code / execution output nodes
        return text if isinstance(text, str) else ""
    if not isinstance(parts, list):
        raise _Bad("message content.parts is not a list")
    texts = [p if isinstance(p, str) else p.get("text", "") if isinstance(p, Mapping) else "" for p in parts]
    return "\n".join(t for t in texts if isinstance(t, str) and t)


def parse_chatgpt(item: Any, *, file: str, index: int) -> list[Record]:
    """One conversation of a ChatGPT ``conversations.json``: the active branch, root first.

    The export stores every edit/regeneration as a tree (``mapping`` node id → ``{message,
    parent, children}``); the conversation the user saw is the path from ``current_node`` up
    to the root. Timestamps are the messages' ``create_time`` (the conversation's when absent).
    """
    where = f"conversation {index}"
    try:
        if not isinstance(item, Mapping):
            raise _Bad("not an object")
        mapping = item.get("mapping")
        if not isinstance(mapping, Mapping) or not mapping:
            raise _Bad("missing 'mapping'")
        conv_id = item.get("conversation_id") or item.get("id")
        if not isinstance(conv_id, str) or not conv_id:
            raise _Bad("missing conversation 'id'")
        conv_ts = item.get("create_time")
        default_ts = _ts(conv_ts, f"{where} create_time") if conv_ts is not None else None
        node_id = item.get("current_node")
        if node_id is None:  # no current node: follow the last child from the root
            roots = [k for k, n in mapping.items() if isinstance(n, Mapping) and n.get("parent") is None]
            if len(roots) != 1:
                raise _Bad("no 'current_node' and no single root")
            node_id = roots[0]
            while True:
                kids = mapping[node_id].get("children") or []
                if not kids:
                    break
                node_id = kids[-1]
        path = []
        seen: set[str] = set()
        while node_id is not None:
            if node_id in seen:
                raise _Bad(f"cycle in the message tree at node {node_id!r}")
            seen.add(node_id)
            node = mapping.get(node_id)
            if not isinstance(node, Mapping):
                raise _Bad(f"node {node_id!r} is referenced but missing")
            path.append((node_id, node))
            node_id = node.get("parent")
        path.reverse()
    except _Bad as exc:
        return [ReadError(file, where, str(exc))]
    out: list[Record] = []
    messages, empty, last_ts = [], 0, default_ts
    for k, (nid, node) in enumerate(path):
        msg = node.get("message")
        if msg is None:
            continue  # the synthetic root
        pos = f"{where} node {nid}"
        try:
            if not isinstance(msg, Mapping):
                raise _Bad("message is not an object")
            author = msg.get("author") or {}
            role = author.get("role") if isinstance(author, Mapping) else None
            if role not in _CHATGPT_ROLES:
                raise _Bad(f"unknown author role {role!r}")
            text = _chatgpt_text(msg.get("content"))
            if not text.strip() or (msg.get("metadata") or {}).get("is_visually_hidden_from_conversation"):
                empty += 1
                continue
            raw_ts = msg.get("create_time")
            ts = _ts(raw_ts, "create_time") if raw_ts is not None else last_ts
            if ts is None:
                raise _Bad("no create_time on the message or the conversation")
            last_ts = ts
            name = author.get("name") if isinstance(author, Mapping) else None
            messages.append(
                _message(str(msg.get("id") or nid), _CHATGPT_ROLES[role], text, ts,
                         speaker=name if isinstance(name, str) and name else None, position=k)
            )
        except _Bad as exc:
            out.append(ReadError(file, pos, str(exc)))
    title = item.get("title")
    if messages:
        out.append(Conversation("chatgpt", None, f"chatgpt:{conv_id}", tuple(messages), file, where,
                                title if isinstance(title, str) else None, empty))
    return out


# -- Claude -----------------------------------------------------------------------------------
_CLAUDE_ROLES = {"human": "user", "user": "user", "assistant": "assistant"}


def parse_claude(item: Any, *, file: str, index: int) -> list[Record]:
    """One conversation of a Claude export (``{uuid, name, created_at, chat_messages}``)."""
    where = f"conversation {index}"
    if not isinstance(item, Mapping):
        return [ReadError(file, where, "not an object")]
    conv_id = item.get("uuid")
    msgs = item.get("chat_messages")
    if not isinstance(conv_id, str) or not conv_id or not isinstance(msgs, list):
        return [ReadError(file, where, "needs 'uuid' and a 'chat_messages' list")]
    out: list[Record] = []
    messages, empty = [], 0
    for k, m in enumerate(msgs):
        pos = f"{where} message {k}"
        try:
            if not isinstance(m, Mapping):
                raise _Bad("not an object")
            role = _CLAUDE_ROLES.get(str(m.get("sender")))
            if role is None:
                raise _Bad(f"unknown sender {m.get('sender')!r}")
            text = _text(m.get("text"))
            if not text:
                raw_blocks = m.get("content")
                blocks: list[Any] = raw_blocks if isinstance(raw_blocks, list) else []
                text = "\n".join(b["text"] for b in blocks if isinstance(b, Mapping) and isinstance(b.get("text"), str))
            if not text.strip():
                empty += 1
                continue
            raw_ts = m.get("created_at", item.get("created_at"))
            if raw_ts is None:
                raise _Bad("no created_at")
            mid = m.get("uuid")
            messages.append(_message(str(mid) if mid else f"claude:{conv_id}:{k}", role, text,
                                     _ts(raw_ts, "created_at"), position=k))
        except _Bad as exc:
            out.append(ReadError(file, pos, str(exc)))
    if messages:
        name = item.get("name")
        out.append(Conversation("claude", None, f"claude:{conv_id}", tuple(messages), file, where,
                                name if isinstance(name, str) else None, empty))
    return out
