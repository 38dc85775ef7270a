from datetime import UTC, datetime

import pytest

from agentmem.recall.timeparse import parse_time_window

NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)


def d(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("What did I cook in May 2023?", "2023-05-01", "2023-06-01"),
        ("what happened last May", "2023-05-01", "2023-06-01"),
        ("plans for this March", "2024-03-01", "2024-04-01"),
        ("trips in 2022", "2022-01-01", "2023-01-01"),
        ("what did we talk about yesterday", "2024-03-14", "2024-03-15"),
        ("anything last month?", "2024-02-01", "2024-03-01"),
        ("last year's holiday", "2023-01-01", "2024-01-01"),
        ("on May 7, 2023 we met", "2023-05-07", "2023-05-08"),
        ("on 7 May 2023 we met", "2023-05-07", "2023-05-08"),
        ("meeting on 2023-05-07", "2023-05-07", "2023-05-08"),
        ("last week", "2024-03-04", "2024-03-11"),
    ],
)
def test_windows(query: str, start: str, end: str) -> None:
    w = parse_time_window(query, NOW)
    assert w is not None
    assert (w.start, w.end) == (d(start), d(end))


def test_relative_ago_is_centered() -> None:
    w = parse_time_window("what did I buy two weeks ago", NOW)
    assert w is not None and w.start is not None and w.end is not None
    assert w.start < d("2024-03-01") < w.end


def test_since_and_before_open_one_end() -> None:
    since = parse_time_window("everything since 2023", NOW)
    assert since is not None and since.start == d("2023-01-01") and since.end is None
    before = parse_time_window("what did I say before 2023", NOW)
    assert before is not None and before.start is None and before.end == d("2023-01-01")


@pytest.mark.parametrize("query", ["what is my dog's name", "may I ask something", "I have 20 cats"])
def test_no_time(query: str) -> None:
    assert parse_time_window(query, NOW) is None


def test_impossible_date_is_ignored() -> None:
    assert parse_time_window("on 2023-02-30", NOW) is None
