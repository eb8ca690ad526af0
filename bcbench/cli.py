"""Command line: `bcbench run|models|compare|efficiency` (bench/*.py are thin wrappers)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bcbench.errors import EXIT_OK, EXIT_USAGE, BcbenchError


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
    parser.add_argument("--fresh", action="store_true", help="start a new sweep folder instead of resuming")
    parser.add_argument("--dry-run", action="store_true", help="print the planned runs and exit")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks")
    return parser


def run_command(argv: Sequence[str]) -> int:
    args = run_parser().parse_args(argv)
    return guarded(lambda: _run(args), debug=args.debug)


def guarded(action: Callable[[], int], debug: bool) -> int:
    """Turn user-fixable errors into one red line (tracebacks only with --debug)."""
    try:
        return action()
    except BcbenchError as error:
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr)  # plain print: Rich would wrap a long line
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bcbench.config import load_config
    from bcbench.runner import run_sweep

    # a scheduler's SIGTERM ends the run like Ctrl-C; SIGINT is set explicitly because a shell
    # starts background jobs with SIGINT ignored, and `kill -INT` must still stop them
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    config = load_config(args.config or default_config_path(), [*args.overrides, *args.set])
    console = Console() if sys.stdout.isatty() else Console(width=200)  # no wrapping when piped
    return run_sweep(config, fresh=args.fresh, dry_run=args.dry_run, console=console)


def default_config_path() -> Path | None:
    """configs/default.yaml of the checkout, when bcbench runs from one; else built-in defaults."""
    path = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"
    return path if path.is_file() else None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


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
        from rich.console import Console

        from bcbench.report import rebuild

        rebuild(
            args.directories, out=args.out, console=Console() if sys.stdout.isatty() else Console(width=200)
        )
        return EXIT_OK

    return guarded(action, debug=args.debug)


COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("bcbench.cli", "run_command"),
    "models": ("bcbench.cli", "models_command"),
    "compare": ("bcbench.cli", "compare_command"),
    "efficiency": ("bcbench.efficiency_cli", "main"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        names = ", ".join(COMMANDS)
        print(f"usage: bcbench {{{names}}} ...  (bcbench <command> --help for its options)")
        return EXIT_OK if not argv or argv[0] in ("-h", "--help") else EXIT_USAGE
    module_name, function_name = COMMANDS[argv[0]]
    module: Any = __import__(module_name, fromlist=[function_name])
    return int(getattr(module, function_name)(argv[1:]))


if __name__ == "__main__":
    raise SystemExit(main())
