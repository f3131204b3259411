"""Run one command, timed with ``time.perf_counter`` and optionally under ``/usr/bin/time -v``."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

TIME_V = "/usr/bin/time"
_MAX_RSS = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")
_CPU = re.compile(r"(?:User|System) time \(seconds\):\s*([\d.]+)")


class RunFailed(Exception):
    """A measured command exited non-zero; the message holds the tail of its stderr."""


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_kib: int | None = None
    cpu_seconds: float | None = None


def parse_max_rss(time_v_output: str) -> int | None:
    """The ``Maximum resident set size (kbytes)`` that GNU time's ``-v`` prints."""
    match = _MAX_RSS.search(time_v_output)
    return int(match.group(1)) if match else None


def parse_cpu_seconds(time_v_output: str) -> float | None:
    """User plus system CPU seconds from GNU time's ``-v`` output."""
    found = _CPU.findall(time_v_output)
    return sum(float(x) for x in found) if len(found) == 2 else None


def _tail(text: str, lines: int = 3) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " / ".join(kept) if kept else "(no output)"


def run(
    cmd: Sequence[str],
    *,
    rss: bool = False,
    env: Mapping[str, str] | None = None,
    stdout_to: str | None = None,
) -> Run:
    """Run ``cmd`` to completion; wall time around the whole child; with ``rss`` also its peak
    RSS and CPU time (user + system), as ``/usr/bin/time -v`` reports them.

    stdout goes to ``/dev/null`` (or ``stdout_to``), stderr to a temp file that is read only
    when the command fails, so that no tool pays for a pipe the others do not have.
    """
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        time_out = os.path.join(tmp, "time-v")
        full = [TIME_V, "-v", "-o", time_out, *cmd] if rss else list(cmd)
        err_path = os.path.join(tmp, "stderr")
        out_path = stdout_to or os.devnull
        with open(err_path, "wb") as err, open(out_path, "wb") as out:
            start = time.perf_counter()
            proc = subprocess.run(
                full, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, check=False
            )
            seconds = time.perf_counter() - start
        if proc.returncode != 0:
            with open(err_path, encoding="utf-8", errors="replace") as f:
                message = _tail(f.read())
            raise RunFailed(f"{cmd[0]} exited {proc.returncode}: {message}")
        max_rss = cpu = None
        if rss:
            with open(time_out, encoding="utf-8", errors="replace") as f:
                time_v = f.read()
            max_rss, cpu = parse_max_rss(time_v), parse_cpu_seconds(time_v)
    return Run(seconds, max_rss, cpu)


def output(cmd: Sequence[str], *, timeout: float = 60) -> str:
    """stdout of a short untimed command (versions, set-up), stderr folded in."""
    proc = subprocess.run(
        list(cmd),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RunFailed(f"{' '.join(cmd[:3])} exited {proc.returncode}: {_tail(proc.stdout)}")
    return proc.stdout


def sync() -> None:
    """Flush dirty pages so that one cold run does not pay for the previous run's writes."""
    subprocess.run(["sync"], check=True)
