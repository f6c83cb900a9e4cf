"""One line of doctor's report, and the ways errors of sync_core become one."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import DestinationError, SyncCoreError

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    target: str  # "source warehouse", "destination iterable"
    check: str  # "reachable", "authenticated", "model contacts", "scope", "rate limit", "password age"
    status: str  # OK, WARN or FAIL
    found: str
    next_step: str | None = None  # for a line that is not ok: what to do

    def to_json(self) -> dict:
        return {"target": self.target, "check": self.check, "status": self.status, "found": self.found,
                "next_step": self.next_step}


def from_error(target: str, check: str, exc: BaseException, status: str = FAIL) -> Check:
    """A failed check from our own error, its message split into what happened and what to do."""
    if isinstance(exc, DestinationError):
        found = str(exc).removesuffix(exc.hint).strip().removeprefix(f"destination '{exc.destination}' ")
        return Check(target, check, status, found, exc.hint)
    text = str(exc)
    if isinstance(exc, SyncCoreError):
        text = re.sub(r"^source '[^']*': ", "", text)
    found, advice = split_advice(text)
    return Check(target, check, status, found, advice or _generic_step(exc))


def not_answering(target: str, base_url: str, exc: BaseException, vendor: str) -> Check:
    """A destination whose server answered, but not well (5xx, a garbled or throttled reply): a failed line."""
    return Check(target, "reachable", FAIL, f"{base_url} did not answer well: {exc}",
                 f"Run doctor again in a minute; if it stays, check base_url and {vendor}'s status")


def split_advice(message: str) -> tuple[str, str | None]:
    """"What happened. What to do." -> the two; the messages of snowflake_errors read that way."""
    parts = re.split(r"(?<=[.)])\s+(?=(?:Log in|Check|Wait|Get|Set|Run|Compare|Correct|Fix|Rewrite|Retry|Start|"
                     r"Upgrade|Use|Create|Give|Export) )", message.strip(), maxsplit=1)
    return (parts[0], parts[1]) if len(parts) == 2 else (message.strip(), None)


def _generic_step(exc: BaseException) -> str:
    if isinstance(exc, SyncCoreError):
        return "Fix what the line names, then run `sync-core doctor` again"
    return f"An unexpected {type(exc).__name__}: run again; if it stays, report it with this line"
