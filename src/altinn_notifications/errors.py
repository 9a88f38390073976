"""One error base class carrying its HTTP status; the API turns each into the reference's body."""

from __future__ import annotations


class AppError(Exception):
    """Base of errors that map to an HTTP response."""

    status_code: int = 500
    title: str = "An error occurred while processing your request."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail


class NotFoundError(AppError):
    status_code = 404
    title = "Not Found"


class ConflictError(AppError):
    """409 ProblemDetails (docs/compatibility.md C3, C4)."""

    status_code = 409
    title = "Conflict"


class UnauthorizedError(AppError):
    """401: missing, malformed, expired or untrusted token."""

    status_code = 401
    title = "Unauthorized"


class ForbiddenError(AppError):
    """403: authenticated but lacking the scope or an org."""

    status_code = 403
    title = "Forbidden"


class ExplainedForbiddenError(ForbiddenError):
    """403 with a ProblemDetails body naming the reason, for refusals the reference does not have (its own
    403s are empty): a Maskinporten token whose consumer cannot be used as the order's creator."""


class RequestValidationFailed(AppError):
    """400 ValidationProblemDetails; `errors` is keyed by the reference's property paths."""

    status_code = 400
    title = "One or more validation errors occurred."

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(self.title)
        self.errors = errors


class TooManyRequestsError(AppError):
    """429 ProblemDetails with `Retry-After`: a sender's rate limit or daily quota (README "Rate limits")."""

    status_code = 429
    title = "Too Many Requests"

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class CodedProblem(AppError):
    """Altinn ProblemDetails with a `NOT-0000N` code (docs/compatibility.md C3)."""

    code: str = ""

    def __init__(self, status_code: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.code = code


class DependencyError(Exception):
    """A platform dependency (register, profile, authorization, condition endpoint) failed; retry later."""
