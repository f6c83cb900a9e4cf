"""What happened to a row that was not synced, and which class of problem it is.

Row classes (docs/architecture.md, Error classes): `expected` (a rule of the sync says so, e.g. not-found in
update-only mode), `data` (fix the source), `config` (fix the setup), `transient` (retried; left for the next
run). A run that stops is recorded with a class of errors.RUN_ERROR_CLASSES instead."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .config import ExpectedErrorRule

ERROR_CLASSES = ("expected", "data", "config", "transient")


@dataclass(frozen=True)
class RowProblem:
    key: str | None  # None for a row whose primary key is null
    outcome: str  # "invalid" (the planner refused it), "rejected" (the destination did), "failed" (transient)
    code: str
    message: str
    error_class: str
    row_hash: str | None = None
    known_template: str | None = None  # given by whoever knows the message's shape (regexes are slow at 500k rows)

    @property
    def template(self) -> str:
        return self.known_template or message_template(self.message)


_PATTERNS = [
    # An identifier after a lookup label: "email:x@y", "userId:usr_1", "key 'abc'"
    (re.compile(r"(email:)\S+"), r"\1<email>"),
    (re.compile(r"(userId:)\S+"), r"\1<userId>"),
    (re.compile(r"'[^']*'"), "'<value>'"),
    (re.compile(r"[^\s@,;:()'\"]+@[^\s,;:()'\"]+"), "<email>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"\b(?=[\w-]*\d)[A-Za-z_][\w-]*\b"), "<id>"),
    (re.compile(r"\b\d+(\.\d+)?\b"), "<n>"),
]


def message_template(message: str) -> str:
    """The message with emails, ids, quoted values and numbers replaced, so that causes group."""
    for pattern, replacement in _PATTERNS:
        message = pattern.sub(replacement, message)
    return message


def classify(code: str, message: str, default_class: str, rules: tuple[ExpectedErrorRule, ...]) -> str:
    """A sync's expected-error rules turn a destination's rejection into an `expected` one."""
    if default_class == "transient":
        return default_class  # retried and reported as failed, whatever the rules say
    if any(rule.matches(code, message) for rule in rules):
        return "expected"
    return default_class
