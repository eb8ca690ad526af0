"""The default job at several thread counts, on an idle machine and beside a process burning one core.

    python -m devtools.threads_study --out /tmp/threads-study            # idle and loaded, threads 1, 2, auto

Each cell runs ``bench/run.py`` (the quick start's job, a fresh folder each) as a subprocess and times its
wall clock; ``auto`` leaves the thread count to bcbench's policy (``bcbench.threads``: the free cores).
The loaded condition starts a busy-looping process first and waits until the 1-minute load average has
risen, so the policy sees the load it would see on a shared machine. Conditions run back to back; the
table (``threads_study.md``) has the wall seconds, the threads the runs used and the load around them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bcbench.atomic import write_atomic

REPO = Path(__file__).resolve().parents[1]
BURN = "while True: pass"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the sweeps and threads_study.md/.json")
    parser.add_argument(
        "--threads", nargs="+", default=["1", "2", "auto"], help="counts, or auto (the policy)"
    )
    parser.add_argument("--conditions", nargs="+", choices=["idle", "loaded"], default=["idle", "loaded"])
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to let the load average rise")
    parser.add_argument("overrides", nargs="*", help="config overrides for every run (key=value)")
    return parser.parse_args(argv)


@contextmanager
def burning_one_core(settle_seconds: float) -> Iterator[None]:
    """A process spinning on one core for the duration of the block."""
    burner = subprocess.Popen([sys.executable, "-c", BURN])
    try:
        time.sleep(settle_seconds)
        yield
    finally:
        burner.kill()
        burner.wait()


def run_default_job(folder: Path, threads: str, overrides: Sequence[str]) -> dict[str, Any]:
    """One default job in ``folder``: wall seconds and what its records say about threads and load."""
    command = [sys.executable, str(REPO / "bench" / "run.py"), f"output_dir={folder}", *overrides]
    if threads != "auto":
        command.append(f"threads={threads}")
    environment = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    started = time.perf_counter()
    finished = subprocess.run(command, env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({finished.returncode}): {finished.stderr[-2000:]}")
    return {"threads_setting": threads, "wall_seconds": wall, **records_summary(folder)}


def records_summary(folder: Path) -> dict[str, Any]:
    """Threads used, the load range and the mean macro F1 over the runs recorded under ``folder``."""
    records = [
        json.loads(line) for path in folder.rglob("runs.jsonl") for line in path.read_text().splitlines()
    ]
    envs = [record.get("env") or {} for record in records]
    loads = [env[key] for env in envs for key in ("load_start", "load_end") if env.get(key) is not None]
    scores = [record["test"]["f1_macro"] for record in records if record.get("test")]
    return {
        "runs": len(records),
        "threads_used": sorted({env.get("threads") for env in envs if env.get("threads") is not None}),
        "load": [min(loads), max(loads)] if loads else None,
        "f1_macro_mean": sum(scores) / len(scores) if scores else None,
    }


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The study as a table, one line per condition and thread setting."""
    lines = [
        "| machine | threads (setting) | threads used | wall s | load (1 min) during runs | mean macro F1 |",
        "|---|---|---|---:|---|---:|",
    ]
    for row in rows:
        load = f"{row['load'][0]:.1f}-{row['load'][1]:.1f}" if row["load"] else "-"
        used = ", ".join(str(t) for t in row["threads_used"]) or "-"
        f1 = f"{row['f1_macro_mean']:.3f}" if row["f1_macro_mean"] is not None else "-"
        cells = [row["condition"], row["threads_setting"], used, f"{row['wall_seconds']:.0f}", load, f1]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    rows = []
    for condition in args.conditions:
        with burning_one_core(args.settle) if condition == "loaded" else _nothing():
            for threads in args.threads:
                row = run_default_job(out / f"{condition}-{threads}", threads, args.overrides)
                rows.append({"condition": condition, **row})
                print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    write_atomic(out / "threads_study.json", json.dumps(rows, indent=2))
    write_atomic(out / "threads_study.md", markdown(rows))
    print(markdown(rows))
    return 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield


if __name__ == "__main__":
    raise SystemExit(main())
