"""``bash scripts/device_check.sh [--smoke] [--busi DIR] [--out DIR]``: every GPU check in one command.

On a GPU machine it runs, each with its own time limit: the CUDA-only tests; the study config on BUSI in
bf16 (3 models x 3 seeds); the cost of five models at 224 px, bf16, channels_last, batch 1/32/256 (and
ResNet-101 compiled); the speed comparison; the timer cross-check; a tiny sweep through
``accelerate launch``; the same 6 study runs with 1 and 4 workers on the GPU. It writes
``device_check.json`` and ``device_check.md`` to --out, with the GPU targets measured (never asserted).
``--smoke`` runs the same steps at toy size on the CPU (CI runs it, so the check cannot rot).
It uses the machine's own Python and packages (bcbench from the checkout via PYTHONPATH).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devtools.device_check.report import markdown
from devtools.device_check.run import run_step
from devtools.device_check.steps import Plan, plan_steps
from devtools.device_check.summary import machine, read_json, study_summary, target_checks, target_values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="device_check", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes on the CPU (what CI runs)")
    parser.add_argument("--busi", type=Path, help="a BUSI copy (default: the embedded synthetic data set)")
    parser.add_argument("--out", type=Path, default=Path("results/device_check"), help="where to write")
    parser.add_argument("--only", nargs="+", help="run only these steps (by name)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    plan = Plan(smoke=args.smoke, out=out, busi=args.busi.resolve() if args.busi else None)
    started = time.perf_counter()
    results = []
    for step in plan_steps(plan):
        if args.only and step.name not in args.only:
            continue
        print(f"[device check] {step.name}: {step.title}", flush=True)
        results.append(run_step(step, out))
        print(
            f"[device check] {step.name}: {results[-1]['status']} in {results[-1]['seconds']:.0f} s",
            flush=True,
        )
    document = summarise(plan, results, time.perf_counter() - started)
    (out / "device_check.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    (out / "device_check.md").write_text(markdown(document))
    print(f"[device check] wrote {out / 'device_check.json'} and {out / 'device_check.md'}")
    return (
        0 if all(result["status"] == "ok" for result in results) and not document["study"]["problems"] else 1
    )


def summarise(plan: Plan, results: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    by_name = {result["name"]: result for result in results}
    study_seconds = by_name["study"]["seconds"] if by_name.get("study", {}).get("status") == "ok" else None
    values = target_values(plan.out, study_seconds)
    return {
        "smoke": plan.smoke,
        "busi": str(plan.busi) if plan.busi else None,
        "seconds": seconds,
        "machine": machine(),
        "steps": results,
        "study": study_summary(
            plan.out / "study" / "study", expect_cuda=not plan.smoke, precision=plan.precision
        ),
        "cost": read_json(plan.out / "cost" / "cost.json"),
        "cost_compiled": read_json(plan.out / "cost_compiled" / "cost.json"),
        "speed": (read_json(plan.out / "speed" / "speed.json") or {}).get("summary"),
        "timer": read_json(plan.out / "timer" / "timer_check.json"),
        "queue": {name: by_name[name]["seconds"] for name in by_name if name.startswith("queue_")},
        "targets": target_checks(values) if not plan.smoke else {},
    }
