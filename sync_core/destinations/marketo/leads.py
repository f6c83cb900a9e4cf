"""Which Marketo lead each email names, looked up by email (≤ 300 filter values a call) and remembered for the rest
of the run, so a lead is looked up once however many rows name it; a lead found is also kept in the workspace's
shared cache (shared_cache.py) for later runs and other syncs of the instance, within its lifetime. The look-up is
Marketo's `POST ...?_method=GET` with the filter in a form body: 300 emails in a URL would pass Marketo's 8 KB limit
for URLs (HTTP 414).

Marketo lets several leads share an email: such an email names no one lead (the row is a 1007 `data` cause). A
lead created after its look-up is found by the next run; a lead deleted after it is reported by Marketo (1004)."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

from ..base import IdentifierRule
from .client import MarketoClient
from .shared_cache import MarketoSharedCache

MAX_FILTER_VALUES = 300
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class LeadDirectory:
    def __init__(self, client: MarketoClient, rule: IdentifierRule, shared: MarketoSharedCache):
        self.client, self.rule, self.shared = client, rule, shared
        self._leads: dict[str, tuple[int, ...]] = {}  # email as compared -> ids of the leads holding it
        self._lock = threading.Lock()
        self.calls = 0

    def leads_of(self, emails: list[str]) -> dict[str, tuple[int, ...]]:
        """The lead ids of each email (as compared), looking up those not known yet."""
        wanted = list(dict.fromkeys(self.rule.python(email) for email in emails))
        with self._lock:
            unknown = [email for email in wanted if email not in self._leads]
        if unknown:
            known = self.shared.leads(unknown, self.client.limits.clock.now())
            with self._lock:
                self._leads.update({email: (lead_id,) for email, lead_id in known.items()})
            unknown = [email for email in unknown if email not in known]
        for start in range(0, len(unknown), MAX_FILTER_VALUES):
            chunk = unknown[start:start + MAX_FILTER_VALUES]
            found: dict[str, list[int]] = {email: [] for email in chunk}
            form = urlencode({"filterType": "email", "filterValues": ",".join(chunk), "fields": "id,email"})
            body = self.client.call("POST", "/rest/v1/leads.json", params={"_method": "GET"}, data=form,
                                    headers=FORM)
            with self._lock:
                self.calls += 1
            for lead in body.get("result") or []:
                email = self.rule.python(lead.get("email"))
                if email in found and isinstance(lead.get("id"), int):
                    found[email].append(lead["id"])
            with self._lock:
                self._leads.update({email: tuple(ids) for email, ids in found.items()})
            # an email naming no lead, or two, is not kept: it may name one by the next look-up
            self.shared.save_leads({email: ids[0] for email, ids in found.items() if len(ids) == 1},
                                   self.client.limits.clock.now())
        with self._lock:
            return {email: self._leads[email] for email in wanted}

    def forget(self, emails: list[str]) -> None:
        """Emails whose lead Marketo no longer has (1004, deleted or merged since the look-up)."""
        compared = [self.rule.python(email) for email in emails]
        with self._lock:
            for email in compared:
                self._leads.pop(email, None)
        self.shared.forget_leads(compared)
