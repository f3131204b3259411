"""pull.blocks: the transport's chunks gathered into fixed-size blocks for the store, with
every received byte handed on, also when the source fails half-way."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ctrpy.errors import NetworkError
from ctrpy.pull import _Stopped, blocks


def chunks_of(sizes: list[int]) -> list[bytes]:
    out, start = [], 0
    for n in sizes:
        out.append(bytes((start + i) % 251 for i in range(n)))
        start += n
    return out


@pytest.mark.parametrize(
    ("sizes", "block", "expected"),
    [
        pytest.param([], 8, [], id="nothing"),
        pytest.param([3], 8, [3], id="one-small-chunk"),
        pytest.param([4, 4, 4, 4], 8, [8, 8], id="chunks-fill-blocks-exactly"),
        pytest.param([3, 3, 3], 8, [6, 3], id="a-chunk-that-would-overflow-starts-a-new-block"),
        pytest.param([2, 20, 2], 8, [2, 20, 2], id="a-chunk-larger-than-a-block-passes-whole"),
        pytest.param([8, 1], 8, [8, 1], id="full-block-then-remainder"),
        pytest.param([0, 5, 0, 3], 8, [8], id="empty-chunks-are-harmless"),
    ],
)
def test_blocks_sizes_and_content(sizes: list[int], block: int, expected: list[int]) -> None:
    chunks = chunks_of(sizes)
    got = [bytes(b) for b in blocks(iter(chunks), block)]  # copy: each block is a reused view
    assert [len(b) for b in got] == expected
    assert b"".join(got) == b"".join(chunks)


def failing(chunks: list[bytes]) -> Iterator[bytes]:
    yield from chunks
    raise NetworkError("the download broke")


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        pytest.param([3, 2], [5], id="pending-bytes-come-out-before-the-error"),
        pytest.param([4, 4], [8], id="nothing-pending"),
        pytest.param([], [], id="fails-at-once"),
    ],
)
def test_blocks_hand_on_what_arrived_before_a_failure(
    sizes: list[int], expected: list[int]
) -> None:
    got: list[bytes] = []
    with pytest.raises(NetworkError, match="broke"):
        for b in blocks(failing(chunks_of(sizes)), 8):
            got.append(bytes(b))
    assert [len(b) for b in got] == expected
    assert b"".join(got) == b"".join(chunks_of(sizes))


def stopping(chunks: list[bytes], stop: threading.Event, after: int) -> Iterator[bytes]:
    """Yields ``chunks``, setting ``stop`` once ``after`` of them were taken."""
    for i, chunk in enumerate(chunks):
        if i == after:
            stop.set()
        yield chunk


def test_blocks_stop_at_the_next_chunk_with_what_arrived() -> None:
    """A stopped pull (Ctrl-C, another download failed) must not wait for a block to fill:
    the bytes taken so far come out, then it stops, without asking for more."""
    stop = threading.Event()
    sizes = [3, 2, 1, 1, 1]
    source = stopping(chunks_of(sizes), stop, after=2)
    got: list[bytes] = []
    with pytest.raises(_Stopped):
        for b in blocks(source, 8, stop=stop):
            got.append(bytes(b))
    assert b"".join(got) == b"".join(chunks_of(sizes[:3]))  # 6 bytes: not a full block
    assert len(list(source)) == 2  # the last two chunks were never asked for
