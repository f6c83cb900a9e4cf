"""Credential health: the Snowflake connector's errors, recognised by errno and by message, turned into run
failures that say what happened and what to do.

Codes are matched, and so are messages, since some conditions reach the client under the generic 250001
("Failed to connect to DB") with only the server's message to tell them apart (a locked user), and some codes
are reported by third parties only (390106, an expired password).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ModelError, SyncCoreError

EXPIRED_PASSWORD = 390106
WRONG_PASSWORD = 390100
JWT_CODES = {390144} | set(range(394300, 394307))
OAUTH_CODES = {390303, 390318}
SESSION_CODES = {390110, 390112, 390114}
NO_OBJECT = 2003  # "Object 'X' does not exist or not authorized." (also a missing privilege)
NO_WAREHOUSE = 606  # "No active warehouse selected in the current session."
NO_DATABASE = 390201  # "The requested database does not exist or not authorized."
CONNECT_FAILED = 250001
NETWORK_CODES = {250003, 251011, 251012}  # HTTP failures and timeouts reaching the account
# An HTTP 5xx the connector kept getting until its network timeout: its errno (580503, shown as 290503) varies
# by path, its words do not.
_SERVER_ERROR = re.compile(r"\bhttp 5\d\d\b")


class SnowflakeAccessError(SyncCoreError):
    """Snowflake refused the source's login or its objects: the setup needs fixing before the next run."""
    error_class = "config"

    def __init__(self, source: str, kind: str, message: str):
        self.source, self.kind = source, kind
        super().__init__(f"source '{source}': {message}")


class SnowflakeUnavailable(SnowflakeAccessError):
    """Snowflake answered, but only with server errors, for as long as the connector retried: nothing to fix
    here; the next run tries again."""
    error_class = "transient"


@dataclass(frozen=True)
class Login:
    """Who the source logs in as, for messages: never a secret, only where it is kept."""
    source: str
    account: str
    user: str
    role: str | None
    warehouse: str | None
    database: str | None
    credential: str  # "the secret `env:SNOWFLAKE_PASSWORD`", "the key file /k.p8", "connection 'prod' in ..."


