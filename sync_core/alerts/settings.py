"""The `[alerts]` table of workspace.toml: where alerts go and what they link to.

    [alerts]
    dashboard_url = "http://localhost:8501"     # optional: messages link to the run's page
    [alerts.webhook]                             # Slack incoming-webhook compatible: {"text": ...}
    url = "env:SLACK_WEBHOOK_URL"                # a secret reference: a Slack webhook's URL is its credential
    timeout_seconds = 10
    [alerts.email]
    smtp_host = "smtp.example.com"
    smtp_port = 587
    starttls = true
    username = "alerts@example.com"              # optional, with password
    password = "env:SMTP_PASSWORD"               # a secret reference
    from = "sync-core <alerts@example.com>"
    to = ["ops@example.com"]

config.py calls `parse_alerts` with its own section objects (config._Section: data, file, key(), get(), table(),
only(), error()). This module does not import config.py, which imports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from ..errors import ConfigError
from ..secrets import SecretRef, parse_secret_ref

WEBHOOK, EMAIL = "webhook", "email"  # channel names, as deliveries record them
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class WebhookChannel:
    url: SecretRef
    timeout_seconds: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class EmailChannel:
    smtp_host: str
    smtp_port: int
    starttls: bool
    sender: str  # the `from` key
    recipients: tuple[str, ...]  # the `to` key
    username: str | None = None
    password: SecretRef | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class AlertSettings:
    dashboard_url: str | None = None
    webhook: WebhookChannel | None = None
    email: EmailChannel | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        """The configured channels' names: each alert gets one delivery per channel."""
        return tuple(name for name, channel in ((WEBHOOK, self.webhook), (EMAIL, self.email)) if channel)


def parse_alerts(top: Any) -> AlertSettings | None:
    """The workspace's alert settings; None when it has no `[alerts]` table (alerts are then recorded, not sent)."""
    if "alerts" not in top.data:
        return None
    alerts = top.table("alerts")
    alerts.only("dashboard_url", WEBHOOK, EMAIL)
    url = alerts.get("dashboard_url", str, None)
    if url is not None and not url.startswith(("http://", "https://")):
        raise alerts.error("dashboard_url", f"must start with http:// or https://, not {url!r}")
    return AlertSettings(dashboard_url=url.rstrip("/") if url else None,
                         webhook=_webhook(alerts.table(WEBHOOK)) if WEBHOOK in alerts.data else None,
                         email=_email(alerts.table(EMAIL)) if EMAIL in alerts.data else None)


def _webhook(w: Any) -> WebhookChannel:
    w.only("url", "timeout_seconds")
    w.get("url", str)  # "is required" / "must be str" before the reference's own checks
    return WebhookChannel(url=parse_secret_ref(w.data["url"], w.file, w.key("url")),
                          timeout_seconds=_timeout(w))


def _email(e: Any) -> EmailChannel:
    e.only("smtp_host", "smtp_port", "starttls", "username", "password", "from", "to", "timeout_seconds")
    host = e.get("smtp_host", str).strip()
    if not host:
        raise e.error("smtp_host", "must name the SMTP server")
    port = e.get("smtp_port", int, 587)
    if not 1 <= port <= 65535:
        raise e.error("smtp_port", f"must be a port number (1-65535), not {port}")
    username = e.get("username", str, None)
    password = parse_secret_ref(e.data["password"], e.file, e.key("password")) if "password" in e.data else None
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        raise e.error(missing, "is required with `username` and `password` (SMTP login needs both; leave both "
                               "out for a server that takes mail without one)")
    sender = e.get("from", str)
    _address(e, "from", sender)
    to = e.get("to", (list, str))
    recipients = (to,) if isinstance(to, str) else tuple(to)
    if not recipients:
        raise e.error("to", "must list at least one address")
    for i, address in enumerate(recipients):
        _address(e, "to" if isinstance(to, str) else f"to[{i}]", address)
    return EmailChannel(smtp_host=host, smtp_port=port, starttls=e.get("starttls", bool, True), sender=sender,
                        recipients=recipients, username=username, password=password, timeout_seconds=_timeout(e))


def _address(section: Any, name: str, value: object) -> None:
    """An address, bare or with a display name (`sync-core <alerts@example.com>`)."""
    if not isinstance(value, str) or "@" not in parseaddr(value)[1]:
        raise ConfigError(section.file, section.key(name),
                          f"must be an email address such as \"ops@example.com\", not {value!r}")


def _timeout(section: Any) -> float:
    seconds = float(section.get("timeout_seconds", (int, float), DEFAULT_TIMEOUT))
    if not 0 < seconds < math.inf:
        raise section.error("timeout_seconds", f"must be a number of seconds above 0, not {seconds!r}")
    return seconds
