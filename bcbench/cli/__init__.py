"""Command line: ``bcbench run|compare|cost|models|submit``, argparse subcommands (``bench/*.py`` are thin
wrappers). Each command imports what it needs in its handler, so ``bcbench --help`` stays quick."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bcbench.cli.commands import add_compare_parser, add_models_parser, add_run_parser
from bcbench.cli.cost import add_cost_parser
from bcbench.cli.submit import add_submit_parser


def version_text() -> str:
    """``bcbench <version>`` and the git commit when bcbench runs from a checkout."""
    from bcbench import __version__
    from bcbench.env import git_sha

    sha = git_sha()
    return f"bcbench {__version__}" + (f" (git {sha[:12]})" if sha else "")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bcbench",
        description="Seed-swept, cost-aware benchmarks of image classifiers for medical imaging.",
        epilog="bcbench COMMAND --help shows each command's options.",
    )
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_run_parser(commands)
    add_compare_parser(commands)
    add_cost_parser(commands)
    add_models_parser(commands)
    add_submit_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process's arguments) and run the chosen command; its exit code."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