def errno_of(exc: BaseException) -> int | None:
    """The connector's errno; Snowpark's SnowparkSQLException carries it as sql_error_code."""
    for name in ("errno", "sql_error_code"):
        value = getattr(exc, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def is_snowflake_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith("snowflake.connector") or module.startswith("snowflake.snowpark")


def explain(exc: BaseException, login: Login, model: tuple[str, str] | None = None) -> SyncCoreError:
    """What a connector or Snowpark error means for this source. `model` is (model name, source name) when the
    error came from a model's query: an error no other rule names is then the model's."""
    errno, text = errno_of(exc), _server_message(exc)
    lowered = text.lower()
    user, who = login.user, f"user {login.user}"

    def fail(kind: str, message: str) -> SnowflakeAccessError:
        return SnowflakeAccessError(login.source, kind, message)

    if errno == EXPIRED_PASSWORD or "password has expired" in lowered:
        return fail("password_expired",
                    f"The Snowflake password of user {user} has expired (Snowflake changes it every 90 days). Log in "
                    f"as {user} in Snowsight, set a new password, then update {login.credential}.")
    if "locked" in lowered and "user" in lowered:
        return fail("user_locked",
                    f"Snowflake has locked {who} (too many failed logins, or an administrator locked it). Wait for "
                    f"the lock to pass (15 minutes after failed logins) or ask an administrator to run ALTER USER "
                    f"{user} SET MINS_TO_UNLOCK = 0; check {login.credential} first, or the next run locks it again.")
    if errno == WRONG_PASSWORD or "incorrect username or password" in lowered:
        return fail("wrong_password",
                    f"Snowflake refused the user name or password of {who} on account {login.account}. Check the "
                    f"user name, then {login.credential} (five wrong attempts lock the user for 15 minutes).")
    if errno in JWT_CODES or "jwt" in lowered:
        return fail("key_refused",
                    f"Snowflake refused the key-pair login of {who}: the private key ({login.credential}) does not "
                    f"match the public key set on the user, or is not valid. Compare `DESC USER {user}` "
                    "(RSA_PUBLIC_KEY_FP) with the key's fingerprint, set the right public key with ALTER USER ... SET "
                    "RSA_PUBLIC_KEY, or update the key.")
    if errno in OAUTH_CODES or "oauth" in lowered:
        return fail("oauth_expired",
                    f"Snowflake refused the OAuth token of {who}: it has expired or is not valid. Get a new token, "
                    f"then update {login.credential}.")
    if errno in SESSION_CODES:
        return fail("session_expired", f"Snowflake ended the session of {who} ({text}). Run again; if it keeps "
                                       f"happening, check {login.credential}.")
    if errno == NO_WAREHOUSE or ("warehouse" in lowered and ("does not exist" in lowered or "no active" in lowered)):
        return fail("no_warehouse",
                    f"No usable warehouse for {who}: {_named(login.warehouse, 'warehouse')} does not exist, is "
                    f"suspended for good, or role {login.role or '(the default)'} may not use it. Set `warehouse` "
                    f"of the source, or GRANT USAGE ON WAREHOUSE <name> TO ROLE {login.role or '<role>'}.")
    if errno == NO_DATABASE or ("database" in lowered and "does not exist" in lowered):
        database = _named(login.database, "database")
        return fail("no_database",
                    f"{database[0].upper()}{database[1:]} does not exist, or role "
                    f"{login.role or '(the default)'} of {who} may not use it ({text}). Check `database` of the "
                    f"source, or GRANT USAGE ON DATABASE <name> TO ROLE {login.role or '<role>'}.")
    if errno == NO_OBJECT or "does not exist or not authorized" in lowered or "insufficient privileges" in lowered:
        where = f"model '{model[0]}' reads an object that" if model else "an object"
        return fail("no_object",
                    f"{where} does not exist, or role {login.role or '(the default)'} of {who} may not read it: "
                    f"{text}. Check the name (and the source's `database` and `schema`), or GRANT SELECT (and USAGE "
                    f"on its database and schema) TO ROLE {login.role or '<role>'}.")
    if errno in NETWORK_CODES or errno == CONNECT_FAILED or _unreachable(lowered):
        return fail("unreachable",
                    f"Cannot reach Snowflake account {login.account} ({text}). Check the account identifier "
                    "(orgname-accountname), the network, proxy or private link, then run again.")
    if _SERVER_ERROR.search(lowered):
        return SnowflakeUnavailable(login.source, "unavailable",
                                    f"Snowflake account {login.account} kept answering with a server error ({text}) "
                                    "for the source's network_timeout_seconds: Snowflake may be down or in "
                                    "maintenance (see status.snowflake.com). The next run tries again.")
    if model is not None:
        return ModelError(model[0], model[1], f"query failed in Snowflake: {text}")
    return fail("refused", f"Snowflake refused the login of {who}: {text}. Check the source's settings and "
                           f"{login.credential}.")


_UNREACHABLE = re.compile(r"could not connect|connection refused|name or service not known|timed out|"
                          r"failed to resolve|max retries exceeded|nodename nor servname")


def _unreachable(lowered: str) -> bool:
    return _UNREACHABLE.search(lowered) is not None


def _named(value: str | None, what: str) -> str:
    return f"{what} {value}" if value else f"the default {what}"


def _server_message(exc: BaseException) -> str:
    """The server's words, without the connector's prefixes ("390106 (08004): Failed to connect to DB: h:p.")."""
    text = getattr(exc, "msg", None) or getattr(exc, "message", None) or str(exc)
    text = re.sub(r"^\(\d+\):\s*", "", str(text).strip())
    text = re.sub(r"^\d{6} \(\w+\):\s*", "", text)
    text = re.sub(r"^Failed to connect to DB: \S+?:\d+\.\s*", "", text)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
