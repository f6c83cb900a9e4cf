"""Destinations: one folder per type (iterable/), declaring itself in catalog.py, with one module per API object.

The contract every object keeps is in base.py; opening.py opens the one a sync writes to. This module imports
nothing of the engine's config, so that config.py can validate workspace.toml against catalog.py."""

from .base import BatchRejected, DestinationObject, Rejection, SendResult, TransientError

__all__ = ["BatchRejected", "DestinationObject", "Rejection", "SendResult", "TransientError"]
