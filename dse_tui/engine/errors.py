"""Errors the engine raises; the CLI maps them to exit codes (bad input = 2, a "no" = 1)."""

from __future__ import annotations

from typing import Any


class DSEError(Exception):
    """Base class for every error the engine reports to a user."""


class BadInput(DSEError):
    """The user's input is unusable (malformed spec, unreadable code, empty query...)."""


class SpecError(BadInput):
    """A behaviour spec is malformed; the message names the file and the place."""


class NotFound(DSEError):
    """No artifact matches a name or id."""


class SpecFailed(DSEError):
    """Code ran but did not pass its spec; carries the TestResults for display."""

    def __init__(self, message: str, test_results: dict[str, Any]):
        super().__init__(message)
        self.test_results = test_results
