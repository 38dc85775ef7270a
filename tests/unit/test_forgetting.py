"""After ``delete`` / ``delete_user`` no table, no database file and no part of Chroma (its
write log included) holds the deleted text or vectors; the history keeps the event only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from agentmem.store import schema as tables
from agentmem.types import Scope


def _rows_text(mem) -> str:  # type: ignore[no-untyped-def]
    with mem.services.sql.begin() as conn:
        return "\n".join(repr(tuple(r)) for table in tables.metadata.sorted_tables
                         for r in conn.execute(sa.select(table)).all())


def _files(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_deleted_text_and_vectors_leave_every_table_file_and_log(make_memory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mem = make_memory(db_url=f"sqlite:///{tmp_path / 'forget.db'}")
    kept = mem.add([{"role": "user", "content": "My library card number is KEEP-4411."}], user_id="ann")
    one = mem.add([{"role": "user", "content": "My locker code is ZEBRA-9187, tell no one."},
                   {"role": "user", "content": "I water the ferns on Sundays."}], user_id="ann")
    mem.update(one[0].id, "My locker code is ZEBRA-9187-B now.", user_id="ann")
    mem.add([{"role": "user", "content": f"Bob's passphrase number {i} is OKAPI-{i}-5530."}
             for i in range(3)], user_id="bob")
    vectors = mem.services.vectors
    _, gone_vecs = vectors.fetch("turns", Scope("default", "ann"), [one[0].id])
    _, bob_vecs = vectors.fetch("turns", Scope("default", "bob"))
    assert len(gone_vecs) == 1 and len(bob_vecs) == 3

    mem.delete(one[0].id, user_id="ann")
    mem.delete_user("bob")

    rows = _rows_text(mem)
    leaks = [line for line in rows.splitlines() if "ZEBRA" in line or "OKAPI" in line]
    assert not leaks, leaks
    assert "KEEP-4411" in rows  # what was not deleted stays
    events = [(e.event, e.before, e.after) for e in mem.history(one[0].id, user_id="ann")]
    assert events == [("ADD", None, None), ("UPDATE", None, None), ("DELETE", None, None)]

    db = Path(mem.services.sql.engine.url.database or "")
    raw = db.read_bytes() + (db.with_name(db.name + "-wal").read_bytes() if db.with_name(db.name + "-wal").exists()
                             else b"")
    assert b"ZEBRA" not in raw and b"OKAPI" not in raw and b"KEEP-4411" in raw

    chroma = tmp_path / "home-0" / "chroma"
    blob = _files(chroma)
    for v in [*gone_vecs, *bob_vecs]:
        assert np.asarray(v, dtype=np.float32).tobytes() not in blob
    with sqlite3.connect(chroma / "chroma.sqlite3") as log:
        metas = [m for (m,) in log.execute("SELECT metadata FROM embeddings_queue")]
    assert not any("bob" in (m or "") for m in metas)
    assert mem.search("library card", user_id="ann")[0].id == kept[0].id
