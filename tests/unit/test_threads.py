"""``kernels.threads.one_torch_thread``: one intra-op thread inside, the count restored after,
also when searches overlap in threads or the block raises."""

from __future__ import annotations

import threading

import pytest
import torch

from agentmem.kernels.threads import one_torch_thread


@pytest.fixture
def two_threads():  # type: ignore[no-untyped-def]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("two_threads")
def test_one_thread_inside_and_restored_after_an_error() -> None:
    with one_torch_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), one_torch_thread():
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


@pytest.mark.usefixtures("two_threads")
def test_overlapping_windows_restore_once_the_last_one_leaves() -> None:
    first_in, second_in, release = threading.Event(), threading.Event(), threading.Event()
    seen: list[int] = []

    def first() -> None:
        with one_torch_thread():
            first_in.set()
            second_in.wait(5)
        seen.append(torch.get_num_threads())  # the second is still inside: still one thread
        release.set()

    def second() -> None:
        first_in.wait(5)
        with one_torch_thread():
            second_in.set()
            release.wait(5)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [1] and torch.get_num_threads() == 2
