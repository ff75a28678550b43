"""What the store refuses, in the store's own words; the control plane maps each to an HTTP status."""

from __future__ import annotations


class NotFoundError(LookupError):
    """A named resource does not exist. The message names it."""


class ConflictError(ValueError):
    """The change collides with what is stored: a taken name, a resource still in use."""


class StaleVersionError(ValueError):
    """The resource changed since the caller read it (optimistic concurrency, RFC 9110 §13.1.1)."""


class LimitError(ValueError):
    """A write would pass a limit the store holds every surface to (e.g. approvals per assignment)."""
