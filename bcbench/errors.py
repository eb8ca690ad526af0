"""Errors that bcbench reports to the user as one clear line (no traceback)."""


class BcbenchError(Exception):
    """A problem the user can fix: the message names the file, key or value and what to do."""


class ConfigError(BcbenchError):
    """Invalid configuration: unknown key, wrong type or impossible value."""


class DataError(BcbenchError):
    """Invalid data: missing folder, unreadable image, bad split manifest."""


class ModelError(BcbenchError):
    """Unknown model or weights, or weights that cannot be loaded."""
