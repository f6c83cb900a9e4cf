"""The seed's two Iterable user syncs, end to end over the demo warehouse and a real sandbox on loopback.

Every expectation is computed independently: by SQL over the warehouse and from the sandbox's own state."""

from __future__ import annotations

import math
import re
from datetime import datetime

from sync_core import StateStore, invariant_violations
from sync_core.demo.workspace import advance_demo

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
CONTACTS_MODEL = """
    SELECT c.email, c.user_id, c.first_name, c.last_name, c.company, c.job_title, c.country,
           c.lifecycle_stage, c.lead_score, c.annual_revenue, c.email_opt_in, c.created_at,
           c.lifecycle_stage = 'customer' AS is_customer, COUNT(DISTINCT m.namespace_id) AS namespace_count
    FROM marketing_contacts c LEFT JOIN namespace_members m ON m.user_id = c.user_id
    WHERE c.deleted_at IS NULL GROUP BY ALL"""
FIELDS = {"firstName": "first_name", "lastName": "last_name", "company": "company", "jobTitle": "job_title",
          "country": "country", "lifecycleStage": "lifecycle_stage", "leadScore": "lead_score",
          "annualRevenue": "annual_revenue", "emailOptIn": "email_opt_in", "isCustomer": "is_customer",
          "namespaceCount": "namespace_count", "signupDate": "created_at"}


def contact_sets(demo):
    """Keys of the contacts model by what must happen to them, from the warehouse alone."""
    rows = demo.warehouse(f"SELECT email, COUNT(*) OVER (PARTITION BY email) FROM ({CONTACTS_MODEL})")
    null_keys = sum(1 for email, _ in rows if email is None or not email.strip())
    duplicated = {e for e, n in rows if e and n > 1}
    unique = {e for e, n in rows if e and e.strip() and n == 1}
    bad_format = {e for e in unique if not re.match(EMAIL, e)}
    return null_keys, duplicated, unique - bad_format, bad_format


def expected_fields(demo, emails: set[str]) -> dict[str, dict]:
    """The dataFields Iterable must hold for these contacts, formatted as the mapping says (independently)."""
    cols = ", ".join(FIELDS.values())
    out = {}
    for row in demo.warehouse(f"SELECT email, {cols} FROM ({CONTACTS_MODEL})"):
        if row[0] not in emails:
            continue
        fields = {}
        for name, value in zip(FIELDS, row[1:]):
            if isinstance(value, datetime):
                value = value.strftime("%Y-%m-%d %H:%M:%S +00:00")
            elif value is not None and not isinstance(value, (bool, int, str)):
                value = float(value)
            if value is None and name != "annualRevenue":  # annualRevenue clears, the rest omit nulls
                continue
            fields[name] = value
        out[row[0]] = fields
    return out


def assert_fields_equal(actual: dict, expected: dict, who: str) -> None:
    for name, value in expected.items():
        assert name in actual, f"{who}: {name} missing"
        if isinstance(value, float):
            assert math.isclose(actual[name], value), (who, name, actual[name], value)
        else:
            assert actual[name] == value, (who, name, actual[name], value)


def test_production_sync_end_to_end(demo):
    before = {u["email"] for u in demo.users()}
    null_keys, duplicated, valid, bad_format = contact_sets(demo)

    record = demo.run("iterable-production")

    counts = record.counts.as_dict()
    assert invariant_violations(counts) == []
    assert record.status == "warning"  # the warehouse holds invalid emails and keys: real, if small, problems
    assert counts["queried"] == demo.warehouse(f"SELECT COUNT(*) FROM ({CONTACTS_MODEL})")[0][0]
    with StateStore(demo.workspace.state_path) as store:
        synced = store.snapshot_keys("iterable-production")
        rejections = store.rejections(sync_id="iterable-production")
        causes = store.run_causes(record.id)
    by_code: dict[str, set] = {}
    for r in rejections:
        by_code.setdefault(r.code, set()).add(r.key)
        assert r.message, r
    assert synced == {e for e in valid if e in before}
    assert by_code["NotFound"] == {e for e in valid if e not in before}
    assert by_code["InvalidEmailAddressError"] == bad_format
    assert by_code["DuplicatePrimaryKey"] == duplicated
    assert counts["invalid"] == null_keys + len(duplicated_rows(demo))
    assert counts["synced"] == len(synced) and counts["rejected_expected"] == len(by_code["NotFound"])

    # Every not-found row is one cause, classed expected, with the message the seed's users know.
    not_found = [c for c in causes if c.code == "NotFound"]
    assert len(not_found) == 1
    assert not_found[0].error_class == "expected" and not_found[0].rows == len(by_code["NotFound"])
    assert not_found[0].template == "No record was found with lookup for email:<email>"

    # The sandbox holds exactly the warehouse's values for every synced row, and created nobody.
    users = {u["email"]: u for u in demo.users()}
    assert set(users) == before
    for email, fields in expected_fields(demo, synced).items():
        assert_fields_equal(users[email]["dataFields"], fields, email)


