"""``bcbench run``, ``bcbench compare`` and ``bcbench models``."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any

from bcbench.cli.common import add_config_arguments, add_sweep_flags, guarded, interrupt, make_console
from bcbench.errors import EXIT_OK


def add_run_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="train and evaluate every run of a config",
        description="Train and evaluate every model x seed of a config; resume where a previous run stopped.",
        epilog="Overrides are dotted keys, e.g. train.epochs=3 'models=[simple_cnn]' data.root=/data/busi",
    )
    add_config_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the planned runs and exit")
    add_sweep_flags(parser)
    parser.set_defaults(handler=lambda args: guarded(lambda: _run(args), debug=args.debug))


def _run(args: argparse.Namespace) -> int:
    from bcbench.config import load_config
    from bcbench.sweep import run_sweep

    # a scheduler's SIGTERM ends the run like Ctrl-C; SIGINT is set explicitly because a shell
    # starts background jobs with SIGINT ignored, and `kill -INT` must still stop them
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    config = load_config(args.config or default_config_path(), [*args.overrides, *args.set])
    result = run_sweep(config, fresh=args.fresh, dry_run=args.dry_run, console=make_console())
    return result.exit_code


def default_config_path() -> Path | None:
    """The shipped default.yaml (installed or in a checkout); None: built-in defaults. Imported on use."""
    from bcbench.config import default_config_path as shipped_default

    return shipped_default()


def add_models_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "models", help="list the model names", description="List the model names bcbench accepts."
    )
    parser.set_defaults(handler=_models)


def _models(args: argparse.Namespace) -> int:
    from bcbench.models import available_models

    print("\n".join(available_models()))
    return EXIT_OK


COMPARE = (
    "Rebuild every table and figure of a sweep from its records (no training); with several folders, compare "
    "them side by side (comparison.csv)."
)


def add_compare_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "compare", help="rebuild a sweep's report, or compare sweeps", description=COMPARE
    )
    parser.add_argument(
        "directories", nargs="+", type=Path, metavar="SWEEP_DIR", help="results/<sweep> folder(s)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write (default: the sweep folder itself; several: compare-<a>-<b> beside the first)",
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks")
    parser.set_defaults(handler=lambda args: guarded(lambda: _compare(args), debug=args.debug))


def _compare(args: argparse.Namespace) -> int:
    from bcbench.report import rebuild

    rebuild(args.directories, out=args.out, console=make_console())
    return EXIT_OK
