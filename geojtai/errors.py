"""Exceptions raised by geojtai.

Every exception inherits :class:`GeojtaiError` and a built-in base, so callers can catch
either the project's error or the ordinary Python one (``except ValueError``). The CLI
turns a ``GeojtaiError`` into one line per problem on stderr and exit status 2.
"""

from __future__ import annotations

__all__ = [
    "AccountError",
    "CRSError",
    "DatabaseError",
    "DisclosureError",
    "FilterError",
    "GeojtaiError",
    "InputFileError",
    "SchemaError",
    "SettingsError",
    "StudyError",
    "ExportError",
]


class GeojtaiError(Exception):
    """Base class of every error geojtai raises on purpose.

    Parameters
    ----------
    message
        The whole message; one line per problem.
    problems
        The individual problems, when several were collected before raising.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems) if problems else [message]


class SchemaError(GeojtaiError, ValueError):
    """An input does not follow its column contract (missing columns, unusable values)."""


class CRSError(GeojtaiError, ValueError):
    """A geometry has no CRS, the wrong CRS, or coordinates impossible in its CRS."""


class InputFileError(GeojtaiError, OSError):
    """A file cannot be read at all (missing, unreadable, not the format it claims)."""


class SettingsError(GeojtaiError, ValueError):
    """A study setting or command-line option is invalid."""


class StudyError(GeojtaiError, RuntimeError):
    """A study folder is missing, incomplete or from an incompatible version."""


class FilterError(GeojtaiError, ValueError):
    """A filter on the incidents (web query arguments or a ``CellFilter``) is invalid."""


class DisclosureError(GeojtaiError, ValueError):
    """A disclosure rule or the counts given to it are invalid."""


class AccountError(GeojtaiError, ValueError):
    """A user account cannot be made or changed (name taken, unknown role, short password)."""


class ExportError(GeojtaiError, ValueError):
    """An export cannot be made as asked (unknown layer or format, incidents asked for a
    publishable file, a filter on a study without incidents)."""


class DatabaseError(GeojtaiError, OSError):
    """The app's database cannot be opened (bad URL, missing folder, server unreachable) or
    was asked to do what it refuses (change the append-only audit log)."""
