"""Running the steps: each as a subprocess with its own time limit and log; a step that fails or times
out is recorded as such and the next one still runs."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from devtools.device_check.steps import REPO, Step


def run_step(step: Step, out: Path) -> dict[str, Any]:
    """Run ``step``; its output goes to ``out/logs/<name>.log``. Returns status, rc, seconds, log."""
    log = out / "logs" / f"{step.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **step.env}
    started = time.perf_counter()
    with open(log, "w") as handle:
        handle.write("$ " + " ".join(step.command) + "\n")
        handle.flush()
        try:
            completed = subprocess.run(
                step.command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=REPO, timeout=step.timeout
            )
            rc: int | None = completed.returncode
        except subprocess.TimeoutExpired:
            rc = None
    seconds = time.perf_counter() - started
    status = "timeout" if rc is None else ("ok" if rc == 0 else "failed")
    if step.name == "cuda_tests" and rc == 5:  # pytest: no test selected (no CUDA-marked test collected)
        status = "ok"
    return {
        "name": step.name,
        "title": step.title,
        "status": status,
        "rc": rc,
        "seconds": seconds,
        "log": str(log.relative_to(out)),
        "command": step.command,
    }


def tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
