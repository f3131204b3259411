"""bench.report: medians, ranges, ratios, targets and the Markdown it renders (pure code)."""

from __future__ import annotations

import pytest

from bench import report
from bench.measure import parse_cpu_seconds, parse_max_rss
from bench.report import Case, Series, Stats


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        pytest.param([2.0], Stats(2.0, 2.0, 2.0, 1), id="one"),
        pytest.param([3.0, 1.0, 2.0], Stats(2.0, 1.0, 3.0, 3), id="odd-unsorted"),
        pytest.param([4.0, 1.0, 2.0, 3.0], Stats(2.5, 1.0, 4.0, 4), id="even-mean-of-middle"),
        pytest.param([1.0, 1.0, 9.0, 1.0, 1.0], Stats(1.0, 1.0, 9.0, 5), id="outlier-ignored"),
    ],
)
def test_summarize(samples: list[float], expected: Stats) -> None:
    assert report.summarize(samples) == expected


def test_summarize_refuses_nothing() -> None:
    with pytest.raises(ValueError, match="no samples"):
        report.summarize([])


def _stats(median: float) -> Stats:
    return Stats(median, median, median, 5)


@pytest.mark.parametrize(
    ("subject", "peer", "expected"),
    [
        pytest.param(_stats(1.0), _stats(2.0), 0.5, id="ctrpy-twice-as-fast"),
        pytest.param(_stats(3.0), _stats(1.5), 2.0, id="ctrpy-twice-as-slow"),
        pytest.param(None, _stats(1.0), None, id="ctrpy-missing"),
        pytest.param(_stats(1.0), None, None, id="peer-missing"),
        pytest.param(_stats(1.0), _stats(0.0), None, id="peer-zero"),
    ],
)
def test_ratio(subject: Stats | None, peer: Stats | None, expected: float | None) -> None:
    assert report.ratio(subject, peer) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(0.0123, "12.3 ms", id="ms"),
        pytest.param(0.9999, "999.9 ms", id="just-below-a-second"),
        pytest.param(1.0, "1.00 s", id="one-second"),
        pytest.param(12.345, "12.35 s", id="seconds"),
    ],
)
def test_fmt_seconds(value: float, text: str) -> None:
    assert report.fmt_seconds(value) == text


@pytest.mark.parametrize(
    ("stats", "text"),
    [
        pytest.param(Stats(0.02, 0.0101, 0.0302, 5), "10.1-30.2 ms", id="ms"),
        pytest.param(Stats(1.2, 0.9, 1.5, 5), "0.90-1.50 s", id="seconds-by-the-larger-end"),
    ],
)
def test_fmt_range(stats: Stats, text: str) -> None:
    assert report.fmt_range(stats) == text


def test_series_summary_and_peak_rss() -> None:
    ok = Series("ctrpy", (3.0, 1.0, 2.0), (40_960, 51_200, 45_000))
    failed = Series("ctrpy", error="exit 1")
    assert ok.ok and ok.stats == Stats(2.0, 1.0, 3.0, 3)
    assert ok.peak_rss_kib == 51_200
    assert not failed.ok and failed.stats is None and failed.peak_rss_kib is None


def test_table_has_ratios_for_peers_only() -> None:
    case = Case(
        "cold pull",
        Series("ctrpy", (1.0, 1.2, 1.1), (40_960,), cpu_seconds=(0.5, 0.7, 0.6)),
        (Series("skopeo copy", (2.2, 2.0, 2.4)), Series("ctr content fetch", error="exit 1")),
    )
    lines = report.render_table([case]).splitlines()
    assert lines[0] == "| Case | Tool | n | median | min-max | ctrpy/peer | CPU | peak RSS |"
    assert (
        lines[2]
        == "| cold pull | ctrpy | 3 | 1.10 s | 1.00-1.20 s | (ctrpy) | 600.0 ms | 40.0 MiB |"
    )
    assert lines[3] == "|  | skopeo copy | 3 | 2.20 s | 2.00-2.40 s | 0.50 |  |  |"
    assert lines[4] == "|  | ctr content fetch | 0 | failed | exit 1 | n/a |  |  |"


def test_table_without_ctrpy_has_no_ratios() -> None:
    case = Case(
        "limits",
        Series("curl", (0.5, 0.6, 0.4)),
        (Series("openssl", (0.25, 0.25, 0.25)),),
        compare=False,
    )
    lines = report.render_table([case]).splitlines()
    assert lines[2] == "| limits | curl | 3 | 500.0 ms | 400.0-600.0 ms |  |  |  |"
    assert lines[3] == "|  | openssl | 3 | 250.0 ms | 250.0-250.0 ms |  |  |  |"


def test_table_cells_stay_on_one_line_and_in_their_column() -> None:
    case = Case("c", Series("ctrpy", error="exit 1: a | b\nnext line"))
    row = report.render_table([case]).splitlines()[2]
    assert row == "| c | ctrpy | 0 | failed | exit 1: a \\| b next line |  |  |  |"


