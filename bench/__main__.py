"""``python3 -m bench``: measure, print one table and the targets, write RESULTS.md."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

from bench import peers, report
from bench.suite import Bench, Plan, log
from tests.support.registry import Registry

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "RESULTS.md"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 -m bench",
        description="ctrpy side by side with ctr, skopeo, curl and openssl on one local registry.",
    )
    parser.add_argument("--runs", type=int, default=None, help="measured runs per case (5)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up rounds per case (1)")
    parser.add_argument(
        "--rss-runs", type=int, default=None, help="runs of the biggest pull, for memory (3)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small images and 3 runs: a smoke test"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write the Markdown results (bench/RESULTS.md)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only, write no file")
    parser.add_argument(
        "--working-tree",
        action="store_true",
        help="measure ctrpy/ as it is in this checkout (default: its committed HEAD)",
    )
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def make_plan(args: argparse.Namespace) -> Plan:
    plan = Plan.quick_plan(args.runs) if args.quick else Plan(runs=args.runs or 5)
    changes: dict[str, int] = {"warmup": args.warmup}
    if args.rss_runs is not None:
        changes["rss_runs"] = args.rss_runs
    return Plan(**{**plan.__dict__, **changes})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    missing = peers.missing_tools()
    if missing:
        print("bench: missing tools, install them first:", file=sys.stderr)
        for line in missing:
            print(f"  {line}", file=sys.stderr)
        return 2
    plan = make_plan(args)
    command = shlex.join(["python3", "-m", "bench", *(argv or sys.argv[1:])])
    load_before = peers.load_average()
    with tempfile.TemporaryDirectory(prefix="ctrpy-bench-") as tmp_name:
        tmp = Path(tmp_name)
        source = peers.prepare_ctrpy(tmp / "ctrpy-src", working_tree=args.working_tree)
        env = peers.ctrpy_env(source)
        if peers.ctrpy_location(env) != source.path / "ctrpy":
            print("bench: PYTHONPATH does not select the ctrpy to measure", file=sys.stderr)
            return 2
        os.environ["PYTHONPATH"] = env["PYTHONPATH"]  # every ctrpy run below inherits it
        log(f"measuring ctrpy {source.revision}")
        machine = peers.machine()
        machine["ctrpy revision"] = source.revision
        with (
            Registry(workdir=tmp / "registry", log_level="warn") as registry,
            peers.Containerd(tmp / "containerd") as containerd,
        ):
            log(f"registry {registry.url}, containerd pid {containerd.pid}")
            results = Bench(plan, tmp, registry, containerd).run_all()
    machine["load average (1, 5, 15 min) at start"] = load_before
    machine["load average (1, 5, 15 min) at end"] = peers.load_average()
    title = "ctrpy benchmark" + (" (quick mode: small images, a smoke test)" if plan.quick else "")
    text = report.render_results(
        title=title,
        command=command,
        machine=machine,
        cases=results.cases,
        targets=results.targets,
        notes=results.notes,
    )
    print(text)
    if not args.no_write:
        args.output.write_text(text)
        log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
