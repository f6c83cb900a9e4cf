"""Credential age: how long each Snowflake password has been in use, and how long it has left before the account's
password policy expires it (the seed's service user: every 90 days), so the warning comes before the failure.

When the password was last changed is taken, best first, from:
1. Snowflake's own answer (`DESC USER`: PASSWORD_LAST_SET_TIME), where the source's role may read it; `doctor`
   asks, and the answer is kept with the credential it was read for.
2. When this workspace first saw the current secret value. The value is known by a keyed fingerprint: an HMAC
   under a random key of the workspace's own, kept in the state directory with owner-only permissions (never in
   the state store, never in git). A plain hash of a password can be reversed by trying guesses; without the key
   it cannot. A new value has a new fingerprint, so a changed secret restarts the clock.

Runs record the credential they log in with (runner.py), as does `doctor`; `sync-core syncs` and the dashboard only
read. A secret never seen yet has age 0: its clock starts when a run or `doctor` first uses it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .config import SourceConfig, Workspace
from .errors import ConfigError
from .state import StateStore

KEY_FILE = "credential-fingerprint.key"
# What the state directory's own .gitignore says: nothing in it belongs in git (the key least of all).
STATE_GITIGNORE = "*\n"

OK, WARN, EXPIRED, UNKNOWN = "ok", "warn", "expired", "unknown"
FROM_SNOWFLAKE, FIRST_SEEN, NOT_SEEN = "snowflake", "first_seen", "not_seen"


@dataclass(frozen=True)
class PasswordLogin:
    """A source that logs in with a password: who, where the password is kept (never its value), its fingerprint."""
    source: str
    user: str
    credential: str  # "the secret `env:SNOWFLAKE_PASSWORD`"
    fingerprint: str | None  # None: the workspace has no fingerprint key yet (nothing was ever recorded)
    expiry_days: int
    warn_days: int


@dataclass(frozen=True)
class CredentialAge:
    source: str
    user: str | None
    credential: str | None
    expiry_days: int
    warn_days: int
    changed_at: datetime | None  # when the password was set, or first seen here; None: unknown
    basis: str  # FROM_SNOWFLAKE, FIRST_SEEN or NOT_SEEN (see the module's docstring)
    problem: str | None = None  # why the age cannot be told (the secret is not set), else None

    def age_days(self, now: datetime) -> int | None:
        return None if self.changed_at is None else max(0, (now - self.changed_at).days)

    def days_left(self, now: datetime) -> int | None:
        age = self.age_days(now)
        return None if age is None else self.expiry_days - age

    def status(self, now: datetime) -> str:
        left = self.days_left(now)
        if left is None:
            return UNKNOWN
        if left <= 0:
            return EXPIRED
        return WARN if left <= self.warn_days else OK

    def sentence(self, now: datetime) -> str:
        """What a user reads: the age, where it comes from, and what to do when it is close."""
        advice = self.advice(now)
        return f"{self.summary(now)} {advice}" if advice else self.summary(now)

    def summary(self, now: datetime) -> str:
        """The age and where it comes from."""
        if self.problem:
            return f"the password's age cannot be told: {self.problem}"
        who = f"The Snowflake password of user {self.user} (source '{self.source}')"
        age, left = self.age_days(now), self.days_left(now)
        since = {FROM_SNOWFLAKE: "as Snowflake reports it (PASSWORD_LAST_SET_TIME)",
                 FIRST_SEEN: "counted from when this workspace first saw it",
                 NOT_SEEN: "a secret this workspace has not used yet: its clock starts at the next run"}[self.basis]
        status = self.status(now)
        if status == EXPIRED:
            return (f"{who} has expired: changed {age} days ago, {-left} day(s) past its {self.expiry_days}-day "
                    f"limit ({since}).")
        if status == WARN:
            return (f"{who} expires in {left} day(s): changed {age} days ago, the limit is {self.expiry_days} "
                    f"({since}).")
        return f"{who} was changed {age} days ago: {left} days left of {self.expiry_days} ({since})."

    def advice(self, now: datetime) -> str | None:
        """What to do, for a password that has expired or is about to; None otherwise."""
        if self.status(now) not in (WARN, EXPIRED):
            return None
        when = "" if self.status(now) == EXPIRED else " before then"
        return (f"Log in as {self.user} in Snowsight, set a new password{when}, then update {self.credential} (or "
                "move the source to key-pair auth, which does not expire).")

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {"source": self.source, "user": self.user, "credential": self.credential,
                "status": self.status(now), "basis": self.basis,
                "changed_at": self.changed_at.isoformat(timespec="seconds") if self.changed_at else None,
                "age_days": self.age_days(now), "days_left": self.days_left(now),
                "expiry_days": self.expiry_days, "warn_days": self.warn_days, "message": self.sentence(now)}


# --- the fingerprint key ------------------------------------------------------------------------------------------

def fingerprint_key(state_dir: Path, *, create: bool) -> bytes | None:
    """The workspace's fingerprint key, made on first use (`create`) with owner-only permissions; None if there is
    none and `create` is false (a reader never writes)."""
    path = state_dir / KEY_FILE
    if not path.exists():
        if not create:
            return None
        state_dir.mkdir(parents=True, exist_ok=True)
        _ignore_in_git(state_dir)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
    if create and stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)  # loosened since (a copy, an archive): others must not read it
    key = path.read_bytes()
    if len(key) < 32:
        raise ConfigError(path, "", "the credential fingerprint key is damaged (shorter than 32 bytes): delete it; "
                                    "the age of each password is then counted again from its next use")
    return key


def _ignore_in_git(state_dir: Path) -> None:
    ignore = state_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text(STATE_GITIGNORE)


def fingerprint(key: bytes, *parts: str) -> str:
    """A keyed digest (HMAC-SHA256) of a credential: who logs in where, and the secret."""
    return hmac.new(key, "\0".join(parts).encode(), hashlib.sha256).hexdigest()[:32]


# --- which sources log in with a password --------------------------------------------------------------------------

def password_login(workspace: Workspace, source: SourceConfig, *, create_key: bool) -> PasswordLogin | None:
    """The source's password login, the secret resolved only to fingerprint it; None for a source that does not log
    in with a password (DuckDB; a Snowflake key pair). Raises ConfigError when the secret cannot be resolved."""
    if source.type != "snowflake":
        return None
    from .sources.snowflake_source import SnowflakeSource  # Snowpark itself is not imported by this
    options, login = SnowflakeSource(source).session_options()
    password = options.get("password")
    if not password or options.get("authenticator") == "SNOWFLAKE_JWT":
        return None
    key = fingerprint_key(workspace.state_dir, create=create_key)
    settings = source.snowflake
    return PasswordLogin(source.name, login.user, login.credential,
                         fingerprint(key, login.account, login.user, password) if key else None,
                         settings.password_expiry_days, settings.password_warn_days)


def credential_ages(workspace: Workspace, store: StateStore, now: datetime, *,
                    record: bool = False) -> list[CredentialAge]:
    """The age of every password credential of the workspace at `now` (aware). `record` (runs and `doctor`): note
    each as seen now; otherwise nothing is written, not even the fingerprint key."""
    ages = []
    for source in workspace.sources.values():
        if source.type != "snowflake":
            continue
        settings = source.snowflake
        try:
            login = password_login(workspace, source, create_key=record)
        except ConfigError as exc:
            ages.append(CredentialAge(source.name, settings.user, None, settings.password_expiry_days,
                                      settings.password_warn_days, None, NOT_SEEN, problem=str(exc)))
            continue
        if login is not None:
            ages.append(age_of(login, store, now, record=record))
    return ages


def age_of(login: PasswordLogin, store: StateStore, now: datetime, *, record: bool = False,
           changed_at: datetime | None = None) -> CredentialAge:
    """The login's age from what the store knows; `record` notes it seen at `now`, with `changed_at` as Snowflake
    reported it (if it was read)."""
    seen = None
    if login.fingerprint is not None:
        if record:
            seen = store.record_credential_seen(login.source, login.fingerprint, _iso(now),
                                                _iso(changed_at) if changed_at else None)
        else:
            seen = store.credential_seen(login.source, login.fingerprint)
    if seen is not None and seen.changed_at:
        since, basis = _parse(seen.changed_at), FROM_SNOWFLAKE
    elif seen is not None:
        since, basis = _parse(seen.first_seen), FIRST_SEEN
    else:
        since, basis = now, NOT_SEEN
    return CredentialAge(login.source, login.user, login.credential, login.expiry_days, login.warn_days, since,
                         basis)


def record_source_credential(workspace: Workspace, source: SourceConfig, store: StateStore, now: datetime) -> None:
    """A run is about to log in with the source's credential: note it seen (nothing for other logins). A secret
    that cannot be resolved is left to the source, which reports it where the run fails."""
    try:
        login = password_login(workspace, source, create_key=True)
    except ConfigError:
        return
    if login is not None:
        age_of(login, store, now, record=True)


# --- what Snowflake says -------------------------------------------------------------------------------------------

def password_last_set(session: Any, user: str) -> tuple[datetime | None, str]:
    """PASSWORD_LAST_SET_TIME of `user` from `DESC USER`, over an open Snowpark session; (None, why) when the role
    may not read it or the server does not answer it (the local emulator)."""
    quoted = '"' + user.replace('"', '""') + '"'
    try:
        rows = session.sql(f"DESC USER {quoted}").collect()
    except Exception as exc:  # noqa: BLE001 - any refusal means the same: fall back to the first-seen clock
        return None, f"DESC USER is not answered for this role ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    for row in rows:
        values = row.as_dict() if hasattr(row, "as_dict") else dict(row)
        lowered = {str(k).lower(): v for k, v in values.items()}
        if str(lowered.get("property", "")).upper() == "PASSWORD_LAST_SET_TIME":
            moment = _snowflake_time(lowered.get("value"))
            if moment is not None:
                return moment, "from DESC USER"
            return None, f"DESC USER gives PASSWORD_LAST_SET_TIME as {lowered.get('value')!r}"
    return None, "DESC USER gives no PASSWORD_LAST_SET_TIME"


def _snowflake_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value.strip() or value.strip().lower() == "null":
        return None
    text = value.strip()
    for pattern in ("%Y-%m-%d %H:%M:%S.%f %z", "%Y-%m-%d %H:%M:%S %z", "%a, %d %b %Y %H:%M:%S %z"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    try:
        return _parse(text)
    except ValueError:
        return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