@pytest.mark.parametrize(
    ("curl", "openssl", "scale", "expected", "from_tool"),
    [
        pytest.param((1.0, 1.2), (0.5, 0.6), 1.0, (1.0, 1.2), "curl", id="curl-slower"),
        pytest.param((0.5, 0.6), (1.0, 1.2), 2.0, (2.0, 2.4), "openssl", id="openssl-slower"),
    ],
)
def test_limit_is_the_slower_tool_scaled(
    curl: tuple[float, ...],
    openssl: tuple[float, ...],
    scale: float,
    expected: tuple[float, ...],
    from_tool: str,
) -> None:
    limit = report.limit_series(Series("curl", curl), Series("openssl", openssl), scale, "limit")
    assert limit.tool == "limit"
    assert limit.seconds == pytest.approx(expected)
    assert limit.note.startswith(from_tool)


def test_limit_without_both_figures_is_an_error_series() -> None:
    limit = report.limit_series(Series("curl", error="x"), Series("openssl", (1.0,)), 1.0, "l")
    assert not limit.ok and limit.error == "limit not measured"


@pytest.mark.parametrize(
    ("subject", "peer", "limit", "passed", "measured"),
    [
        pytest.param(_stats(1.0), _stats(2.0), 1.0, True, "0.50 (1.00 s / 2.00 s)", id="faster"),
        pytest.param(_stats(2.0), _stats(2.0), 1.0, True, "1.00 (2.00 s / 2.00 s)", id="equal"),
        pytest.param(_stats(0.9), _stats(2.0), 0.4, False, "0.45 (900.0 ms / 2.00 s)", id="over"),
        pytest.param(None, _stats(2.0), 1.0, False, "no data", id="ctrpy-failed"),
    ],
)
def test_ratio_target(
    subject: Stats | None, peer: Stats | None, limit: float, passed: bool, measured: str
) -> None:
    target = report.ratio_target("cold", subject, peer, limit, "skopeo")
    assert (target.passed, target.measured) == (passed, measured)
    assert target.goal == f"ctrpy/skopeo <= {limit:g}"


@pytest.mark.parametrize(
    ("counts", "passed"),
    [
        pytest.param([1, 1, 1], True, id="always-one"),
        pytest.param([1, 2, 1], False, id="one-run-with-two"),
        pytest.param([0], False, id="none"),
        pytest.param([], False, id="not-measured"),
    ],
)
def test_count_target(counts: list[int], passed: bool) -> None:
    assert report.count_target("warm", counts, 1).passed is passed


@pytest.mark.parametrize(
    ("kib", "passed", "measured"),
    [
        pytest.param(50 * 1024, True, "50.0 MiB", id="under"),
        pytest.param(100 * 1024, True, "100.0 MiB", id="at"),
        pytest.param(100 * 1024 + 1, False, "100.0 MiB", id="just-over"),
        pytest.param(None, False, "no data", id="missing"),
    ],
)
def test_rss_target(kib: int | None, passed: bool, measured: str) -> None:
    target = report.rss_target("rss", kib, 100)
    assert (target.passed, target.measured) == (passed, measured)


@pytest.mark.parametrize(
    ("small", "big", "passed"),
    [
        pytest.param(40_000, 41_000, True, id="flat"),
        pytest.param(40_000, 80_000, False, id="doubles"),
        pytest.param(None, 41_000, False, id="missing"),
    ],
)
def test_flat_target(small: int | None, big: int | None, passed: bool) -> None:
    assert report.flat_target("flat", small, big, 1.15).passed is passed


def test_results_document() -> None:
    case = Case("cold", Series("ctrpy", (1.0,)), (Series("skopeo", (2.0,)),))
    targets = [
        report.ratio_target("cold", _stats(1.0), _stats(2.0), 1.0, "skopeo"),
        report.rss_target("rss", None, 100),
    ]
    text = report.render_results(
        title="t",
        command="python3 -m bench",
        machine={"CPUs (nproc)": "2"},
        cases=[case],
        targets=targets,
        notes=["a note"],
    )
    assert text.startswith("# t\n\nProduced by `python3 -m bench`.\n")
    assert "- CPUs (nproc): 2\n" in text
    assert "## Targets (1 of 2 met)" in text
    assert "| cold | 0.50 (1.00 s / 2.00 s) | ctrpy/skopeo <= 1 | PASS |" in text
    assert "| rss | no data | <= 100 MiB | MISS |" in text
    assert text.endswith("- a note\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "\tUser time (seconds): 0.10\n\tMaximum resident set size (kbytes): 46080\n",
            46080,
            id="gnu-time-v",
        ),
        pytest.param("nothing here", None, id="absent"),
    ],
)
def test_parse_max_rss(text: str, expected: int | None) -> None:
    assert parse_max_rss(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "\tUser time (seconds): 1.25\n\tSystem time (seconds): 0.50\n", 1.75, id="both"
        ),
        pytest.param("\tUser time (seconds): 1.25\n", None, id="system-missing"),
        pytest.param("", None, id="absent"),
    ],
)
def test_parse_cpu_seconds(text: str, expected: float | None) -> None:
    assert parse_cpu_seconds(text) == expected
