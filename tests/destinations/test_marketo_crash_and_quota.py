"""Marketo activities have no idempotency key: a run killed after k of n batches, then run again, duplicates at most
the batch that was in flight (one, by default), and its snapshot names only activities the sandbox stored. A daily
quota used up mid-run stops the run as transient, naming the reset; the run after the Marketo day turns sends the
rest."""

from __future__ import annotations

from collections import Counter

import pytest

from sync_core import StateStore, invariant_violations
from sync_core.marketo_day import next_reset
from sync_core.sandbox import ManualClock

from demo_helpers import kill_at_held_write
from marketo_workspace import INSTANCE, marketo_workspace

BATCH, PEOPLE = 20, 100
ONE_IN_FLIGHT = f"rate_limit_reserve = 0\nbatch_size = {BATCH}"  # concurrency left at its default: one in flight


def people(marketo) -> list[str]:
    emails = [f"p{i:03d}@x.io" for i in range(PEOPLE)]
    marketo.sandbox.add_leads(INSTANCE, emails)
    marketo.add_people([(e, "2026-11-30T10:00:00Z", f"ns-{e}", "pro") for e in emails])
    return emails


@pytest.mark.parametrize("k", [1, 3])
def test_kill_after_k_of_n_batches_then_rerun_duplicates_at_most_one_batch(tmp_path, monkeypatch, k):
    with marketo_workspace(tmp_path, monkeypatch, destination_settings=ONE_IN_FLIGHT) as marketo:
        emails = people(marketo)
        # Killed while every add after the k-th waits; then the worst case: the dead client's last request still
        # reaches Marketo and is stored, unrecorded.
        kill_at_held_write(marketo.server, marketo.root, "activities", "activities/external", k, drop_held=False)

        with StateStore(marketo.workspace.state_path) as store:
            [killed] = store.list_runs()
            guids = store.destination_ids("activities")
        stored = {a["marketoGUID"] for a in marketo.read_back()}
        assert killed.status == "interrupted" and invariant_violations(killed.counts.as_dict()) == []
        assert len(guids) == k * BATCH and set(guids.values()) <= stored  # only what the sandbox stored

        rerun = marketo.run()
        assert rerun.status == "healthy", rerun.error
        activities = marketo.read_back()
        per_lead = Counter(marketo.emails_of(activities))
        assert set(per_lead) == set(emails)  # every key has its activity
        duplicated = sum(n - 1 for n in per_lead.values())
        assert duplicated == BATCH  # the batch in flight at the kill, sent again: the documented window
        assert set(marketo.marketo_guids().values()) <= {a["marketoGUID"] for a in activities}


def test_a_quota_left_short_of_the_run_is_said_before_sending_and_the_reserve_is_kept(tmp_path, monkeypatch):
    clock = ManualClock(1_700_000_000.0)
    settings = ONE_IN_FLIGHT + "\ndaily_quota = 20\ndaily_quota_reserve = 0.25"  # the run may use 15 calls a day
    with marketo_workspace(tmp_path, monkeypatch, destination_settings=settings, clock=clock) as marketo:
        emails = people(marketo)  # 5 batches: one look-up of the 100 emails and 5 adds (estimated: 10 calls)
        marketo.sandbox.set_daily_quota(INSTANCE, 20)
        for _ in range(10):  # other integrations of the instance made 10 calls today
            marketo.sandbox.take_daily_call(INSTANCE, clock.now())

        short = marketo.run(clock=clock)

        # 15 less 12 used (10, the type check and the usage read): 3 calls, the look-up and two batches
        [note] = [n for n in short.notes if "daily quota" in n]
        assert "leaves this run 3 calls" in note and "need about 10" in note and "2023-11-15T00:00:00-06:00" in note
        assert short.status == "failed" and short.error_class == "transient" and "DailyQuotaReserve" in short.error
        assert short.counts.outcome("synced") == 2 * BATCH
        assert marketo.sandbox.daily_calls(INSTANCE, clock.now()) == 15  # 5 left to the other integrations

        clock.advance(next_reset(clock.now()) - clock.now())
        rest = marketo.run(clock=clock)
        assert rest.status == "healthy", rest.error
        assert sorted(marketo.emails_of(marketo.read_back())) == emails  # each once


def test_quota_used_up_mid_run_stops_naming_the_reset_and_the_next_day_sends_the_rest(tmp_path, monkeypatch):
    clock = ManualClock(1_700_000_000.0)  # 2023-11-14 16:13 US Central
    with marketo_workspace(tmp_path, monkeypatch, destination_settings=ONE_IN_FLIGHT, clock=clock) as marketo:
        emails = people(marketo)
        # the types, the usage read, one look-up of the 100 emails, then an add per batch: 5 calls are those and
        # two batches, then the third's add
        marketo.sandbox.set_daily_quota(INSTANCE, 5)

        stopped = marketo.run(clock=clock)

        assert stopped.status == "failed" and stopped.error_class == "transient"
        assert "607" in stopped.error and "2023-11-15T00:00:00-06:00" in stopped.error
        assert stopped.counts.outcome("synced") == 2 * BATCH
        assert stopped.counts.outcome("not_attempted") == PEOPLE - 2 * BATCH
        assert invariant_violations(stopped.counts.as_dict()) == []

        clock.advance(next_reset(clock.now()) - clock.now())  # the Marketo day turns
        marketo.sandbox.set_daily_quota(INSTANCE, 50_000)
        rest = marketo.run(clock=clock)

        assert rest.status == "healthy", rest.error
        assert rest.counts.outcome("synced") == PEOPLE - 2 * BATCH
        assert sorted(marketo.emails_of(marketo.read_back())) == emails  # each once
