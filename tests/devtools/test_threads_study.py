"""The thread study's pieces: what it reads from a sweep's records, its table, and the burner it starts
and stops (the whole study runs the default job six times: BENCHMARKS.md, not the tests)."""

from __future__ import annotations

import json
import os

from devtools.threads_study import burning_one_core, markdown, records_summary


def test_records_summary_reads_threads_load_and_scores(tmp_path):
    folder = tmp_path / "loaded-auto" / "default"
    folder.mkdir(parents=True)
    records = [
        {"env": {"threads": 1, "load_start": 1.2, "load_end": 2.5}, "test": {"f1_macro": 0.5}},
        {"env": {"threads": 1, "load_start": 0.9, "load_end": None}, "test": {"f1_macro": 0.7}},
        {"env": {}, "test": None},  # a failed run
    ]
    (folder / "runs.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    summary = records_summary(tmp_path / "loaded-auto")
    assert summary == {"runs": 3, "threads_used": [1], "load": [0.9, 2.5], "f1_macro_mean": 0.6}


def test_the_table_has_one_line_per_cell():
    rows = [
        {
            "condition": "idle",
            "threads_setting": "2",
            "wall_seconds": 109.4,
            "threads_used": [2],
            "load": [0.1, 1.9],
            "f1_macro_mean": 0.8512,
        },
        {
            "condition": "loaded",
            "threads_setting": "auto",
            "wall_seconds": 131.6,
            "threads_used": [],
            "load": None,
            "f1_macro_mean": None,
        },
    ]
    lines = markdown(rows).splitlines()
    assert lines[2] == "| idle | 2 | 2 | 109 | 0.1-1.9 | 0.851 |"
    assert lines[3] == "| loaded | auto | - | 132 | - | - |"


def test_the_burner_spins_and_is_gone_afterwards():
    with burning_one_core(settle_seconds=0.3):
        children = [pid for pid in os.listdir("/proc") if pid.isdigit() and _parent(pid) == os.getpid()]
        assert children
    assert all(not os.path.exists(f"/proc/{pid}") or _state(pid) == "Z" for pid in children)


def _parent(pid: str) -> int:
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _state(pid: str) -> str:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
