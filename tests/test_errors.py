"""Every class a stopped run can be recorded with is one the views know how to explain."""

from __future__ import annotations

import sync_core.guards  # noqa: F401 - registers RunBlocked among the subclasses
from sync_core.errors import RUN_ERROR_CLASSES, SyncCoreError
from sync_core.outcomes import ERROR_CLASSES
from ui.run_view import NEXT_STEP


def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


def test_every_error_a_run_records_has_a_run_class_and_a_next_step():
    for error in [SyncCoreError, *subclasses(SyncCoreError)]:
        assert error.error_class in RUN_ERROR_CLASSES, error
    assert set(NEXT_STEP) == set(RUN_ERROR_CLASSES)


def test_internal_is_a_run_class_never_a_rows():
    assert "internal" in RUN_ERROR_CLASSES and "internal" not in ERROR_CLASSES
