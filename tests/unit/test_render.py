"""Rendering of progress events, sizes, the image table and the inspect tree, from hand-made
values (no network, no store), at fixed terminal widths and for a pipe."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from rich.console import Console

from ctrpy.cli.errors import wrap_message
from ctrpy.cli.live import LiveView, bar
from ctrpy.cli.progress import Board, PlainView, open_view
from ctrpy.cli.render import (
    columns,
    human_duration,
    human_rate,
    human_size,
    short_digest,
    summary_line,
    table,
    wrap_items,
)
from ctrpy.cli.show import image_lines
from ctrpy.cli.tree import tree_lines
from ctrpy.events import Event, Status
from ctrpy.oci import mediatypes, platforms
from ctrpy.oci.descriptor import Descriptor, Platform
from ctrpy.oci.digest import Digest
from ctrpy.query import ImageSummary, ImageTree, Node

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
                f"{pad(INDEX)}  done         900 B",
                f"{pad(MANIFEST)}  done         500 B",
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
                f"{pad(INDEX)}  exists       900 B",
                f"{pad(MANIFEST)}  exists       500 B",
                f"{pad(CONFIG)}  exists       1.4 KiB",
                f"{pad(LAYER)}  exists       2.9 KiB",
                "elapsed: 0.2 s   total: 0 B fetched, 5.7 KiB already stored",
            ],
            id="warm-pull-downloads-nothing",
        ),
        pytest.param(
            RESUMED,
            4.0,
            [
                f"{pad(LAYER)}  done         2.9 KiB",
                "elapsed: 4.0 s   total: 2.0 KiB fetched (500 B/s), 1000 B already stored",
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
        f"{pad(INDEX)}  done         900 B",
        f"{pad(MANIFEST)}  done         500 B",
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
    assert board.stored() == 0  # nothing finished was already there


@pytest.mark.parametrize(
    ("events", "received", "stored"),
    [
        pytest.param(COLD, 5800, 0, id="cold"),
        pytest.param(WARM, 0, 5800, id="warm"),
        pytest.param(RESUMED, 2000, 1000, id="resumed"),
        pytest.param([*WARM[:3], *COLD[4:]], 4900, 900, id="index-stored-rest-fetched"),
    ],
)
def test_board_tells_fetched_from_already_stored(
    events: list[Event], received: int, stored: int
) -> None:
    board = Board(clock=FakeClock([0.0]))
    for event in events:
        board.update(event)
    assert (board.received(), board.stored()) == (received, stored)


@pytest.mark.parametrize(
    ("status", "offset", "total", "expected"),
    [
        (S.WAITING, 0, 3000, "0 B/2.9 KiB"),
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


def live_view(events: list[Event], width: int, color: bool = False) -> LiveView:
    view = LiveView(io.StringIO(), color=color, clock=FakeClock([0.0, 2.0]), width=width)
    for event in events:
        view.report(event)
    return view


def frame(view: LiveView) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=view.console.width, no_color=True).print(view.render())
    return [line.rstrip() for line in out.getvalue().splitlines()]


def live_frame(events: list[Event], width: int = 200) -> list[str]:
    return frame(live_view(events, width))


def test_live_frame_shows_one_row_per_job_with_bar_and_sizes() -> None:
    lines = live_frame(COLD[:11])
    assert len(lines) == 6
    assert re.fullmatch(rf"{re.escape(REF)}: +resolved +\|\+{{38}}\|", lines[0])
    assert re.fullmatch(rf"{re.escape(INDEX)}: +done +\|\+{{38}}\| +900 B/900 B", lines[1])
    assert re.fullmatch(rf"{re.escape(CONFIG)}: +downloading +\| {{38}}\| +0 B/1\.4 KiB", lines[3])
    assert re.fullmatch(
        rf"{re.escape(LAYER)}: +downloading +\|\+{{19}} {{19}}\| +1\.5 KiB/2\.9 KiB", lines[4]
    )
    assert lines[5] == "elapsed: 2.0 s   total: 2.8 KiB (1.4 KiB/s)"


DOCKER_REF = "docker.io/library/hello-world:linux"
LONG_REF = "registry.example.com:5000/platform-team/toolchain:2024.06-rc3"


@pytest.mark.parametrize(
    ("width", "ref", "key_cells", "bar_cells"),
    [
        pytest.param(200, REF, [f"{INDEX}:", f"{LAYER}:"], 38, id="200-whole-keys"),
        pytest.param(
            120,
            REF,
            ["index-sha256:111111111111…", "layer-sha256:444444444444…"],
            38,
            id="120-short-keys-full-bar",
        ),
        pytest.param(80, DOCKER_REF, ["index-sha256:111111111111…"], 7, id="80-docker-hub-ref"),
        pytest.param(80, REF, ["index-sha256:111111111111…"], 0, id="80-ref-with-port-no-bar"),
    ],
)
def test_live_frame_fits_the_width_and_keeps_the_reference_whole(
    width: int, ref: str, key_cells: list[str], bar_cells: int
) -> None:
    events = [replace(e, key=ref) if e.key == REF else e for e in COLD]
    lines = live_frame(events, width)
    assert all(len(line) <= width for line in lines), lines
    assert lines[0].startswith(f"{ref}: ")
    assert lines[0].split()[1] == "resolved"
    for cell in key_cells:
        assert any(line.startswith(cell + " ") for line in lines), (cell, lines)
    bars = {len(m.group(1)) for line in lines if (m := re.search(r"\|([+ ]*)\|", line))}
    assert bars == ({bar_cells} if bar_cells else set())  # 0: no room for a bar
    assert lines[-1] == "elapsed: 2.0 s   total: 5.7 KiB (2.8 KiB/s)"


def test_live_frame_puts_a_reference_too_long_for_the_columns_on_its_own() -> None:
    events = [replace(e, key=LONG_REF) if e.key == REF else e for e in COLD]
    lines = live_frame(events, 80)
    assert lines[0] == f"{LONG_REF}: resolved"
    assert all(len(line) <= 80 for line in lines)
    assert lines[1].startswith("index-sha256:111111111111… ")


def test_live_columns_do_not_move_as_bytes_arrive() -> None:
    """The sizes column has a fixed width: 200.0 MiB/200.0 MiB takes no more room than 0 B/…"""
    big = 200 * 1024 * 1024
    steps = [0, 5 << 20, big - (1 << 20), big]
    frames = []
    for offset in steps:
        view = live_view([Event(REF, S.RESOLVED), Event(LAYER, S.DOWNLOADING, offset, big)], 120)
        frames.append(frame(view)[1])
    assert frames[-1].endswith("200.0 MiB/200.0 MiB")
    assert len({len(line) for line in frames}) == 1, frames
    assert len({line.index("downloading") for line in frames}) == 1
    assert len({line.index("|") for line in frames}) == 1


def test_live_failure_marks_unfinished_rows_and_drops_the_summary() -> None:
    """A failed pull: the error printed next is the last word, not a summary."""
    failed = live_view([Event(REF, S.RESOLVING)], 80)
    failed.close(False)
    assert frame(failed) == [f"{REF}: failed"]

    midway = live_view(COLD[:11], 120)
    midway.close(False)
    lines = frame(midway)
    assert [line.split()[1] for line in lines] == ["resolved", "done", "done", "failed", "failed"]
    assert not any(line.startswith("elapsed:") for line in lines)


def test_live_without_color_has_no_style_at_all() -> None:
    plain_rows = live_view(COLD[:11], 120, color=False)
    assert all(not row.spans and not row.style for row in plain_rows.rows())
    colored = live_view(COLD[:11], 120, color=True)
    assert all(row.spans for row in colored.rows())


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
        (0, "0 B"),
        (1, "1 B"),
        (501, "501 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1023.96 * 1024, "1.0 MiB"),
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


@pytest.mark.parametrize(
    ("fetched", "stored", "expected"),
    [
        pytest.param(2560, 0, "elapsed: 4.8 s   total: 2.5 KiB (533 B/s)", id="cold-as-ctr"),
        pytest.param(
            0, 2662, "elapsed: 4.8 s   total: 0 B fetched, 2.6 KiB already stored", id="warm"
        ),
        pytest.param(
            2560,
            1024,
            "elapsed: 4.8 s   total: 2.5 KiB fetched (533 B/s), 1.0 KiB already stored",
            id="partly-stored",
        ),
    ],
)
def test_summary_line_keeps_ctr_shape_and_says_what_was_stored(
    fetched: int, stored: int, expected: str
) -> None:
    assert summary_line(4.8, fetched, stored) == expected


def test_human_rate_of_no_time() -> None:
    assert human_rate(100, 0.0) == "0 B/s"


def test_table_aligns_columns_and_leaves_no_trailing_space() -> None:
    assert table(("A", "BB", "C"), [("xxx", "y", "-"), ("x", "yyyy", "zz")]) == [
        "A     BB     C",
        "xxx   y      -",
        "x     yyyy   zz",
    ]


# --- image ls and inspect: widths of a terminal, and a pipe ---------------------------------

HELLO_DIGEST = "sha256:38be3e2c5f610ae3824f36ca4457e5236286a300a8b86972adac8c17219d1719"
HELLO = ImageSummary(
    name=DOCKER_REF,
    kind="index",
    target=Descriptor(mediatypes.OCI_INDEX, Digest.parse(HELLO_DIGEST), 1519),
    size=2662,
    platforms=tuple(platforms.parse(p) for p in ("linux/amd64", "linux/arm64/v8", "linux/arm/v7")),
)
SINGLE = ImageSummary(
    name="127.0.0.1:5000/test/single:latest",
    kind="manifest",
    target=Descriptor(mediatypes.DOCKER_MANIFEST, Digest.parse("sha256:" + "ab" * 32), 501),
    size=501,
    platforms=(platforms.parse("linux/amd64"),),
    labels={"org.opencontainers.image.version": "1.0"},
)
ESCAPES = re.compile(r"\x1b\[")


def test_ls_in_a_pipe_is_one_plain_line_per_image_with_whole_values() -> None:
    assert image_lines([HELLO, SINGLE], width=None, color=True) == [
        f"REF{' ' * 35}TYPE       DIGEST{' ' * 68}SIZE      PLATFORMS{' ' * 33}LABELS",
        f"{DOCKER_REF}   index      {HELLO_DIGEST}   2.6 KiB   "
        "linux/amd64,linux/arm64/v8,linux/arm/v7   -",
        f"127.0.0.1:5000/test/single:latest     manifest   sha256:{'ab' * 32}   501 B     "
        "linux/amd64                               org.opencontainers.image.version=1.0",
    ]


@pytest.mark.parametrize("width", [80, 100, 120, 160, 200, 240])
def test_ls_on_a_terminal_fits_and_keeps_every_column_readable(width: int) -> None:
    """Whole digests only when the whole table fits (213 columns for these two images)."""
    lines = image_lines([HELLO, SINGLE], width=width, color=False)
    text = "\n".join(lines)
    assert all(len(line) <= width for line in lines), lines
    assert not ESCAPES.search(text)
    for row in (HELLO, SINGLE):  # REF whole, at the start of its row, size with its unit
        line = next(line for line in lines if line.startswith(row.name + " "))
        assert human_size(row.size) in line
        assert (str(row.target.digest) if width >= 213 else short_digest(row.target.digest)) in line
    for value in ("linux/arm64/v8", "org.opencontainers.image.version=1.0"):
        assert value in text  # platforms and labels are never dropped
    assert lines[0].split()[:4] == ["REF", "TYPE", "DIGEST", "SIZE"]


def test_ls_columns_at_120_fold_platforms_between_entries() -> None:
    lines = image_lines([HELLO], width=120, color=False)
    assert lines == [
        "REF                                   TYPE    DIGEST                   SIZE   "
        "PLATFORMS                      LABELS",
        f"{DOCKER_REF}   index   sha256:38be3e2c5f61   2.6 KiB   linux/amd64, linux/arm64/v8,   -",
        " " * 78 + "linux/arm/v7",
    ]


def test_ls_at_80_puts_platforms_and_labels_under_each_image() -> None:
    assert image_lines([HELLO, SINGLE], width=80, color=False) == [
        "REF                                   TYPE       DIGEST                   SIZE",
        f"{DOCKER_REF}   index      sha256:38be3e2c5f61   2.6 KiB",
        "  platforms: linux/amd64, linux/arm64/v8, linux/arm/v7",
        "127.0.0.1:5000/test/single:latest     manifest   sha256:abababababab     501 B",
        "  platforms: linux/amd64",
        "  labels: org.opencontainers.image.version=1.0",
    ]


@pytest.mark.parametrize("width", [80, 120, 200])
def test_ls_colour_only_when_asked(width: int) -> None:
    assert ESCAPES.search("\n".join(image_lines([HELLO], width=width, color=True)))
    assert not ESCAPES.search("\n".join(image_lines([HELLO], width=width, color=False)))


def node(media_type: str, hexdigit: str, size: int, present: bool = True, **kw: Any) -> Any:
    desc = Descriptor(media_type, Digest.parse("sha256:" + hexdigit * 64), size, **kw)
    return desc, present


def hello_tree() -> ImageTree:
    def n(desc_present: Any, *children: Node) -> Node:
        desc, present = desc_present
        return Node(desc, present, None, children)

    amd64 = platforms.parse("linux/amd64")
    return ImageTree(
        DOCKER_REF,
        n(
            node(mediatypes.OCI_INDEX, "1", 1519),
            n(
                node(mediatypes.OCI_MANIFEST, "2", 501, platform=amd64),
                n(node(mediatypes.OCI_CONFIG, "3", 450)),
                n(node(mediatypes.OCI_LAYER_GZIP, "4", 135)),
            ),
            n(
                node(
                    mediatypes.OCI_MANIFEST,
                    "5",
                    501,
                    False,
                    platform=platforms.parse("linux/arm64/v8"),
                )
            ),
            n(
                node(
                    mediatypes.OCI_MANIFEST,
                    "6",
                    593,
                    False,
                    platform=Platform("unknown", "unknown"),
                    annotations={"vnd.docker.reference.type": "attestation-manifest"},
                )
            ),
        ),
    )


def test_inspect_in_a_pipe_has_whole_digests_and_media_types_in_columns() -> None:
    def d(c: str) -> str:
        return "sha256:" + c * 64

    gzip = mediatypes.OCI_LAYER_GZIP
    assert tree_lines(hello_tree(), width=None) == [
        DOCKER_REF,
        f"└── index                         {d('1')}  1.5 KiB           {mediatypes.OCI_INDEX}",
        f"    ├── manifest  linux/amd64     {d('2')}  501 B             {mediatypes.OCI_MANIFEST}",
        f"    │   ├── config                {d('3')}  450 B             {mediatypes.OCI_CONFIG}",
        f"    │   └── layer                 {d('4')}  135 B             {gzip}",
        f"    ├── manifest  linux/arm64/v8  {d('5')}  501 B    missing  {mediatypes.OCI_MANIFEST}",
        f"    └── manifest  (attestation)   {d('6')}  593 B    missing  {mediatypes.OCI_MANIFEST}",
    ]


@pytest.mark.parametrize(
    ("width", "digest", "media_type"),
    [
        pytest.param(80, "sha256:222222222222", None, id="80-no-media-type"),
        pytest.param(100, "sha256:222222222222", "oci.image.manifest.v1+json", id="100-short"),
        pytest.param(120, "sha256:222222222222", mediatypes.OCI_MANIFEST, id="120"),
        pytest.param(200, "sha256:" + "2" * 64, mediatypes.OCI_MANIFEST, id="200-whole"),
    ],
)
def test_inspect_on_a_terminal_fits_with_aligned_columns(
    width: int, digest: str, media_type: str | None
) -> None:
    lines = tree_lines(hello_tree(), width=width)
    assert all(len(line) <= width for line in lines), lines
    amd64 = next(line for line in lines if "linux/amd64" in line)
    assert digest in amd64
    if media_type is None:
        assert "json" not in "\n".join(lines)
    else:
        assert amd64.endswith(f"  {media_type}")
    body = lines[1:]
    assert len({line.index("sha256:") for line in body}) == 1  # digests line up
    size_ends = {m.end() for line in body if (m := re.search(r"\d (B|KiB)", line))}
    assert len(size_ends) == 1  # sizes right-aligned
    assert "missing" in lines[5] and "missing" not in lines[2]


def test_inspect_colour_only_when_asked() -> None:
    assert ESCAPES.search("\n".join(tree_lines(hello_tree(), width=120, color=True)))
    assert not ESCAPES.search("\n".join(tree_lines(hello_tree(), width=120, color=False)))


@pytest.mark.parametrize(
    ("items", "width", "expected"),
    [
        (
            ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"],
            40,
            ["linux/amd64, linux/arm64/v8,", "linux/arm/v7"],
        ),
        (["linux/amd64", "linux/arm64/v8"], 15, ["linux/amd64,", "linux/arm64/v8"]),
        (["a-very-long-item", "b"], 5, ["a-very-long-item,", "b"]),
        (["-"], 6, ["-"]),
    ],
    ids=["two-lines", "one-each", "item-longer-than-width", "single"],
)
def test_wrap_items_breaks_only_after_separators(
    items: list[str], width: int, expected: list[str]
) -> None:
    assert wrap_items(items, width) == expected


def test_columns_right_align_and_multi_line_cells() -> None:
    assert columns([("A", "SIZE", "C"), ("xx", "1 B", ["p,", "q"])], right={1}) == [
        "A    SIZE   C",
        "xx    1 B   p,",
        "            q",
    ]


def test_ls_puts_a_reference_too_long_to_share_its_line_above_the_rest() -> None:
    long = replace(HELLO, name="registry.example.com:5000/platform-team/hello-world:linux")
    assert image_lines([long, SINGLE], width=80, color=False) == [
        "REF",
        "  TYPE      DIGEST                  SIZE",
        long.name,
        "  index     sha256:38be3e2c5f61  2.6 KiB",
        "  platforms: linux/amd64, linux/arm64/v8, linux/arm/v7",
        SINGLE.name,
        "  manifest  sha256:abababababab    501 B",
        "  platforms: linux/amd64",
        "  labels: org.opencontainers.image.version=1.0",
    ]


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        pytest.param(
            None,
            [
                "error: resolving docker.io/library/hello-world:nope at http://127.0.0.1:5000: "
                "404 not found"
            ],
            id="pipe-one-line",
        ),
        pytest.param(
            80,
            [
                "error: resolving docker.io/library/hello-world:nope at http://127.0.0.1:5000:",
                "       404 not found",
            ],
            id="terminal-80-between-words",
        ),
        pytest.param(
            30,
            [
                "error: resolving",
                "       docker.io/library/hello-world:nope",
                "       at",
                "       http://127.0.0.1:5000:",
                "       404 not found",
            ],
            id="words-longer-than-the-line-stay-whole",
        ),
    ],
)
def test_error_lines_wrap_between_words_on_a_terminal(
    width: int | None, expected: list[str]
) -> None:
    message = "resolving docker.io/library/hello-world:nope at http://127.0.0.1:5000: 404 not found"
    assert wrap_message("error: ", message, width).splitlines() == expected
