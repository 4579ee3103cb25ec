"""One exception hierarchy for the whole platform.

Every error carries structured context (system, object, run) and says whether retrying can help:
the scheduler reads `transient`, it never parses messages. Messages tell the user what to do next.
The HTTP status for each class lives in `urbanbrain.web.errors`, not here.
"""

from __future__ import annotations

from typing import Any


class UrbanBrainError(Exception):
    """Root of every error urbanbrain raises on purpose."""

    transient: bool = False

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        self.message = message
        self.hint = hint
        self.context = {k: v for k, v in context.items() if v is not None}
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.context.items())
        text = self.message
        if where:
            text = f"{text} [{where}]"
        if self.hint:
            text = f"{text} — {self.hint}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "transient": self.transient,
            **{k: str(v) for k, v in self.context.items()},
        }


class TransientError(UrbanBrainError):
    """Worth retrying later: the cause may go away by itself (network, timeouts, locks)."""

    transient = True


class DependencyUnavailableError(TransientError):
    """A service a request needs (the metadata database, the Redis quota store, NATS, a department's
    system during "sync now") is down or unreachable: nothing is wrong with the request, so retrying
    once it is back will work (`dependency` in the context names it)."""


class ConfigurationError(UrbanBrainError):
    """A setting, schedule or connection option is missing or malformed."""


class NotFoundError(UrbanBrainError):
    """A named department, system, dataset or run does not exist."""


class AlreadyExistsError(UrbanBrainError):
    """A name that must be unique is already taken."""


class ValidationError(UrbanBrainError):
    """Input that does not meet the documented contract (bad name, bad parameter)."""


class MalformedRequestError(ValidationError):
    """A request that cannot be read at all: a body that is not JSON, nests too deeply, or has the wrong type."""


class PayloadTooLargeError(ValidationError):
    """A request body over the API's limit: the API takes small JSON requests; data enters through syncs."""


# --- connecting to department systems -------------------------------------------------------


class SourceError(UrbanBrainError):
    """Something went wrong talking to a department system."""


class SourceUnreachableError(SourceError, TransientError):
    """The host did not answer or timed out."""


class AuthenticationError(SourceError):
    """The system refused our credentials; retrying with the same ones cannot help."""


class ObjectNotFoundError(SourceError, NotFoundError):
    """A table, file or endpoint the system should have is missing."""


class SourceFormatError(SourceError):
    """The system answered with something we cannot parse (HTML instead of JSON, wrong encoding)."""


class SourceServerError(SourceError, TransientError):
    """The system answered with a server-side error (HTTP 5xx)."""


# --- the lakehouse ---------------------------------------------------------------------------


class LakeError(UrbanBrainError):
    """The lakehouse could not read or commit a table."""


class SchemaChangeError(LakeError):
    """A source column changed type incompatibly with the lake table; the object is stopped."""


class CommitConflictError(LakeError, TransientError):
    """Another writer committed to the same table first; running again will succeed."""


class QueryError(UrbanBrainError):
    """A SQL query failed to parse, plan or run."""


class ReadOnlyViolationError(QueryError):
    """A statement tried to write, configure the engine or reach files outside the lake."""


# --- running syncs ---------------------------------------------------------------------------


class SyncError(UrbanBrainError):
    """A sync run failed."""


class SyncInProgressError(SyncError, TransientError):
    """Another sync of the same system holds its lock."""


class SecretError(UrbanBrainError):
    """A stored secret cannot be decrypted with the configured key."""


class WriterError(UrbanBrainError):
    """The writer process could not write a metering or audit batch (the batch is kept and retried)."""


# --- the capability gateway ------------------------------------------------------------------


class AuthenticationRequiredError(UrbanBrainError):
    """The caller sent no API key, or one that is unknown, revoked or expired."""


class PermissionDeniedError(UrbanBrainError):
    """The caller is known but may not do this (no approved grant, not the owning department)."""


class QuotaExceededError(TransientError):
    """A grant's calls per minute or per day are used up; `retry_after` (seconds) is in the context."""


class LoginThrottledError(TransientError):
    """Too many failed logins for a user or from an address; `retry_after` (seconds) is in the context."""


class UpstreamTimeoutError(TransientError):
    """A department service behind the gateway did not answer in time."""
