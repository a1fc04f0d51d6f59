"""Errors a user can fix. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations


class PlanevalError(Exception):
    """Base class for errors caused by input (specs, names, paths), not by bugs."""

    exit_code = 2


class SpecError(PlanevalError):
    """A spec file or field is malformed; the message names the file, the field and the problem."""

    def __init__(self, source: str, field: str, problem: str):
        self.source, self.field, self.problem = source, field, problem
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {problem}")


class UnknownNameError(PlanevalError):
    """A name that is not registered; the message lists the valid names and a close match."""


class MissingPathError(PlanevalError):
    """A file or folder named in a spec does not exist."""
