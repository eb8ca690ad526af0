"""Errors that bcbench reports to the user as one clear line (no traceback), and exit codes."""

# exit codes of the command line: 1 = some run failed (recorded), 2 = bad input, 130 = interrupted
EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class BcbenchError(Exception):
    """A problem the user can fix: the message names the file, key or value and what to do."""


class ConfigError(BcbenchError):
    """Invalid configuration: unknown key, wrong type or impossible value."""


class DataError(BcbenchError):
    """Invalid data: missing folder, unreadable image, bad split manifest."""


class ModelError(BcbenchError):
    """Unknown model or weights, or weights that cannot be loaded."""
