"""Command line: ``bcbench run|models|compare|efficiency`` (``bench/*.py`` are thin wrappers)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from bcbench.errors import EXIT_OK, EXIT_USAGE

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("bcbench.cli.commands", "run_command"),
    "models": ("bcbench.cli.commands", "models_command"),
    "compare": ("bcbench.cli.commands", "compare_command"),
    "efficiency": ("bcbench.cli.cost", "main"),
    "submit": ("bcbench.cli.submit", "submit_command"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        names = ", ".join(COMMANDS)
        print(f"usage: bcbench {{{names}}} ...  (bcbench <command> --help for its options)")
        return EXIT_OK if not argv or argv[0] in ("-h", "--help") else EXIT_USAGE
    module_name, function_name = COMMANDS[argv[0]]
    module = importlib.import_module(module_name)  # only the chosen command's imports are paid for
    return int(getattr(module, function_name)(argv[1:]))


if __name__ == "__main__":
    raise SystemExit(main())
