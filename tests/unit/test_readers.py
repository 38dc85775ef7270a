"""Archive readers on small fixtures (tests/fixtures_batch), malformed records included."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentmem.batch.readers import (
    Conversation,
    ReadError,
    ReadProgress,
    detect_format,
    iter_json_array,
    read_file,
    read_paths,
)
from agentmem.errors import ValidationError

FIX = Path(__file__).resolve().parents[1] / "fixtures_batch"


def _split(path: Path, fmt: str = "auto") -> tuple[list[Conversation], list[ReadError]]:
    recs = list(read_file(path, fmt))  # type: ignore[arg-type]
    return [r for r in recs if isinstance(r, Conversation)], [r for r in recs if isinstance(r, ReadError)]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("chatgpt_conversations.json", "chatgpt"), ("claude_conversations.json", "claude"),
     ("longmemeval.json", "longmemeval"), ("locomo.json", "locomo"), ("turns.jsonl", "jsonl")],
)
def test_detect_format(name: str, fmt: str) -> None:
    assert detect_format(FIX / name) == fmt


def test_detect_format_unknown(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text('[{"foo": 1}]')
    with pytest.raises(ValidationError, match="cannot detect"):
        detect_format(p)
    assert [type(r) for r in read_file(p)] == [ReadError]


def test_chatgpt_active_branch_ids_and_timestamps() -> None:
    convs, errors = _split(FIX / "chatgpt_conversations.json")
    trip = convs[0]
    assert trip.session_id == "chatgpt:conv-trip" and trip.title == "Trip planning"
    # the abandoned regeneration n2 is not on the path current_node -> root
    assert [m["id"] for m in trip.messages] == ["n1", "n3", "n4"]
    assert [m["role"] for m in trip.messages] == ["user", "assistant", "user"]
    assert trip.messages[0]["timestamp"] == datetime.fromtimestamp(1714550460.5, tz=UTC)
    assert trip.empty == 1  # the hidden system node
    # conversation 1 has no mapping; conversation 2 has an unknown role (reported), an empty tool node
    assert [(e.position, "mapping" in e.reason) for e in errors][:1] == [("conversation 1", True)]
    assert any(e.position == "conversation 2 node b0" and "robot" in e.reason for e in errors)
    odd = convs[1]
    assert [m["content"] for m in odd.messages] == ["My cat is called Miso."] and odd.empty == 1


def test_chatgpt_truncated_file_keeps_what_came_before() -> None:
    convs, errors = _split(FIX / "chatgpt_truncated.json", "chatgpt")
    assert [c.messages[0]["content"] for c in convs] == ["first conversation survives"]
    assert len(errors) == 1 and errors[0].file.endswith("chatgpt_truncated.json")
    assert "item 1" in errors[0].position and "malformed JSON" in errors[0].reason


def test_claude() -> None:
    convs, errors = _split(FIX / "claude_conversations.json")
    (c,) = convs
    assert c.session_id == "claude:cl-1"
    assert [(m["id"], m["role"]) for m in c.messages] == [("cm-1", "user"), ("cm-2", "assistant")]
    assert c.messages[1]["content"] == "Cherry tomatoes like Sungold do well."  # from content blocks
    assert c.messages[0]["timestamp"] == datetime(2024, 3, 1, 10, 0, 5, tzinfo=UTC)
    got = {(e.position, e.reason.split(":")[0]) for e in errors}
    assert ("conversation 0 message 2", "unknown sender 'alien'") in got
    assert any(p == "conversation 0 message 3" for p, _ in got)  # bad date
    assert any(p == "conversation 1" for p, _ in got)  # no uuid


def test_longmemeval() -> None:
    convs, errors = _split(FIX / "longmemeval.json")
    assert [(c.user, c.session_id, len(c.messages)) for c in convs] == [
        ("q1", "longmemeval:s-a", 2), ("q1", "longmemeval:s-b", 1)]
    first = convs[0].messages
    assert first[0]["timestamp"] == datetime(2023, 5, 20, 2, 21, tzinfo=UTC)
    assert first[1]["timestamp"] == datetime(2023, 5, 20, 2, 21, 1, tzinfo=UTC)
    assert first[0]["metadata"]["has_answer"] is True and first[0]["id"] == "longmemeval:s-a:0"
    positions = [e.position for e in errors]
    assert "instance 0 session 1 turn 1" in positions  # bad role
    assert "instance 1 session 0" in positions  # bad date
    assert "instance 2" in positions  # lengths differ


def test_locomo_matches_bench_loader(tmp_path: Path) -> None:
    from agentmem.bench.locomo_data import load_locomo

    convs, errors = _split(FIX / "locomo.json")
    assert [c.session_id for c in convs] == ["conv-t1:session_1", "conv-t1:session_2"]
    assert {e.position for e in errors} == {"conversation 0 session_2 turn 1", "conversation 0 session_3"}
    # the timestamps follow load_locomo's convention (on the well-formed part)
    good = json.loads((FIX / "locomo.json").read_text())
    conv = good[0]["conversation"]
    conv["session_2"] = conv["session_2"][:1]
    del conv["session_3"], conv["session_3_date_time"]
    p = tmp_path / "good.json"
    p.write_text(json.dumps(good))
    expected = [(t.dia_id, t.speaker, t.text, t.timestamp) for c in load_locomo(p) for t in c.turns]
    got = [(m["metadata"]["dia_id"], m["speaker"], m["content"], m["timestamp"]) for c in convs for m in c.messages]
    assert got == expected
    assert convs[0].user == "conv-t1" and convs[0].messages[0]["id"] == "locomo:conv-t1:D1:1"


def test_jsonl() -> None:
    convs, errors = _split(FIX / "turns.jsonl")
    assert [(c.user, c.session_id, [m["id"] for m in c.messages]) for c in convs] == [
        ("ada", "s1", ["m1", "jsonl:s1:1"]), ("ada", "s2", ["jsonl:s2:0"]), ("bo", "s9", ["jsonl:s9:0"])]
    assert convs[2].messages[0]["timestamp"] == datetime(2024, 4, 1, 10, tzinfo=UTC)
    assert convs[2].messages[0]["metadata"] == {"lang": "en"}
    assert {e.position: e.reason.split(" (")[0] for e in errors} == {
        "line 3": "needs a non-empty 'content'",
        "line 4": "not JSON",
        "line 7": "needs a 'timestamp'",
    }


def test_ids_are_stable_across_reads() -> None:
    def ids() -> list[tuple[str, str]]:
        return [(r.session_id, m["id"]) for r in read_paths([FIX]) if isinstance(r, Conversation)
                for m in r.messages]

    first = ids()
    assert first == ids() and len(first) == len(set(first))


def test_every_record_is_accounted_for() -> None:
    """Nothing silently dropped: reading the whole fixture directory yields errors with positions."""
    progress = ReadProgress()
    recs = list(read_paths([FIX], progress=progress))
    errors = [r for r in recs if isinstance(r, ReadError)]
    assert all(e.file and e.position and e.reason for e in errors)
    assert len(errors) == 14
    assert progress.bytes_read == sum(p.stat().st_size for p in FIX.iterdir())


@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
def test_iter_json_array_streams_across_chunks(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import agentmem.batch.readers.jsonstream as jsonstream

    monkeypatch.setattr(jsonstream, "_CHUNK", chunk)
    items = [{"a": [1, 2, {"b": "x,]y"}]}, 12345, "s", None, [], 1.5e10]
    got = list(iter_json_array(io.StringIO(" \n" + json.dumps(items))))
    assert got == list(enumerate(items))
    assert list(iter_json_array(io.StringIO("[]"))) == []
    bad = list(iter_json_array(io.StringIO('[{"a": 1}, {"a": ]')))
    assert bad[0] == (0, {"a": 1}) and isinstance(bad[1], str) and "item 1" in bad[1]
