"""Pure functions that turn timings into the benchmark's table, targets and RESULTS.md.

Nothing here runs a process or touches the disk: ``bench.__main__`` measures, this module
summarizes (median, min-max, ratio ctrpy/peer), judges the targets of issue 7 and renders
Markdown.  ``tests/unit/test_bench_report.py`` covers it.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Stats:
    """Summary of one tool's samples in one case (seconds, or KiB for memory)."""

    median: float
    low: float
    high: float
    n: int


def summarize(samples: Sequence[float]) -> Stats:
    """Median, minimum and maximum of ``samples`` (at least one)."""
    if not samples:
        raise ValueError("no samples to summarize")
    return Stats(
        median=float(statistics.median(samples)),
        low=float(min(samples)),
        high=float(max(samples)),
        n=len(samples),
    )


@dataclass(frozen=True)
class Series:
    """What one tool did in one case: its timings, peak RSS per run, or why it failed."""

    tool: str
    seconds: tuple[float, ...] = ()
    rss_kib: tuple[int, ...] = ()
    error: str | None = None
    cpu_seconds: tuple[float, ...] = ()
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.seconds)

    @property
    def stats(self) -> Stats | None:
        return summarize(self.seconds) if self.ok else None

    @property
    def peak_rss_kib(self) -> int | None:
        return max(self.rss_kib) if self.rss_kib else None

    @property
    def cpu_median(self) -> float | None:
        return float(statistics.median(self.cpu_seconds)) if self.cpu_seconds else None


@dataclass(frozen=True)
class Case:
    """One line of comparison: ctrpy (``subject``) against the tools people use instead."""

    title: str
    subject: Series
    peers: tuple[Series, ...] = ()
    compare: bool = True  # False: a case without ctrpy (the limits), no ratio column


def ratio(subject: Stats | None, peer: Stats | None) -> float | None:
    """ctrpy's median over the peer's median; ``None`` when either is missing or zero."""
    if subject is None or peer is None or peer.median <= 0:
        return None
    return subject.median / peer.median


def fmt_seconds(value: float) -> str:
    """``0.0123`` -> ``12.3 ms``; ``1.5`` -> ``1.50 s``."""
    if value < 1.0:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def fmt_range(stats: Stats) -> str:
    """``12.1-13.0 ms`` in the unit of the larger end."""
    if stats.high < 1.0:
        return f"{stats.low * 1000:.1f}-{stats.high * 1000:.1f} ms"
    return f"{stats.low:.2f}-{stats.high:.2f} s"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def fmt_kib(kib: int | None) -> str:
    """Peak RSS in MiB with one decimal, from the KiB that ``/usr/bin/time -v`` reports."""
    return "" if kib is None else f"{kib / 1024:.1f} MiB"


def fmt_rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / MIB / seconds:.0f} MiB/s" if seconds > 0 else ""


def _cell(text: str) -> str:
    """Table-safe text: one line, no column separators."""
    return " ".join(text.split()).replace("|", "\\|")


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


TABLE_HEADER = ("Case", "Tool", "n", "median", "min-max", "ctrpy/peer", "CPU", "peak RSS")


def series_cells(
    case_title: str, series: Series, subject: Stats | None, *, is_subject: bool = False
) -> list[str]:
    """One table row: the series' stats and, for a peer, the ratio ctrpy/peer.

    ``subject`` None: no ratio (a case without ctrpy, or ctrpy failed).
    """
    stats = series.stats
    if stats is None:
        reason = series.error or "no samples"
        return [case_title, series.tool, "0", "failed", reason, "n/a" if subject else "", "", ""]
    if is_subject:
        relation = "(ctrpy)"
    elif subject is None:
        relation = ""
    else:
        relation = fmt_ratio(ratio(subject, stats))
    return [
        case_title,
        series.tool + (f" ({series.note})" if series.note else ""),
        str(stats.n),
        fmt_seconds(stats.median),
        fmt_range(stats),
        relation,
        "" if series.cpu_median is None else fmt_seconds(series.cpu_median),
        fmt_kib(series.peak_rss_kib),
    ]