def duplicated_rows(demo) -> list:
    return demo.warehouse(f"SELECT email FROM ({CONTACTS_MODEL}) WHERE email IN "
                          f"(SELECT email FROM ({CONTACTS_MODEL}) GROUP BY email HAVING COUNT(*) > 1)")


def test_first_namespace_sync_matches_by_user_id(demo):
    known_ids = {u["userId"] for u in demo.users()}
    model = demo.warehouse("""
        SELECT c.email, c.user_id, n.namespace_id, n.plan FROM marketing_contacts c
        JOIN namespaces n ON n.created_by_user_id = c.user_id WHERE c.deleted_at IS NULL
        QUALIFY ROW_NUMBER() OVER (PARTITION BY c.user_id ORDER BY n.created_at, n.namespace_id) = 1""")
    email_counts: dict = {}
    for email, *_ in model:
        email_counts[email] = email_counts.get(email, 0) + 1
    valid = [r for r in model if r[0] and email_counts[r[0]] == 1]

    record = demo.run("iterable-first-namespace")

    assert invariant_violations(record.counts.as_dict()) == []
    with StateStore(demo.workspace.state_path) as store:
        synced = store.snapshot_keys("iterable-first-namespace")
        causes = store.run_causes(record.id)
    assert synced == {email for email, uid, *_ in valid if uid in known_ids}
    [not_found] = [c for c in causes if c.code == "NotFound"]
    assert not_found.template == "No record was found with lookup for userId:<userId>"
    assert not_found.rows == sum(1 for _, uid, *_ in valid if uid not in known_ids)
    users = {u["userId"]: u for u in demo.users()}
    for email, uid, namespace_id, plan in valid:
        if uid in known_ids:
            fields = users[uid]["dataFields"]
            assert (fields["firstNamespaceId"], fields["firstNamespacePlan"]) == (namespace_id, plan)


def test_rerun_without_change_writes_nothing_and_retries_not_found(demo):
    first = demo.run("iterable-production")
    mark = demo.sandbox.last_request_id()

    second = demo.run("iterable-production")

    c = second.counts.as_dict()
    assert invariant_violations(c) == []
    assert (c["added"], c["changed"], c["removed"]) == (0, 0, 0)
    assert demo.writes_since(mark) == []  # the sandbox's request log: no write at all
    first_c = first.counts.as_dict()
    assert c["retried"] == first_c["rejected_expected"] + first_c["rejected_other"]
    assert c["rejected_expected"] == first_c["rejected_expected"]
    assert c["unchanged"] == first_c["synced"]
    with StateStore(demo.workspace.state_path) as store:
        not_found = [r for r in store.rejections(sync_id="iterable-production") if r.code == "NotFound"]
    assert not_found and all(r.times_seen == 2 for r in not_found)


def test_after_a_day_only_new_and_changed_rows_are_written(demo):
    demo.run("iterable-production")
    with StateStore(demo.workspace.state_path) as store:
        not_found_before = {r.key for r in store.rejections(sync_id="iterable-production") if r.code == "NotFound"}
    fields_before = {u["email"]: dict(u["dataFields"]) for u in demo.users()}

    day = advance_demo(demo.workspace)
    created = {u["email"] for u in day.product_created_users}
    mark = demo.sandbox.last_request_id()
    record = demo.run("iterable-production")

    assert invariant_violations(record.counts.as_dict()) == []
    written = {i.lower() for r in demo.writes_since(mark) for i in r["identifiers"]}
    assert written and len(written) == record.counts.as_dict()["synced"] - record.counts.as_dict()["removed"]
    _, _, valid, _ = contact_sets(demo)
    expected = expected_fields(demo, written)
    for email in written:
        # Each write was needed: the user is new to us (created by the product today), or its values changed.
        assert email in created or fields_before.get(email) != {**fields_before.get(email, {}), **expected[email]}, email
    # A person the product created since the last run, rejected as not found then, is synced now.
    newly_known = (created & not_found_before) & valid
    assert newly_known
    with StateStore(demo.workspace.state_path) as store:
        synced = store.snapshot_keys("iterable-production")
    assert newly_known <= synced
    users = {u["email"]: u for u in demo.users()}
    for email in newly_known:
        assert_fields_equal(users[email]["dataFields"], expected[email], email)
    # Removed contacts left the snapshot; nothing was deleted in Iterable.
    removed = {e for (e,) in demo.warehouse("SELECT email FROM marketing_contacts WHERE deleted_at IS NOT NULL")}
    assert not (removed & synced)
    assert set(fields_before) <= set(users)
