"""Errors a service raises for the user to read (Chinese messages, nothing written)."""

from __future__ import annotations

from portal.auth.policy import PermissionDenied
from portal.data.db import DatabaseBusyError


class ServiceError(ValueError):
    """A request the service refuses: bad input or a rule broken. The message is for the user."""


class NotFound(ServiceError):
    """The object does not exist, or the actor may not know that it does."""


class ValidationError(ServiceError):
    """Input refused; ``errors`` maps a field name to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("；".join(errors.values()))


__all__ = ["DatabaseBusyError", "NotFound", "PermissionDenied", "ServiceError", "ValidationError"]
