"""The benchmark harness: one command per scenario of the targets in docs/benchmarks.md.

    python bench/run.py intake | pipeline | large-order | scale-out | support-lookup | fairness | vendor-pace | all  [--smoke] [--profile]
                        [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--keep]

Each scenario creates its own databases on the given server (the embedded pgserver when none answers),
starts the service processes it needs, prints a table and writes bench/results/<scenario>-<time>.json.
`--smoke` runs everything at a tiny size (CI: checks the harness works, asserts no timings).
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_PYTHON = HERE.parent / ".venv" / "bin" / "python"

if Path(sys.prefix).resolve() != VENV_PYTHON.parent.parent.resolve() and VENV_PYTHON.exists():
    os.execv(VENV_PYTHON, [str(VENV_PYTHON), __file__, *sys.argv[1:]])  # run inside the project's venv

import fairness  # noqa: E402
import harness  # noqa: E402
import intake  # noqa: E402
import vendor_pace  # noqa: E402

import pipeline  # noqa: E402
import support  # noqa: E402

Scenario = Callable[[harness.Databases, bool, bool], Awaitable[harness.Report]]
SCENARIOS: dict[str, Scenario] = {
    "intake": intake.run,
    "pipeline": pipeline.run_pipeline,
    "large-order": pipeline.run_large_order,
    "scale-out": pipeline.run_scale_out,
    "support-lookup": support.run,
    "fairness": fairness.run,
    "vendor-pace": vendor_pace.run,
}


async def wait_quiet(load: float, most: float) -> None:
    """Wait (up to `most` seconds) until the 1-minute load average is below `load`: other work on the
    machine (test suites) takes cores from the services and disturbs every number."""
    deadline = time.monotonic() + most
    while os.getloadavg()[0] >= load and time.monotonic() < deadline:
        harness.log(f"waiting for load average < {load} (now {harness.load_average()})")
        await asyncio.sleep(30)


async def main(args: argparse.Namespace) -> int:
    if removed := harness.prune_work():
        harness.log(
            f"removed {len(removed)} old run folder(s) from {harness.WORK} (keeping {harness.KEEP_RUNS} per scenario)"
        )
    server, embedded = await harness.resolve_server(args.database_url)
    dbs = harness.Databases(server, keep=args.keep)
    harness.POSTMASTER_PID = await harness.find_postmaster(server)
    machine = harness.machine_info(await dbs.server_version(), embedded)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    started = time.perf_counter()
    failed = []
    try:
        for name in names:
            if args.wait_quiet:
                await wait_quiet(args.wait_quiet, args.wait_quiet_max)
            harness.log(
                f"scenario {name}{' (smoke)' if args.smoke else ''}; load average {harness.load_average()}"
            )
            try:
                report = await SCENARIOS[name](dbs, args.smoke, args.profile)
            except Exception as exc:
                if len(names) == 1:
                    raise
                harness.log(f"scenario {name} failed: {type(exc).__name__}: {exc}")
                failed.append(name)
                continue
            report.print_table()
            harness.log(f"wrote {report.write(machine).relative_to(harness.ROOT)}")
    finally:
        await dbs.drop_all()
    harness.log(f"done in {time.perf_counter() - started:.0f}s" + (f"; FAILED: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI (no timing assertions)")
    parser.add_argument("--profile", action="store_true", help="also record py-spy profiles")
    parser.add_argument(
        "--database-url", default=harness.DEFAULT_SERVER, help="server to create databases on"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument(
        "--api-processes", type=int, default=1, metavar="N", help="intake: API processes sharing the port"
    )
    parser.add_argument("--wait-quiet", type=float, metavar="LOAD", help="wait for load average < LOAD first")
    parser.add_argument("--wait-quiet-max", type=float, default=1800, metavar="S", help="but at most S s")
    arguments = parser.parse_args()
    os.environ["BENCH_API_PROCESSES"] = str(arguments.api_processes)  # read by intake.run
    sys.exit(asyncio.run(main(arguments)))
