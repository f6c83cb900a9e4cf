"""HTTP to one Marketo instance: an OAuth client-credentials token (cached, renewed before it expires and when
Marketo says it expired), and Marketo's envelope, where errors come back as HTTP 200 with `success: false`.

Every REST call of an instance counts against one limit (100 calls per 20 s), whatever the endpoint, so the
client names them all `rest` for the shared rate limits; identity calls are not counted. The token is kept in this
process, shared by its threads, and in the workspace's shared cache (shared_cache.py), so that another process or
run of the same credential uses it until it is about to expire instead of calling the identity service again.
"""

from __future__ import annotations

import threading

import requests

from ...config import DestinationConfig
from ...errors import DestinationError, DestinationUnavailable
from ...ratelimit import SharedRateLimits
from ..base import BatchRejected, TransientError
from ..http import CredentialExpired, HttpClient, check_header_value, json_object
from ...marketo_day import reset_time_text
from .shared_cache import MarketoSharedCache

RENEW_BEFORE_SECONDS = 60  # a token this close to expiry is renewed before the call, not after a 602
EXPIRED_CODES = ("601", "602")  # access token invalid / expired: renew once and send again
# Response-level codes that may pass if the call is sent again, with the wait Marketo implies (None: backoff).
RETRYABLE = {"604": None, "606": 20.0, "608": None, "611": None, "615": None, "713": None}
QUOTA_CODE = "607"
BUDGET_CODE = "DailyQuotaReserve"  # our own: the calls this run or read may make of the quota are spent


def credential_reference(config: DestinationConfig) -> str:
    """Where the client id and secret come from, for messages (never their values)."""
    return (f"destinations.{config.name}.client_id ({config.client_id.describe()}) and client_secret "
            f"({config.api_key.describe()})")


class MarketoClient(HttpClient):
    def __init__(self, *, destination: str, base_url: str, client_id: str, client_secret: str,
                 key_reference: str, timeout: float, limits: SharedRateLimits,
                 shared: MarketoSharedCache | None):
        super().__init__(destination=destination, base_url=base_url, timeout=timeout, limits=limits,
                         key_reference=key_reference)
        check_header_value(client_id, destination, key_reference)
        check_header_value(client_secret, destination, key_reference)
        self._credentials = {"grant_type": "client_credentials", "client_id": client_id,
                             "client_secret": client_secret}
        # The token other runs and processes of the workspace fetched; None: always its own (a credential check)
        self.shared = shared
        self._token_lock = threading.Lock()
        self._used = threading.local()  # the token this thread's last call carried
        self._token: str | None = None
        self._expires_at = 0.0
        self.token_calls = 0  # identity calls this client made (one per token it fetched)
        self.budget: int | None = None  # REST calls this run may still make of the daily quota (None: no limit)
        self._budget_lock = threading.Lock()

    # --- OAuth ----------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        with self._token_lock:
            if self._token is None or self._expiring(self._expires_at):
                if not self._adopt_shared():
                    self._fetch_token()
            self._used.token = self._token
            return {"Authorization": f"Bearer {self._token}"}

    def renew_auth(self) -> bool:
        """After a 601/602: a new token, unless another thread or process already got one since this call."""
        with self._token_lock:
            if self._token == getattr(self._used, "token", None) and not self._adopt_shared():
                self._fetch_token()
        return True

    def _expiring(self, expires_at: float) -> bool:
        return expires_at - self.limits.clock.now() < RENEW_BEFORE_SECONDS

    def _adopt_shared(self) -> bool:
        """Take the shared cache's token if it is another than this thread's last and not about to expire."""
        saved = self.shared.token() if self.shared is not None else None
        if saved is None or saved[0] == getattr(self._used, "token", None) or self._expiring(saved[1]):
            return False
        self._token, self._expires_at = saved
        return True

    def _fetch_token(self) -> None:
        """One identity call (the caller holds the lock, so threads wait for one token instead of each fetching)."""
        self.token_calls += 1
        response = self.send("GET", "/identity/oauth/token", params=self._credentials, counted=False,
                             authenticated=False)
        try:
            if response.status_code in (400, 401):
                raise self.credential_refused(f"HTTP {response.status_code}", "Marketo's identity service refused "
                                              "the client id and secret")
            if response.status_code >= 300:
                raise TransientError(f"HTTP {response.status_code}", "the identity service did not answer")
            body = json_object(response)
        finally:
            response.close()
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not isinstance(lifetime, (int, float)):
            raise TransientError("MalformedResponse", "the identity service answered without a token")
        self._token, self._expires_at = token, self.limits.clock.now() + lifetime
        if self.shared is not None:
            self.shared.save_token(token, self._expires_at)

    # --- the envelope ---------------------------------------------------------------

    def endpoint(self, path: str) -> str:
        return "rest"

    def credential_hint(self) -> str:
        return (f"Check the client id and secret referenced by {self.key_reference}: they must be those of a "
                f"LaunchPoint API service of the Marketo instance at {self.base_url}")

    def permission_hint(self) -> str:
        return "The API user of this LaunchPoint service lacks a permission this call needs (Marketo code 603)"

    def classify(self, response: requests.Response) -> None:
        if response.status_code == 413:
            raise BatchRejected("HTTP 413", "the request body is over Marketo's 1 MB")
        if response.status_code != 200:
            super().classify(response)
            return
        body = json_object(response)
        if body.get("success") is not False:
            response.marketo_body = body  # parsed once: the caller reads result[] from it
            return
        errors = body.get("errors") or [{}]
        code, message = str(errors[0].get("code", "")), str(errors[0].get("message", ""))[:500]
        if code in EXPIRED_CODES:
            raise CredentialExpired(code, message)
        if code in RETRYABLE:
            raise TransientError(code, message, RETRYABLE[code])
        if code == QUOTA_CODE:
            resets = reset_time_text(self.limits.clock.now())
            raise DestinationUnavailable(self.destination, code, f"Marketo's daily API quota of this instance is "
                                         f"used up ({message}); it resets at {resets} (midnight US "
                                         "Central)", "The rows not sent are sent by the next run after the reset; "
                                         "other integrations share the quota, so ask their owners if it runs out "
                                         "early")
        if code == "603":
            raise DestinationError(self.destination, code, message, self.permission_hint())
        if code.startswith("1"):  # a record-kind code for the whole request: one of its rows may be the cause
            raise BatchRejected(code, message)
        raise DestinationError(self.destination, code, message,
                               f"Marketo refused {response.request.method} {self.path_of(response)} whatever it "
                               f"held; check base_url ({self.base_url})")

    def call(self, method: str, path: str, **kwargs) -> dict:
        """One REST call, within the budget of the daily quota; the answer's body when Marketo says success."""
        with self._budget_lock:
            if self.budget is not None and self.budget <= 0:
                raise DestinationUnavailable(self.destination, BUDGET_CODE, "this run made every call the "
                                             "daily quota leaves it (the quota less the reserve kept for other "
                                             f"integrations); the quota resets at "
                                             f"{reset_time_text(self.limits.clock.now())} (midnight US Central)",
                                             "The rows not sent are sent by the next run after the reset")
            if self.budget is not None:
                self.budget -= 1
        response = self.request(method, path, **kwargs)
        response.close()
        return response.marketo_body

    def calls_today(self) -> int:
        """The instance's REST calls this Marketo day, by Marketo's count of every integration (this one included)."""
        usage = self.call("GET", "/rest/v1/stats/usage.json").get("result") or [{}]
        return int((usage[0] if isinstance(usage[0], dict) else {}).get("total") or 0)
