"""Domain errors. Each carries a stable code; api/errors.py turns them into JSON."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose.

    `status` is the HTTP status the transport should use; the domain only picks the class.
    """

    code = "error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidInput(DomainError):
    """The caller sent something malformed: a field is missing, too long or unparsable."""

    code = "invalid_input"
    status = 422


class PayloadTooLarge(InvalidInput):
    """A text or file is over the configured limit."""

    code = "payload_too_large"
    status = 413


class NotFound(DomainError):
    """The addressed object does not exist."""

    code = "not_found"
    status = 404


class Conflict(DomainError):
    """The request contradicts the current state (e.g. merging a customer into itself)."""

    code = "conflict"
    status = 409


class Unauthorized(DomainError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthorized"
    status = 401


class Forbidden(DomainError):
    """The API key is valid but its role may not do this."""

    code = "forbidden"
    status = 403


class Unavailable(DomainError):
    """Something the request needs is not installed here (e.g. the intent model's encoder)."""

    code = "unavailable"
    status = 503


class TransientError(Exception):
    """A dependency (database, vector store, broker) failed in a way worth retrying."""
