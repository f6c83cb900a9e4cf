"""What a Marketo sandbox knows: instances (a Munchkin id with its client id and secret), their access tokens,
leads, custom activity types and activities, and the calls each instance made per Marketo day, in the sandbox's
state file beside the request log and faults every sandbox has.

Leads and activity types are made by the product, not by a sync: tests and the demo write them here directly.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass

from ...marketo_day import marketo_day
from ..core import SandboxStore
from .faults import FAULTS
from .schema import MARKETO_SCHEMA

TOKEN_LIFETIME = 3600  # seconds, as Marketo's identity service gives them
DAILY_QUOTA = 50_000
_LOOKUP_CHUNK = 500  # stays well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class ActivityType:
    id: int
    api_name: str
    name: str
    status: str  # "approved" can take activities; "draft" cannot
    primary_attribute: str  # its apiName
    attributes: tuple[dict, ...]  # {"apiName", "name", "dataType"}

    @property
    def attribute_names(self) -> set[str]:
        return {attribute["apiName"] for attribute in self.attributes}

    def as_json(self) -> dict:
        """As types.json lists it."""
        return {
            "id": self.id, "apiName": self.api_name, "name": self.name, "status": self.status,
            "primaryAttribute": {"apiName": self.primary_attribute, "name": self.primary_attribute,
                                 "dataType": "string"},
            "attributes": list(self.attributes),
        }


class MarketoState(SandboxStore):
    SCHEMAS = SandboxStore.CORE_SCHEMAS + (MARKETO_SCHEMA,)
    FAULTS = FAULTS
    WRITE_ENDPOINT = "activities/external"

    # --- instances and credentials --------------------------------------------------

    def add_project(self, name: str, api_key: str, *, rate_limits: bool = True) -> None:
        """The sandbox command's --project/--api-key: the instance `name` (a Munchkin id) and its credentials
        given as CLIENT_ID:CLIENT_SECRET."""
        client_id, colon, client_secret = api_key.partition(":")
        if not (client_id and colon and client_secret):
            raise ValueError("a Marketo sandbox's api key is CLIENT_ID:CLIENT_SECRET")
        self.add_instance(name, client_id, client_secret, rate_limits=rate_limits)

    def add_instance(self, name: str, client_id: str, client_secret: str, *, rate_limits: bool = True,
                     daily_quota: int = DAILY_QUOTA) -> None:
        """Create the instance, or give an existing one these credentials."""
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO marketo_instances (name, client_id, client_secret, rate_limits, daily_quota)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET client_id = excluded.client_id,"
                    " client_secret = excluded.client_secret",
                    (name, client_id, client_secret, int(rate_limits), daily_quota),
                )
        except sqlite3.IntegrityError as error:
            raise ValueError(f"client id already belongs to another instance: {error}") from None

    def instance_for_credentials(self, client_id: str, client_secret: str) -> str | None:
        rows = self._read("SELECT name, client_secret FROM marketo_instances WHERE client_id = ?", (client_id,))
        if rows and secrets.compare_digest(rows[0]["client_secret"], client_secret):
            return rows[0]["name"]
        return None

    def rate_limits_enabled(self, instance: str) -> bool:
        rows = self._read("SELECT rate_limits FROM marketo_instances WHERE name = ?", (instance,))
        return bool(rows and rows[0]["rate_limits"])

    def set_daily_quota(self, instance: str, calls: int) -> None:
        with self._write() as db:
            if db.execute("UPDATE marketo_instances SET daily_quota = ? WHERE name = ?",
                          (calls, instance)).rowcount == 0:
                raise ValueError(f"unknown instance {instance!r}")

    # --- access tokens --------------------------------------------------------------

    def issue_token(self, instance: str, now: float) -> tuple[str, int]:
        """The instance's live token with its remaining seconds, or a new one: asking again before expiry gives
        the same token, as Marketo's identity service does."""
        with self._write() as db:
            live = db.execute(
                "SELECT token, expires_at FROM marketo_tokens WHERE instance = ? AND expires_at > ?"
                " ORDER BY expires_at DESC LIMIT 1", (instance, now),
            ).fetchone()
            if live is None:
                live = {"token": f"{secrets.token_hex(16)}:ab", "expires_at": now + TOKEN_LIFETIME}
                db.execute("INSERT INTO marketo_tokens (token, instance, expires_at) VALUES (?, ?, ?)",
                           (live["token"], instance, live["expires_at"]))
        return live["token"], max(0, int(live["expires_at"] - now) - 1)  # Marketo answers 3599 when fresh

    def token_holder(self, token: str) -> tuple[str, float] | None:
        """(instance, expires_at) of a token ever issued, expired or not."""
        rows = self._read("SELECT instance, expires_at FROM marketo_tokens WHERE token = ?", (token,))
        return (rows[0]["instance"], rows[0]["expires_at"]) if rows else None

    def expire_tokens(self, instance: str, now: float) -> None:
        with self._write() as db:
            db.execute("UPDATE marketo_tokens SET expires_at = ? WHERE instance = ? AND expires_at > ?",
                       (now, instance, now))

    def tokens_issued(self, instance: str) -> int:
        return self._read("SELECT count(*) FROM marketo_tokens WHERE instance = ?", (instance,))[0][0]

    # --- the daily quota ------------------------------------------------------------

    def take_daily_call(self, instance: str, now: float) -> bool:
        """Count one call against the instance's quota of this Marketo day; False (and not counted) if none
        is left."""
        day = marketo_day(now)
        with self._write() as db:
            quota = db.execute("SELECT daily_quota FROM marketo_instances WHERE name = ?",
                               (instance,)).fetchone()[0]
            used = db.execute("SELECT calls FROM marketo_daily_calls WHERE instance = ? AND day = ?",
                              (instance, day)).fetchone()
            if used is not None and used[0] >= quota:
                return False
            db.execute("INSERT INTO marketo_daily_calls (instance, day, calls) VALUES (?, ?, 1)"
                       " ON CONFLICT (instance, day) DO UPDATE SET calls = calls + 1", (instance, day))
        return True

    def daily_calls(self, instance: str, now: float) -> int:
        rows = self._read("SELECT calls FROM marketo_daily_calls WHERE instance = ? AND day = ?",
                          (instance, marketo_day(now)))
        return rows[0][0] if rows else 0

    def use_up_quota(self, instance: str, now: float) -> None:
        """Count the rest of this Marketo day's quota as used (other integrations of the instance took it)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO marketo_daily_calls (instance, day, calls)"
                " SELECT name, ?, daily_quota FROM marketo_instances WHERE name = ?"
                " ON CONFLICT (instance, day) DO UPDATE SET calls = excluded.calls",
                (marketo_day(now), instance),
            )

    # --- leads ----------------------------------------------------------------------

    def add_leads(self, instance: str, emails: list[str]) -> list[int]:
        """Create leads as the product would (one per email given, even for an email some lead has); their ids."""
        with self._write() as db:
            return [
                db.execute("INSERT INTO marketo_leads (instance, email) VALUES (?, ?)", (instance, email)).lastrowid
                for email in emails
            ]

    def leads_by_email(self, instance: str, emails: list[str]) -> list[dict]:
        """Every lead whose email is one of `emails` (any case), in id order."""
        found = []
        for start in range(0, len(emails), _LOOKUP_CHUNK):
            chunk = emails[start:start + _LOOKUP_CHUNK]
            found += self._read(
                f"SELECT id, email FROM marketo_leads WHERE instance = ? AND email COLLATE NOCASE IN"
                f" ({','.join('?' * len(chunk))})", (instance, *chunk),
            )
        return sorted(({"id": row["id"], "email": row["email"]} for row in found), key=lambda lead: lead["id"])

    def lead_emails(self, instance: str) -> dict[int, str]:
        """Every lead of the instance: id -> email."""
        return dict(self._read("SELECT id, email FROM marketo_leads WHERE instance = ?", (instance,)))

    def existing_lead_ids(self, instance: str, lead_ids: set[int]) -> set[int]:
        ids = sorted(lead_ids)
        existing: set[int] = set()
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start:start + _LOOKUP_CHUNK]
            existing.update(row[0] for row in self._read(
                f"SELECT id FROM marketo_leads WHERE instance = ? AND id IN ({','.join('?' * len(chunk))})",
                (instance, *chunk)))
        return existing

    # --- activity types and activities ----------------------------------------------

    def add_activity_type(self, instance: str, api_name: str, *, name: str | None = None,
                          primary_attribute: str = "name", attributes: list[str] = (),
                          status: str = "approved") -> int:
        """Create a custom activity type (attributes of dataType string) as a Marketo admin would; its id."""
        described = [{"apiName": attribute, "name": attribute, "dataType": "string"} for attribute in attributes]
        with self._write() as db:
            next_id = db.execute("SELECT coalesce(max(id), 100000) + 1 FROM marketo_activity_types").fetchone()[0]
            db.execute(
                "INSERT INTO marketo_activity_types (id, instance, api_name, name, status, primary_attribute,"
                " attributes) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (next_id, instance, api_name, name or api_name, status, primary_attribute, json.dumps(described)),
            )
        return next_id

    def activity_types(self, instance: str) -> list[ActivityType]:
        rows = self._read("SELECT * FROM marketo_activity_types WHERE instance = ? ORDER BY id", (instance,))
        return [
            ActivityType(row["id"], row["api_name"], row["name"], row["status"], row["primary_attribute"],
                         tuple(json.loads(row["attributes"])))
            for row in rows
        ]

    def add_activities(self, instance: str, activities: list[dict], *, now: float,
                       request_id: int | None = None) -> list[int]:
        """Store valid activities ({"leadId", "activityTypeId", "activityDate", "primaryAttributeValue",
        "attributes"}) in one transaction; their ids, which are also their marketoGUIDs."""
        with self._write() as db:
            return [
                db.execute(
                    "INSERT INTO marketo_activities (instance, lead_id, activity_type_id, activity_date,"
                    " primary_attribute_value, attributes, created_at, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (instance, activity["leadId"], activity["activityTypeId"], activity["activityDate"],
                     activity["primaryAttributeValue"], json.dumps(activity.get("attributes") or []), now,
                     request_id),
                ).lastrowid
                for activity in activities
            ]

    def last_activity_before(self, instance: str, since: float) -> int:
        """The id after which activities created at or after `since` start (a paging token's position)."""
        rows = self._read("SELECT coalesce(max(id), 0) FROM marketo_activities WHERE instance = ? AND created_at < ?",
                          (instance, since))
        return rows[0][0]

    def scan_activities(self, instance: str, after_id: int, scan: int) -> tuple[list[dict], bool]:
        """The next `scan` activities of every type after `after_id`, and whether more follow."""
        rows = self._read("SELECT * FROM marketo_activities WHERE instance = ? AND id > ? ORDER BY id LIMIT ?",
                          (instance, after_id, scan + 1))
        return [_activity_from_row(row) for row in rows[:scan]], len(rows) > scan

    def activities(self, instance: str) -> list[dict]:
        """Every activity of the instance, oldest first (for tests and the demo's checks)."""
        rows = self._read("SELECT * FROM marketo_activities WHERE instance = ? ORDER BY id", (instance,))
        return [_activity_from_row(row) for row in rows]


def _activity_from_row(row: sqlite3.Row) -> dict:
    return {
        "id": row["id"],
        "marketoGUID": str(row["id"]),
        "leadId": row["lead_id"],
        "activityTypeId": row["activity_type_id"],
        "activityDate": row["activity_date"],
        "primaryAttributeValue": row["primary_attribute_value"],
        "attributes": json.loads(row["attributes"]),
        "createdAt": row["created_at"],
    }
