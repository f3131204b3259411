"""Rendering of progress events and sizes, from hand-made event lists (no network, no store)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest

from ctrpy.cli.live import LiveView, bar
from ctrpy.cli.progress import Board, PlainView, open_view
from ctrpy.cli.render import human_duration, human_rate, human_size, summary_line, table
from ctrpy.events import Event, Status

REF = "127.0.0.1:5000/library/hello-world:linux"
INDEX = "index-sha256:" + "1" * 64
MANIFEST = "manifest-sha256:" + "2" * 64
CONFIG = "config-sha256:" + "3" * 64
LAYER = "layer-sha256:" + "4" * 64
LAYER2 = "layer-sha256:" + "5" * 64

S = Status
COLD = [
    Event(REF, S.RESOLVING),
    Event(REF, S.RESOLVED),
    Event(INDEX, S.DOWNLOADING, 0, 900),
    Event(INDEX, S.DONE, 900, 900),
    Event(MANIFEST, S.DOWNLOADING, 0, 500),
    Event(MANIFEST, S.DONE, 500, 500),
    Event(CONFIG, S.WAITING, 0, 1400),
    Event(LAYER, S.WAITING, 0, 3000),
    Event(CONFIG, S.DOWNLOADING, 0, 1400),
    Event(LAYER, S.DOWNLOADING, 0, 3000),
    Event(LAYER, S.DOWNLOADING, 1500, 3000),
    Event(CONFIG, S.DOWNLOADING, 1400, 1400),
    Event(CONFIG, S.DONE, 1400, 1400),
    Event(LAYER, S.DOWNLOADING, 3000, 3000),
    Event(LAYER, S.DONE, 3000, 3000),
]
WARM = [
    Event(REF, S.RESOLVING),
    Event(REF, S.RESOLVED),
    Event(INDEX, S.EXISTS, 900, 900),
    Event(MANIFEST, S.EXISTS, 500, 500),
    Event(CONFIG, S.EXISTS, 1400, 1400),
    Event(LAYER, S.EXISTS, 3000, 3000),
]
RESUMED = [
    Event(LAYER, S.WAITING, 0, 3000),
    Event(LAYER, S.DOWNLOADING, 1000, 3000),  # 1000 bytes were already in ingest/
    Event(LAYER, S.DOWNLOADING, 3000, 3000),
    Event(LAYER, S.DONE, 3000, 3000),
]


def pad(key: str) -> str:
    return f"{key}:".ljust(81)


class FakeClock:
    """Gives ``readings`` in turn, then keeps giving the last one."""

    def __init__(self, readings: list[float]) -> None:
        self._readings: Iterator[float] = iter(readings)
        self._last = 0.0

    def __call__(self) -> float:
        self._last = next(self._readings, self._last)
        return self._last


def plain(events: list[Event], seconds: float = 2.0, ok: bool = True) -> str:
    out = io.StringIO()
    view = PlainView(out, clock=FakeClock([0.0, seconds]))
    for event in events:
        view.report(event)
    view.close(ok)
    return out.getvalue()


@pytest.mark.parametrize(
    ("events", "seconds", "expected"),
    [
        pytest.param(
            COLD,
            2.0,
            [
                f"{pad(REF)}  resolved",
                f"{pad(INDEX)}  done         900.0 B",
                f"{pad(MANIFEST)}  done         500.0 B",
                f"{pad(CONFIG)}  done         1.4 KiB",
                f"{pad(LAYER)}  done         2.9 KiB",
                "elapsed: 2.0 s   total: 5.7 KiB (2.8 KiB/s)",
            ],
            id="cold-pull",
        ),
        pytest.param(
            WARM,
            0.25,
            [
                f"{pad(REF)}  resolved",
                f"{pad(INDEX)}  exists       900.0 B",
                f"{pad(MANIFEST)}  exists       500.0 B",
                f"{pad(CONFIG)}  exists       1.4 KiB",
                f"{pad(LAYER)}  exists       2.9 KiB",
                "elapsed: 0.2 s   total: 0.0 B (0.0 B/s)",
            ],
            id="warm-pull-downloads-nothing",
        ),
        pytest.param(
            RESUMED,
            4.0,
            [
                f"{pad(LAYER)}  done         2.9 KiB",
                "elapsed: 4.0 s   total: 2.0 KiB (500.0 B/s)",
            ],
            id="resumed-download-counts-only-new-bytes",
        ),
    ],
)
def test_plain_view_prints_each_job_once_when_finished(
    events: list[Event], seconds: float, expected: list[str]
) -> None:
    assert plain(events, seconds).splitlines() == expected


def test_plain_view_has_no_escape_codes_and_no_repeats() -> None:
    text = plain(COLD)
    assert "\x1b" not in text
    assert "\r" not in text
    keys = [line.split(":  ")[0] for line in text.splitlines()[:-1]]
    assert len(keys) == len(set(keys))


def test_plain_view_failed_pull_prints_finished_jobs_and_no_summary() -> None:
    partial = COLD[:8]  # index and manifest done, blobs only waiting
    assert plain(partial, ok=False).splitlines() == [
        f"{pad(REF)}  resolved",
        f"{pad(INDEX)}  done         900.0 B",
        f"{pad(MANIFEST)}  done         500.0 B",
    ]


def test_board_keeps_first_appearance_order_and_latest_state() -> None:
    board = Board(clock=FakeClock([0.0]))
    for event in COLD[:11]:
        board.update(event)
    assert [(j.key, j.status, j.offset) for j in board.jobs()] == [
        (REF, S.RESOLVED, 0),
        (INDEX, S.DONE, 900),
        (MANIFEST, S.DONE, 500),
        (CONFIG, S.DOWNLOADING, 0),
        (LAYER, S.DOWNLOADING, 1500),
    ]
    assert board.received() == 900 + 500 + 1500


@pytest.mark.parametrize(
    ("status", "offset", "total", "expected"),
    [
        (S.WAITING, 0, 3000, "0.0 B/2.9 KiB"),
        (S.DOWNLOADING, 1536, 3072, "1.5 KiB/3.0 KiB"),
        (S.DONE, 3072, 3072, "3.0 KiB"),
        (S.EXISTS, 5 << 20, 5 << 20, "5.0 MiB"),
        (S.RESOLVED, 0, None, ""),
    ],
    ids=["waiting", "downloading", "done", "exists", "resolved"],
)
def test_job_sizes(status: Status, offset: int, total: int | None, expected: str) -> None:
    board = Board(clock=FakeClock([0.0]))
    board.update(Event("k", status, offset, total))
    assert board.jobs()[0].sizes() == expected


def live_frame(events: list[Event], width: int = 200) -> str:
    out = io.StringIO()
    view = LiveView(out, color=False, clock=FakeClock([0.0, 2.0]), width=width)
    for event in events:
        view.report(event)
    view.console.print(view.render())
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def test_live_frame_shows_one_row_per_job_with_bar_and_sizes() -> None:
    lines = live_frame(COLD[:11]).splitlines()
    assert len(lines) == 6
    assert re.fullmatch(rf"{re.escape(REF)}: +resolved +\|\+{{38}}\|", lines[0])
    assert re.fullmatch(rf"{re.escape(INDEX)}: +done +\|\+{{38}}\| +900\.0 B/900\.0 B", lines[1])
    assert re.fullmatch(
        rf"{re.escape(CONFIG)}: +downloading +\| {{38}}\| +0\.0 B/1\.4 KiB", lines[3]
    )
    assert re.fullmatch(
        rf"{re.escape(LAYER)}: +downloading +\|\+{{19}} {{19}}\| +1\.5 KiB/2\.9 KiB", lines[4]
    )
    assert lines[5] == "elapsed: 2.0 s   total: 2.8 KiB (1.4 KiB/s)"


def test_live_frame_fits_a_narrow_terminal() -> None:
    lines = live_frame(COLD, width=80).splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[-1] == "elapsed: 2.0 s   total: 5.7 KiB (2.8 KiB/s)"
    assert "done" in lines[1]


@pytest.mark.parametrize(
    ("fraction", "width", "expected"),
    [(0.0, 4, "|    |"), (0.5, 4, "|++  |"), (1.0, 4, "|++++|"), (0.3, 10, "|+++       |")],
)
def test_bar(fraction: float, width: int, expected: str) -> None:
    assert bar(fraction, width) == expected


def test_open_view_is_plain_in_a_pipe_and_silent_when_quiet() -> None:
    out = io.StringIO()
    assert isinstance(open_view(quiet=False, color=True, stream=out), PlainView)
    quiet = open_view(quiet=True, color=True, stream=out)
    for event in COLD:
        quiet.report(event)
    quiet.close(True)
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0.0 B"),
        (533, "533.0 B"),
        (1023, "1023.0 B"),
        (1024, "1.0 KiB"),
        (2560, "2.5 KiB"),
        (5 * 1024 * 1024, "5.0 MiB"),
        (3 * 1024**3 + 1024**3 // 2, "3.5 GiB"),
        (2 * 1024**4, "2.0 TiB"),
    ],
)
def test_human_size_binary_units(n: int, expected: str) -> None:
    assert human_size(n) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0.0, "0.0 s"), (4.84, "4.8 s"), (59.9, "59.9 s"), (125, "2 min 5 s"), (3720, "1 h 2 min")],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


def test_summary_line_matches_ctr_layout() -> None:
    assert summary_line(4.8, 2560) == "elapsed: 4.8 s   total: 2.5 KiB (533.3 B/s)"
    assert human_rate(100, 0.0) == "0.0 B/s"


def test_table_aligns_columns_and_leaves_no_trailing_space() -> None:
    assert table(("A", "BB", "C"), [("xxx", "y", "-"), ("x", "yyyy", "zz")]) == [
        "A     BB     C",
        "xxx   y      -",
        "x     yyyy   zz",
    ]
