"""The shared HTTP client's hooks, over real HTTP to a small Marketo-shaped vendor served by the sandbox core
(token_vendor.py): a token renewed when it expires or when the vendor says it expired, and errors read from
an envelope inside HTTP 200."""

from __future__ import annotations

import threading

import pytest
import requests

from sync_core.clock import ManualClock
from sync_core.destinations.base import BatchRejected, TransientError
from sync_core.destinations.http import CredentialExpired, HttpClient, json_object
from sync_core.errors import DestinationError
from sync_core.ratelimit import Limit, SharedRateLimits
from sync_core.sandbox.core import SandboxServer

from token_vendor import CLIENT_SECRET, TOKEN_VENDOR

KEY_REFERENCE = "destinations.marketo.client_secret (env:MARKETO_SECRET)"
TRANSIENT_CODES = ("606", "608", "611", "615", "713")  # rate limit, unavailable, system error, concurrency
BATCH_CODES = ("609", "1003")  # invalid JSON, invalid data: a row in the batch may be the cause


class TokenClient(HttpClient):
    """What a Marketo client does with the hooks: a bearer token fetched with client credentials, renewed when
    its lifetime ends or the vendor answers 601/602; errors read from `success: false` envelopes."""

    def __init__(self, base_url: str, limits: SharedRateLimits):
        super().__init__(destination="marketo", base_url=base_url, timeout=5, limits=limits,
                         key_reference=KEY_REFERENCE)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def auth_headers(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or self.limits.clock.now() >= self._expires_at:
                answer = json_object(self.send(
                    "POST", f"/identity/oauth/token?grant_type=client_credentials&client_secret={CLIENT_SECRET}",
                    counted=False, authenticated=False))
                self._token = answer["access_token"]
                self._expires_at = self.limits.clock.now() + answer["expires_in"]
            return {"Authorization": f"Bearer {self._token}"}

    def renew_auth(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def classify(self, response: requests.Response) -> None:
        super().classify(response)  # HTTP status first: a 5xx or a 413 is one whatever the body
        body = json_object(response)
        if body.get("success") is not False:
            return
        [error] = body["errors"]
        code, message = error["code"], error["message"]
        if code in ("601", "602"):
            raise CredentialExpired(code, message)
        if code in TRANSIENT_CODES:
            raise TransientError(code, message)
        if code in BATCH_CODES:
            raise BatchRejected(code, message)
        raise DestinationError(self.destination, code, message, "Check the API user's role")

    def things(self, fail: str | None = None) -> dict:
        body = b'{"fail": "%s"}' % fail.encode() if fail else b"{}"
        return self.post_json("/rest/v1/things.json", body)


@pytest.fixture
def clock():
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def vendor(tmp_path, clock):
    with SandboxServer(tmp_path / "vendor.sqlite", TOKEN_VENDOR, clock=clock, rate_limits=False) as server:
        yield server


@pytest.fixture
def client(vendor, tmp_path, clock):
    limits = SharedRateLimits(tmp_path / "limits.sqlite", "credential", {"rest/v1/things.json": Limit(1000, 1.0)}, clock=clock)
    return TokenClient(vendor.url, limits)


def codes(vendor) -> list[str]:
    return [r["code"] for r in vendor.state.requests(endpoint="things")]


def test_a_token_the_vendor_says_expired_is_renewed_and_the_request_succeeds(vendor, client):
    vendor.api.uses_per_token = 2

    answers = [client.things() for _ in range(5)]

    assert all(answer["success"] for answer in answers)
    assert codes(vendor) == ["Success", "Success", "602", "Success", "Success", "602", "Success"]
    assert vendor.api.tokens_issued == 3


def test_a_token_past_its_lifetime_is_renewed_before_the_request(vendor, client, clock):
    vendor.api.uses_per_token = 100
    client.things()
    clock.advance(3600)  # the token said it expires in 3599 s

    client.things()

    assert codes(vendor) == ["Success", "Success"]  # never sent with the stale token
    assert vendor.api.tokens_issued == 2


def test_a_token_refused_again_right_after_renewal_stops_the_run_without_quoting_secrets(vendor, client):
    vendor.api.uses_per_token = 0  # every token is refused as expired

    with pytest.raises(DestinationError) as raised:
        client.things()

    assert raised.value.error_class == "config" and raised.value.code == "602"
    assert "right after it was renewed" in str(raised.value) and KEY_REFERENCE in str(raised.value)
    assert CLIENT_SECRET not in str(raised.value) and "token-" not in str(raised.value)
    assert codes(vendor) == ["602", "602"] and vendor.api.tokens_issued == 2  # renewed once, not in a loop


@pytest.mark.parametrize("code, error, error_class", [
    ("606", TransientError, None),
    ("615", TransientError, None),
    ("1003", BatchRejected, None),
    ("603", DestinationError, "config"),
])
def test_an_error_inside_a_200_envelope_is_the_error_its_code_means(vendor, client, code, error, error_class):
    vendor.api.uses_per_token = 100

    with pytest.raises(error) as raised:
        client.things(fail=code)

    assert raised.value.code == code
    assert getattr(raised.value, "error_class", None) == error_class
    assert [r["status"] for r in vendor.state.requests(endpoint="things")] == [200]


def test_the_cores_http_faults_serve_any_vendor_and_the_status_still_decides(vendor, client):
    vendor.api.uses_per_token = 100
    vendor.state.add_fault("things", "server_error", status=503, times=1)
    vendor.state.add_fault("things", "unauthorized", after=1, times=1)

    with pytest.raises(TransientError) as server_error:
        client.things()
    answer = client.things()  # the vendor answers 601 once (a revoked token): renewed, sent again

    assert server_error.value.code.startswith("HTTP 503")
    assert answer["success"] is True
    assert codes(vendor) == ["GenericError", "601", "Success"]
