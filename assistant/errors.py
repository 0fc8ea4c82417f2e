"""The one error root. Every error a user can cause or fix is a `PolicyQAError`: its message says what is
wrong and what to do, and `status` is the HTTP status the API answers with. Each face maps it in one place
(the CLI to a one-line message and exit 1, the API to a JSON body, the app to a notice in the page).
"""


class PolicyQAError(Exception):
    """Something the user can fix; `str(error)` is the message to show them."""

    status = 400


class Unauthorized(PolicyQAError):
    """A request without a valid integrator key, where keys are configured."""

    status = 401


class Forbidden(PolicyQAError):
    """An admin action without the right token, or with admin actions disabled."""

    status = 403


class NotFound(PolicyQAError):
    """The thing asked for (a document, a cited chunk) is not in the index."""

    status = 404


class Unavailable(PolicyQAError):
    """The service cannot answer now (no index, the embedding model cannot load); the message says how to fix it."""

    status = 503


class RateLimited(PolicyQAError):
    """Too many requests for one key (or one client) in the current minute; `retry_after` is in seconds."""

    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
