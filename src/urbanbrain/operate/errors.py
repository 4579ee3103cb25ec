"""The errors of city operations. Conflicts subclass `AlreadyExistsError` so the one HTTP mapping
(`web/errors.py`) answers them with 409 Conflict: the state the caller acted on is no longer current."""

from __future__ import annotations

from urbanbrain.core.errors import AlreadyExistsError


class CaseConflictError(AlreadyExistsError):
    """A case changed since the caller read it, or its status does not allow the action (HTTP 409)."""


class StaleVersionError(CaseConflictError):
    """Someone else changed the case first: re-read it and decide again."""


class TransitionNotAllowedError(CaseConflictError):
    """The action is not allowed from the case's current status."""