def render_table(cases: Sequence[Case]) -> str:
    """All cases as one Markdown table; each peer row carries ctrpy's median over its own."""
    lines = [_row(TABLE_HEADER), _row(["---"] * len(TABLE_HEADER))]
    for case in cases:
        subject = case.subject.stats if case.compare else None
        lines.append(_row(series_cells(case.title, case.subject, subject, is_subject=case.compare)))
        for peer in case.peers:
            lines.append(_row(series_cells("", peer, subject)))
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One target of issue 7: what was measured against what goal, and whether it was met."""

    name: str
    measured: str
    goal: str
    passed: bool


def ratio_target(
    name: str, subject: Stats | None, peer: Stats | None, limit: float, peer_name: str
) -> Target:
    """PASS when median(ctrpy) / median(peer) <= ``limit``; MISS when either is missing."""
    value = ratio(subject, peer)
    measured = "no data" if value is None else f"{value:.2f}"
    if value is not None and subject is not None and peer is not None:
        measured += f" ({fmt_seconds(subject.median)} / {fmt_seconds(peer.median)})"
    goal = f"ctrpy/{peer_name} <= {limit:g}"
    return Target(name, measured, goal, value is not None and value <= limit)


def count_target(name: str, counts: Sequence[int], expected: int) -> Target:
    """PASS when every run made exactly ``expected`` requests."""
    measured = "no data" if not counts else ", ".join(str(c) for c in counts) + " per run"
    passed = bool(counts) and all(c == expected for c in counts)
    return Target(name, measured, f"exactly {expected} per run", passed)


def rss_target(name: str, kib: int | None, limit_mib: float) -> Target:
    measured = "no data" if kib is None else fmt_kib(kib)
    passed = kib is not None and kib / 1024 <= limit_mib
    return Target(name, measured, f"<= {limit_mib:g} MiB", passed)


def flat_target(name: str, small_kib: int | None, big_kib: int | None, limit: float) -> Target:
    """Memory does not grow with the image: peak(big) / peak(small) <= ``limit``."""
    if small_kib is None or big_kib is None or small_kib <= 0:
        return Target(name, "no data", f"ratio <= {limit:g}", False)
    value = big_kib / small_kib
    measured = f"{value:.2f} ({fmt_kib(big_kib)} / {fmt_kib(small_kib)})"
    return Target(name, measured, f"ratio <= {limit:g}", value <= limit)


def limit_series(curl: Series, openssl: Series, scale: float, tool: str) -> Series:
    """The machine's limit for a pull: the slower of curl and OpenSSL, scaled to its size.

    ``scale`` is the pulled bytes over the measured blob's bytes; every sample of the slower
    tool (by median) is scaled by it.  A pull that streams and hashes at once cannot beat both.
    """
    curl_stats, openssl_stats = curl.stats, openssl.stats
    if curl_stats is None or openssl_stats is None:
        return Series(tool, error="limit not measured")
    slower = curl if curl_stats.median >= openssl_stats.median else openssl
    return Series(
        tool, tuple(s * scale for s in slower.seconds), note=f"{slower.tool} x {scale:.2f}"
    )


def render_targets(targets: Sequence[Target]) -> str:
    lines = [_row(("Target", "Measured", "Goal", "Result")), _row(["---"] * 4)]
    for t in targets:
        lines.append(_row((t.name, t.measured, t.goal, "PASS" if t.passed else "MISS")))
    return "\n".join(lines)


def render_machine(machine: Mapping[str, str]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in machine.items())


def render_results(
    *,
    title: str,
    command: str,
    machine: Mapping[str, str],
    cases: Sequence[Case],
    targets: Sequence[Target],
    notes: Sequence[str] = (),
) -> str:
    """The whole RESULTS.md: machine, how it was run, the table, the targets, notes."""
    passed = sum(t.passed for t in targets)
    parts = [
        f"# {title}",
        "",
        f"Produced by `{command}`.",
        "",
        "## Machine",
        "",
        render_machine(machine),
        "",
        "## Timings",
        "",
        "Medians after a warm-up, tools alternated run by run; ratio = median(ctrpy) / "
        "median(peer), below 1 means ctrpy is faster. CPU = median user + system time of the "
        "measured process (cold pulls only); it varies less than wall time on a busy machine.",
        "",
        render_table(cases),
        "",
        f"## Targets ({passed} of {len(targets)} met)",
        "",
        render_targets(targets),
    ]
    if notes:
        parts += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(parts) + "\n"
