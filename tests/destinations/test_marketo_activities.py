"""Marketo custom activities, run through the engine against the Marketo sandbox over real HTTP: each synced key
gets one activity with its values (read back through the activities endpoint); no lead, two leads, and values
Marketo refuses are rejections of their own; a wrong activity type or secret stops the run as `config`."""

from __future__ import annotations

import pytest

from marketo_workspace import ACTIVITY_TYPE, CLIENT_SECRET, INSTANCE, marketo_workspace


@pytest.fixture
def marketo(tmp_path, monkeypatch):
    with marketo_workspace(tmp_path, monkeypatch) as workspace:
        yield workspace


def test_each_key_gets_one_activity_with_its_values_and_unknown_leads_are_expected(marketo):
    marketo.sandbox.add_leads(INSTANCE, ["ada@x.io", "bob@x.io", "Cy@X.io"])
    marketo.add_people([("ada@x.io", "2026-11-30T10:00:00+01:00", "ns-ada", "pro"),
                        ("bob@x.io", "2026-11-30T11:00:00Z", "ns-bob", "free"),
                        ("cy@x.io", "2026-11-30T12:00:00Z", "ns-cy", "pro"),
                        ("nobody@x.io", "2026-11-30T12:00:00Z", "ns-none", "pro")])

    run = marketo.run()
    calls = [r["endpoint"] for r in marketo.sandbox.requests() if r["endpoint"] != "identity/oauth/token"]

    assert run.status == "healthy", run.error
    assert (run.counts.outcome("synced"), run.counts.outcome("rejected_expected")) == (3, 1)
    # the not-found row cost no write: one look-up of the batch's emails, one add
    assert calls == ["activities/external/types", "stats/usage", "leads", "activities/external"]
    activities = marketo.read_back()
    assert marketo.emails_of(activities) == ["Cy@X.io", "ada@x.io", "bob@x.io"]
    ada = next(a for a in activities if a["primaryAttributeValue"] == "ns-ada")
    assert ada["activityDate"] == "2026-11-30T09:00:00Z" and ada["attributes"] == [{"name": "plan", "value": "pro"}]
    assert marketo.snapshot_keys() == {"ada@x.io", "bob@x.io", "cy@x.io"}
    guids = marketo.marketo_guids()  # so a row's activity can be found later
    assert guids["ada@x.io"] == ada["marketoGUID"] and set(guids.values()) == {a["marketoGUID"] for a in activities}
    assert marketo.rejections() == {"nobody@x.io": "NotFound"}

    marketo.sandbox.add_leads(INSTANCE, ["nobody@x.io"])  # the product creates the lead
    again = marketo.run()
    assert (again.counts.outcome("synced"), again.counts.unchanged) == (1, 3)
    assert len(marketo.read_back()) == 4  # nothing added twice


def test_the_rows_emails_are_looked_up_first_so_each_add_is_full_and_people_without_a_lead_cost_no_add(
        tmp_path, monkeypatch):
    # Adds of 4: ten rows, of whom six have a lead, are one look-up and two adds (4 and 2 activities), not one
    # look-up and one add per batch of 4 rows (three of each).
    with marketo_workspace(tmp_path, monkeypatch, destination_settings="rate_limit_reserve = 0\nbatch_size = 4"
                           ) as marketo:
        people = [f"p{i}@x.io" for i in range(10)]
        with_lead = people[::2] + ["p1@x.io"]  # p0, p2, p4, p6, p8 and p1
        marketo.sandbox.add_leads(INSTANCE, with_lead)
        marketo.add_people([(email, "2026-11-30T10:00:00Z", f"ns-{email}", "pro") for email in people])

        run = marketo.run()
        calls = [(r["endpoint"], r["items"]) for r in marketo.sandbox.requests()
                 if r["endpoint"] != "identity/oauth/token"]

        assert (run.counts.outcome("synced"), run.counts.outcome("rejected_expected")) == (6, 4)
        assert calls == [("activities/external/types", None), ("stats/usage", None), ("leads", 10),
                         ("activities/external", 4), ("activities/external", 2)]
        assert sorted(marketo.emails_of(marketo.read_back())) == sorted(with_lead)
        assert set(marketo.rejections()) == set(people) - set(with_lead)

        marketo.sandbox.add_leads(INSTANCE, ["p3@x.io"])  # the product creates one of them
        since = max(r["id"] for r in marketo.sandbox.requests())
        again = marketo.run()
        lookups = marketo.sandbox.requests(endpoint="leads", since_id=since)

        # only the four without a lead are asked about again; the three still without one are counted as before
        assert sorted(e for r in lookups for e in r["identifiers"]) == ["p3@x.io", "p5@x.io", "p7@x.io", "p9@x.io"]
        assert (again.counts.outcome("synced"), again.counts.outcome("rejected_expected")) == (1, 3)
        assert again.counts.repeated_expected == 3  # the same cause as last run: counted, not written again
        assert set(marketo.rejections()) == {"p5@x.io", "p7@x.io", "p9@x.io"}


