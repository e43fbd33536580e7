"""Errors that are the user's to fix: a bad file, a bad config, an empty data set.

Command-line entry points catch :class:`UserError` and print its message as one line
(``error: <message>``) with exit code 2 and no traceback. Every message names the file
(or key, or option) and the problem, e.g. ``configs/x.yaml: unknown key 'lr'``.
Programming errors (wrong array shapes passed by code) stay ``ValueError``/``TypeError``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

__all__ = ["ConfigError", "DatasetError", "UserError", "WeightsError", "cli_entry"]


class UserError(Exception):
    """A problem with the user's input; ``str(err)`` is one line naming the file and the problem."""


class ConfigError(UserError):
    """A YAML config with an unknown key, a wrong type or a bad value."""


class DatasetError(UserError):
    """A data set folder that is missing, empty or not in the expected layout."""


class WeightsError(UserError):
    """A weights file that is missing, unreadable or does not fit the model."""


def cli_entry(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)``; turn a :class:`UserError` (or Ctrl-C) into one line on stderr.

    Returns the exit code: ``main``'s own, 2 for a user error, 130 for an interrupt.
    """
    try:
        return main(argv)
    except UserError as err:
        message = " ".join(str(err).split())  # always exactly one line
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
