"""Domain errors services raise; commhub.api.exception_handler turns them into JSON 4xx responses.

Validation problems use Django's ValidationError (with a field -> messages dict), so models, services,
the admin and the API share one vocabulary.
"""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class Forbidden(DomainError):
    """The caller may see the object but not do this to it (e.g. change what every organisation shares)."""

    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    """The request is valid but the object's current state does not allow it (e.g. cancel a sent message)."""

    status_code = 409
    code = "conflict"


class InvalidInput(DomainError):
    """Field-level validation errors, possibly nested: {"data": {"amount": ["This variable is required."]}}."""

    status_code = 400
    code = "invalid"

    def __init__(self, errors: dict) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
