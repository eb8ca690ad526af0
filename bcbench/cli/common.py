"""What every command shares: one-line errors instead of tracebacks, the console, interruption."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from bcbench.errors import EXIT_USAGE, BcbenchError


def guarded(action: Callable[[], int], debug: bool) -> int:
    """Turn user-fixable errors into one red line (tracebacks only with --debug)."""
    try:
        return action()
    except BcbenchError as error:
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr)  # plain print: Rich would wrap a long line
        return EXIT_USAGE


def interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def make_console() -> Console:
    """A console for the terminal, or a wide one (no wrapping) when output is piped to a log."""
    return Console() if sys.stdout.isatty() else Console(width=200)
