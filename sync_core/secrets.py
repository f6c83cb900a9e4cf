"""Secrets by reference.

workspace.toml never holds a secret: it holds a reference, resolved only when a run needs it.
  "env:ITERABLE_API_KEY"        an environment variable
  "secrets:iterable.api_key"    a key in the workspace's .streamlit/secrets.toml (Streamlit's format)

Every value resolved in this process is remembered, so `redact` can take it out of a text that could reach a
log or the state store (an unexpected exception's message may quote a request header). Every log record made
in a process that imports this module is redacted the same way, its traceback included.
"""

from __future__ import annotations

import logging
import os
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

SECRETS_FILE = Path(".streamlit") / "secrets.toml"
REDACTED = "<redacted>"

_resolved: set[str] = set()
_resolved_lock = threading.Lock()


def redact(text: str) -> str:
    """`text` with every secret value resolved in this process replaced by REDACTED."""
    with _resolved_lock:
        values = sorted(_resolved, key=len, reverse=True)  # a longer secret first, should one contain another
    for value in values:
        text = text.replace(value, REDACTED)
    return text


def _redacting_factory(make_record):
    def make(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if not _resolved:
            return record
        try:
            record.msg, record.args = redact(record.getMessage()), ()
        except (TypeError, ValueError):  # arguments that do not fit the message: logging reports it on emit
            pass
        if record.exc_info and not record.exc_text:  # formatted here, so a handler never formats the raw one
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record
    make.redacts = True
    return make


def _redact_log_records() -> None:
    """A log record factory, not a handler's filter: records reach handlers this project does not install
    (Streamlit's, Python's last resort), and a logger's filter misses what its children log."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacts", False):
        logging.setLogRecordFactory(_redacting_factory(current))


_redact_log_records()


def remember(value: str) -> None:
    """Have `redact` take `value` out of texts: for secrets read from elsewhere than a reference (a password in
    the Snowflake connector's connections.toml)."""
    if len(value) >= 4:  # shorter would redact ordinary words; no real secret is that short
        with _resolved_lock:
            _resolved.add(value)


@dataclass(frozen=True)
class SecretRef:
    scheme: str  # "env" or "secrets"
    name: str
    # Where the reference was written, so an unresolvable one is reported at its key.
    config_file: str
    config_key: str

    def describe(self) -> str:
        return f"{self.scheme}:{self.name}"

    def resolve(self, workspace_root: Path) -> str:
        """The value, without line breaks at its ends (a secret mounted from a file often ends with one)."""
        value = self._read(workspace_root).strip("\r\n")
        if not value:
            raise ConfigError(self.config_file, self.config_key, f"{self.describe()} is empty")
        remember(value)
        return value

    def _read(self, workspace_root: Path) -> str:
        if self.scheme == "env":
            value = os.environ.get(self.name)
            if not value:
                raise ConfigError(self.config_file, self.config_key,
                                  f"environment variable {self.name} is not set (export it, then run again)")
            return value
        path = workspace_root / SECRETS_FILE
        if not path.exists():
            raise ConfigError(self.config_file, self.config_key,
                              f"refers to '{self.name}' in {path}, which does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(path, "", f"not valid TOML: {exc}") from None
        node = data
        for part in self.name.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(self.config_file, self.config_key,
                                  f"key '{self.name}' is missing from {path}")
            node = node[part]
        if not isinstance(node, str) or not node:
            raise ConfigError(self.config_file, self.config_key, f"key '{self.name}' in {path} is not a string")
        return node

    def __repr__(self) -> str:  # never the value: only where it comes from
        return f"SecretRef({self.describe()})"


def parse_secret_ref(value: object, config_file: str, config_key: str) -> SecretRef:
    """Turn a reference string into a SecretRef; refuse anything that looks like a literal secret."""
    if not isinstance(value, str) or not value:
        raise ConfigError(config_file, config_key, "must be a secret reference such as \"env:ITERABLE_API_KEY\"")
    scheme, sep, name = value.partition(":")
    if sep and scheme in ("env", "secrets") and name:
        return SecretRef(scheme, name, config_file, config_key)
    # Deliberately no echo of the value: it may be the secret itself.
    raise ConfigError(
        config_file, config_key,
        "looks like a literal secret, which workspace.toml must not hold (it would end up in git and logs). "
        "Reference it instead: \"env:VARIABLE\" for an environment variable, or \"secrets:section.key\" "
        f"for a key in {SECRETS_FILE} next to workspace.toml")
