"""The one base of user-facing errors, defined below every domain package so that nothing above has to know them.

A `UserError` describes bad input or a refused action: its message alone tells a person what to do, so the
CLI (`auraquant.console`) renders it as one line without a traceback or a debug hint. Domain errors subclass it
(next to their builtin base, e.g. `class FetchError(UserError, RuntimeError)`), which keeps the console free of
domain imports: it checks `isinstance(exc, UserError)` instead of listing every area's error types.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refused action, explained by the message itself (rendered without a traceback)."""
