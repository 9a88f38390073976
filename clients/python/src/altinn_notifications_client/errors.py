"""Typed exceptions. Messages name the status, title, code and the fields in error, never a body or address."""

from __future__ import annotations

from altinn_notifications_client.models import ProblemDetails


class NotificationsError(Exception):
    """Base of everything this client raises."""


class InvalidRecipientError(NotificationsError, ValueError):
    """A recipient builder refused its input (the server would refuse it too)."""


class TransportError(NotificationsError):
    """The service could not be reached or did not answer in time (after the retries allowed)."""


class RequestTimeoutError(TransportError):
    """No answer within the timeout."""


class WaitTimeoutError(NotificationsError, TimeoutError):
    """A `wait_for_*` helper ran out of time; `last` is the state seen last (None if never read)."""

    def __init__(self, message: str, last: object | None = None):
        super().__init__(message)
        self.last = last


class ApiError(NotificationsError):
    """The service answered with an error status. `problem` holds its ProblemDetails when it sent one."""

    def __init__(
        self, status_code: int, problem: ProblemDetails | None = None, *, retry_after: float | None = None
    ):
        self.status_code = status_code
        self.problem = problem
        self.retry_after = retry_after
        super().__init__(self._describe())

    @property
    def code(self) -> str | None:
        """The API's problem code (`NOT-00001` ...), if any."""
        return self.problem.code if self.problem else None

    @property
    def errors(self) -> dict[str, list[str]]:
        """Validation messages by field (`{"Recipients[0].EmailAddress": [...]}`); empty when none."""
        return dict(self.problem.errors or {}) if self.problem else {}

    def _describe(self) -> str:
        parts = [f"HTTP {self.status_code}"]
        if self.problem is not None:
            if self.problem.title or self.problem.detail:  # the API's fixed wording, never request data
                parts.append(self.problem.title or self.problem.detail or "")
            if self.problem.code:
                parts.append(self.problem.code)
            if self.problem.errors:
                parts.append("fields: " + ", ".join(sorted(self.problem.errors)))
        return ": ".join(parts[:2]) + ("" if len(parts) <= 2 else " (" + "; ".join(parts[2:]) + ")")


class ValidationError(ApiError):
    """400: the request was refused; `errors` lists the messages by field."""


class AuthenticationError(ApiError):
    """401: no token, or one the service does not trust (expired, wrong key)."""


class PermissionDeniedError(ApiError):
    """403: the token lacks the scope, or names no organisation."""


class NotFoundError(ApiError):
    """404: no such order or shipment for this sender."""


class ConflictError(ApiError):
    """409: e.g. an order too far along to be cancelled."""


class PayloadTooLargeError(ApiError):
    """413: the request body is too large."""


class UnprocessableError(ApiError):
    """422: e.g. `NOT-00001`, no contact information for the recipient."""


class RateLimitedError(ApiError):
    """429: too many requests (after the retries allowed); `retry_after` is the server's advice in seconds."""


class ServerError(ApiError):
    """5xx: the service failed (after the retries allowed)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableError,
    429: RateLimitedError,
}


def error_for(status_code: int, problem: ProblemDetails | None, retry_after: float | None = None) -> ApiError:
    kind = _BY_STATUS.get(status_code, ServerError if status_code >= 500 else ApiError)
    return kind(status_code, problem, retry_after=retry_after)
