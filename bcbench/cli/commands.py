"""``bcbench run``, ``bcbench models`` and ``bcbench compare``."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Sequence
from pathlib import Path

from bcbench.cli.common import add_sweep_flags, guarded, interrupt, make_console
from bcbench.errors import EXIT_OK


def run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bcbench run",
        description="Train and evaluate every model x seed of a config; resume where a previous run stopped.",
        epilog="Overrides are dotted keys, e.g. train.epochs=3 'models=[simple_cnn]' data.root=/data/busi",
    )
    parser.add_argument("--config", "-c", help="YAML experiment file (default: configs/default.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    parser.add_argument(
        "--set", action="append", default=[], metavar="key=value", help="same as a positional"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the planned runs and exit")
    add_sweep_flags(parser)
    return parser


def run_command(argv: Sequence[str]) -> int:
    args = run_parser().parse_args(argv)
    return guarded(lambda: _run(args), debug=args.debug)


def _run(args: argparse.Namespace) -> int:
    from bcbench.config import load_config
    from bcbench.sweep import run_sweep

    # a scheduler's SIGTERM ends the run like Ctrl-C; SIGINT is set explicitly because a shell
    # starts background jobs with SIGINT ignored, and `kill -INT` must still stop them
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    config = load_config(args.config or default_config_path(), [*args.overrides, *args.set])
    console = make_console()
    return run_sweep(config, fresh=args.fresh, dry_run=args.dry_run, console=console)


def default_config_path() -> Path | None:
    """configs/default.yaml of the checkout, when bcbench runs from one; else built-in defaults."""
    path = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"
    return path if path.is_file() else None


def models_command(argv: Sequence[str]) -> int:
    from bcbench.models import available_models

    parser = argparse.ArgumentParser(
        prog="bcbench models", description="List the model names bcbench accepts."
    )
    parser.parse_args(argv)
    print("\n".join(available_models()))
    return EXIT_OK


def compare_command(argv: Sequence[str]) -> int:
    """Rebuild tables, CSVs, report.md and figures from stored records (no training)."""
    parser = argparse.ArgumentParser(
        prog="bcbench compare",
        description="Rebuild every table and figure of a sweep from runs.jsonl; with several folders, "
        "compare them side by side (comparison.csv).",
    )
    parser.add_argument(
        "directories", nargs="+", type=Path, metavar="SWEEP_DIR", help="results/<sweep> folder(s)"
    )
    parser.add_argument("--out", type=Path, help="where to write (default: the first folder)")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks")
    args = parser.parse_args(argv)

    def action() -> int:
        from bcbench.report import rebuild

        rebuild(args.directories, out=args.out, console=make_console())
        return EXIT_OK

    return guarded(action, debug=args.debug)