def test_a_look_up_that_keeps_failing_before_sending_leaves_each_batch_to_look_itself_up(tmp_path, monkeypatch):
    settings = "rate_limit_reserve = 0\nbatch_size = 4\nmax_attempts = 2"
    with marketo_workspace(tmp_path, monkeypatch, destination_settings=settings) as marketo:
        people = [f"p{i}@x.io" for i in range(10)]
        marketo.sandbox.add_leads(INSTANCE, people[:6])
        marketo.add_people([(email, "2026-11-30T10:00:00Z", f"ns-{email}", "pro") for email in people])
        marketo.sandbox.add_fault("leads", "error_code", times=2)  # the look-up of all ten fails both its attempts

        run = marketo.run()
        lookups = [(r["code"], r["items"]) for r in marketo.sandbox.requests(endpoint="leads")]

        # as before the look-up came first: each batch of 4 rows is looked up, then its people with a lead added
        assert lookups == [("713", None), ("713", None), ("Success", 4), ("Success", 4), ("Success", 2)]
        assert (run.counts.outcome("synced"), run.counts.outcome("rejected_expected")) == (6, 4)
        assert sorted(marketo.emails_of(marketo.read_back())) == people[:6]


def test_rows_marketo_refuses_are_data_rejections_and_the_rest_is_added(marketo):
    marketo.sandbox.add_leads(INSTANCE, ["ok@x.io", "twin@x.io", "twin@x.io", "long@x.io", "date@x.io"])
    marketo.add_people([("ok@x.io", "2026-11-30T10:00:00Z", "ns", "pro"),
                        ("twin@x.io", "2026-11-30T10:00:00Z", "ns", "pro"),
                        ("long@x.io", "2026-11-30T10:00:00Z", "ns", "x" * 65_536),
                        ("date@x.io", "30/11/2026 10:00", "ns", "pro")])

    run = marketo.run()

    assert run.counts.outcome("synced") == 1 and run.counts.outcome("rejected_other") == 3
    assert marketo.rejections() == {"twin@x.io": "1007", "long@x.io": "1049", "date@x.io": "1001"}
    assert marketo.emails_of(marketo.read_back()) == ["ok@x.io"]
    assert marketo.snapshot_keys() == {"ok@x.io"}


@pytest.mark.parametrize("change, code, words", [
    ("unknown", "UnknownActivityType", "no custom activity type with the API name 'noSuchType_c'"),
    ("draft", "ActivityTypeNotApproved", "'draft', not approved"),
    ("attribute", "UnknownActivityAttribute", "has no attribute colour"),
])
def test_a_wrong_activity_type_stops_the_run_as_config_before_anything_is_added(tmp_path, monkeypatch, change,
                                                                                 code, words):
    activity_type = {"unknown": "noSuchType_c", "draft": "draft_c", "attribute": ACTIVITY_TYPE}[change]
    with marketo_workspace(tmp_path, monkeypatch, activity_type=activity_type) as marketo:
        marketo.sandbox.add_activity_type(INSTANCE, "draft_c", attributes=["plan"], status="draft")
        if change == "attribute":
            text = (marketo.root / "workspace.toml").read_text()
            (marketo.root / "workspace.toml").write_text(text.replace('field = "plan"', 'field = "colour"'))
        marketo.sandbox.add_leads(INSTANCE, ["ada@x.io"])
        marketo.add_people([("ada@x.io", "2026-11-30T10:00:00Z", "ns", "pro")])

        run = marketo.run()

        assert run.status == "failed" and run.error_class == "config"
        assert code in run.error and words in run.error and "syncs.activities" in run.error
        assert run.counts.outcome("not_attempted") == 1  # kept for the next run
        assert marketo.sandbox.requests(endpoint="activities/external") == []


def test_a_wrong_client_secret_stops_the_run_as_config_naming_the_reference(marketo, monkeypatch):
    monkeypatch.setenv("MARKETO_CLIENT_SECRET", "wrong-secret")
    marketo.sandbox.add_leads(INSTANCE, ["ada@x.io"])
    marketo.add_people([("ada@x.io", "2026-11-30T10:00:00Z", "ns", "pro")])

    run = marketo.run()

    assert run.status == "failed" and run.error_class == "config"
    assert "env:MARKETO_CLIENT_SECRET" in run.error and "client id and secret" in run.error
    assert "wrong-secret" not in run.error and CLIENT_SECRET not in run.error
    assert run.counts.outcome("not_attempted") == 1


def test_a_token_expiring_mid_run_loses_nothing_and_costs_one_token_call(tmp_path, monkeypatch):
    with marketo_workspace(tmp_path, monkeypatch, destination_settings="rate_limit_reserve = 0\nbatch_size = 10\n"
                                                                       "concurrency = 1") as marketo:
        emails = [f"p{i:02d}@x.io" for i in range(50)]
        marketo.sandbox.add_leads(INSTANCE, emails)
        marketo.add_people([(e, "2026-11-30T10:00:00Z", "ns", "pro") for e in emails])
        marketo.sandbox.add_fault("activities/external", "expired_token", after=2, times=1)

        run = marketo.run()

        assert run.status == "healthy", run.error
        assert run.counts.outcome("synced") == 50
        assert marketo.emails_of(marketo.read_back()) == emails
        assert marketo.sandbox.tokens_issued(INSTANCE) == 2  # the first, and one after the 602
        refused = [r for r in marketo.sandbox.requests(endpoint="activities/external") if r["code"] == "602"]
        assert len(refused) == 1
