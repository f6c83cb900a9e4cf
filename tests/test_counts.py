"""A finished run's status from its counts."""

from __future__ import annotations

from sync_core.counts import RunCounts


def counts(*, queried=0, invalid=0, unchanged=0, changed=0, synced=0, failed=0, rejected_other=0,
           rejected_expected=0) -> RunCounts:
    c = RunCounts(queried=queried, invalid=invalid, unchanged=unchanged)
    c.plan("changed", changed)
    for outcome, rows in (("synced", synced), ("failed", failed), ("rejected_other", rejected_other),
                          ("rejected_expected", rejected_expected)):
        c.settle("changed", outcome, rows)
    return c


def test_expected_rejections_alone_keep_a_run_healthy():
    assert counts(queried=100, changed=100, synced=40, rejected_expected=60).status(0.1) == "healthy"


def test_a_rerun_with_nothing_to_send_is_not_failed_by_the_invalid_keys_every_run_has():
    # 20 null keys in 20,000 rows: 0.1% of the model, though they are all this run had to report.
    assert counts(queried=20_000, invalid=20, unchanged=19_980).status(0.1) == "warning"


def test_failed_writes_count_against_the_rows_the_run_planned():
    assert counts(queried=100_000, unchanged=95_000, changed=5_000, synced=4_000, failed=1_000).status(0.1) == "failed"
    assert counts(queried=100_000, unchanged=95_000, changed=5_000, synced=4_600, rejected_other=400
                  ).status(0.1) == "warning"


def test_a_model_whose_keys_are_mostly_invalid_fails():
    assert counts(queried=1_000, invalid=300, unchanged=700).status(0.1) == "failed"
