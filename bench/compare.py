"""Rebuild tables, CSVs, report.md and figures from stored records, without training.

    python bench/compare.py results/<sweep>              # every table and figure of one sweep
    python bench/compare.py results/a results/b [--out DIR]   # sweeps side by side -> comparison.csv

Exit codes: 0 done, 2 nothing to report (missing folder, no runs.jsonl, no successful run).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bcbench.errors import BcbenchError  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench/compare.py", description=__doc__.splitlines()[0])
    p.add_argument("directories", nargs="+", type=Path, metavar="SWEEP_DIR", help="results/<sweep> folder(s)")
    p.add_argument("--out", type=Path, help="where to write (default: the first folder)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from rich.console import Console

    from bcbench.report import rebuild

    try:
        console = Console() if sys.stdout.isatty() else Console(width=200)  # no wrapping when piped
        rebuild(args.directories, out=args.out, console=console)
    except BcbenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
