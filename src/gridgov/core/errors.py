"""Domain errors with a stable code and a message a person can act on.

Routes turn them into uniform JSON bodies; the CLI prints them. They never carry internals.
"""

from __future__ import annotations


class GridgovError(Exception):
    """Base class: ``code`` is machine-readable, ``message`` is for a person."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(GridgovError):
    code = "not_found"
    http_status = 404


class InvalidInput(GridgovError):
    code = "invalid_input"
    http_status = 422


class OutsideDistrict(GridgovError):
    code = "outside_district"
    http_status = 422


class Unauthenticated(GridgovError):
    code = "unauthenticated"
    http_status = 401


class Forbidden(GridgovError):
    code = "forbidden"
    http_status = 403


class Conflict(GridgovError):
    """The request is valid but the object's current state does not allow it (an illegal transition, an
    edit based on an outdated version)."""

    code = "conflict"
    http_status = 409
