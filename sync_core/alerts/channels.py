"""Sending one alert through one channel: a Slack-compatible webhook (requests) or email (smtplib).

A channel that does not take the alert raises DeliveryFailed, whose message is safe to store and show: it names
the secret's reference, never the webhook's URL (a Slack webhook's path is its credential, and requests' own
errors quote it), and quotes a server's answer with the URL taken out."""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import requests

from ..secrets import REDACTED, redact
from ..state.alert_log import AlertRecord
from .messages import slack_text
from .settings import EmailChannel, WebhookChannel

SUBJECT_PREFIX = "[sync-core] "
ANSWER_CHARS = 200  # of a refusing server's answer, quoted in the error (Slack says why: "invalid_token")


class DeliveryFailed(Exception):
    """A channel did not take an alert; the message holds no secret."""


def post_webhook(channel: WebhookChannel, root: Path, alert: AlertRecord) -> None:
    url = channel.url.resolve(root)
    where = f"the webhook ({channel.url.describe()})"
    try:
        # No redirects: a webhook that answers 3xx did not take the alert.
        answer = requests.post(url, json={"text": slack_text(alert.subject, alert.message)},
                               timeout=channel.timeout_seconds, allow_redirects=False)
    except requests.Timeout:
        raise DeliveryFailed(f"{where} did not answer within {channel.timeout_seconds:g} s") from None
    except requests.ConnectionError as exc:
        raise DeliveryFailed(f"could not connect to {where}: {_os_reason(exc)}") from None
    except requests.RequestException as exc:
        raise DeliveryFailed(f"{where} could not be called: {type(exc).__name__}") from None
    if answer.status_code >= 300:
        said = _without_url(" ".join(answer.text.split())[:ANSWER_CHARS], url)
        raise DeliveryFailed(f"{where} answered HTTP {answer.status_code}{': ' + said if said else ''}")


def send_email(channel: EmailChannel, root: Path, alert: AlertRecord) -> None:
    message = EmailMessage()
    message["Subject"] = SUBJECT_PREFIX + alert.subject
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.recipients)
    message.set_content(alert.message)
    password = channel.password.resolve(root) if channel.password else None
    where = f"the SMTP server {channel.smtp_host}:{channel.smtp_port}"
    try:
        with smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=channel.timeout_seconds) as smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if channel.username:
                smtp.login(channel.username, password)
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        said = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise DeliveryFailed(redact(f"{where} answered {exc.smtp_code}: {said}")) from None
    except smtplib.SMTPException as exc:  # refused recipients, a server that hung up, no STARTTLS
        raise DeliveryFailed(redact(f"{where}: {type(exc).__name__}: {exc}")) from None
    except TimeoutError:
        raise DeliveryFailed(f"{where} did not answer within {channel.timeout_seconds:g} s") from None
    except OSError as exc:  # refused, unreachable, a TLS failure
        raise DeliveryFailed(redact(f"could not reach {where}: {exc.strerror or exc}")) from None


def _os_reason(exc: Exception) -> str:
    """The operating system's reason inside requests' error ("Connection refused"), without the URL it quotes."""
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    return found[1].strip() if found else type(exc).__name__


def _without_url(text: str, url: str) -> str:
    """A server's answer with the URL, and its path and query (the secret part), taken out."""
    parts = urlsplit(url)
    for secret in (url, parts.path + (f"?{parts.query}" if parts.query else ""), parts.path, parts.query):
        if len(secret) > 1:
            text = text.replace(secret, REDACTED)
    return redact(text)
