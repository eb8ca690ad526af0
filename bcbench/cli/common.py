"""What every command shares: config arguments, one-line errors instead of tracebacks, the console,
interruption."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from bcbench.errors import BcbenchError, quiet_storage_threads, storage_failure


def guarded(action: Callable[[], int], debug: bool) -> int:
    """Turn user-fixable errors, storage failures included, into one red line and their exit code
    (tracebacks only with --debug)."""
    try:
        with quiet_storage_threads():
            return action()
    except Exception as error:
        failure = error if isinstance(error, BcbenchError) else storage_failure(error)
        if failure is None or debug:
            raise
        print(f"error: {failure}", file=sys.stderr)  # plain print: Rich would wrap a long line
        return failure.exit_code


def config_help() -> str:
    """--config's help, naming every config shipped inside the package."""
    from bcbench.config import shipped_config_names

    return (
        f"a shipped config by name: {', '.join(shipped_config_names())} (they ship inside the package: "
        "any working directory will do), or a YAML experiment file's path; without --config: default"
    )


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, dotted overrides and --set, which every command that plans a sweep takes."""
    parser.add_argument("--config", "-c", metavar="NAME|FILE", help=config_help())
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    parser.add_argument(
        "--set", action="append", default=[], metavar="key=value", help="same as a positional"
    )


def add_sweep_flags(parser: argparse.ArgumentParser) -> None:
    """--fresh and --debug, which every command that starts sweep workers takes."""
    parser.add_argument("--fresh", action="store_true", help="start a new sweep folder instead of resuming")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks")


def interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def make_console() -> Console:
    """A console for the terminal, or a wide one (no wrapping) when output is piped to a log."""
    return Console() if sys.stdout.isatty() else Console(width=200)
