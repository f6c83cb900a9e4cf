"""The faults a Marketo sandbox can inject: its endpoints, the HTTP-level kinds every vendor has, and Marketo's own
(answered, as Marketo answers errors, with HTTP 200 and `success: false`):

- `expired_token`: the instance's access token expires now and the request gets 602, so the client must fetch a new
  token (one identity call) and retry;
- `quota_reached`: the instance's daily quota is used up for the rest of its Marketo day and the request gets 607;
- `concurrent_limit`: 615, as if ten other calls of the instance were in flight;
- `error_code`: another response-level code (604, 606, 608, 611, 713) for the request.
"""

from __future__ import annotations

from ..core import HTTP_KINDS, FaultCatalog, FaultKind, Param

# The sandbox's stable endpoint names (MarketoApi.ROUTES; a test keeps the two in step).
ENDPOINTS = frozenset({
    "identity/oauth/token", "leads", "activities/external/types", "activities/external",
    "activities/pagingtoken", "activities", "stats/usage",
})
RETRYABLE_CODES = ("604", "606", "608", "611", "713")

_ERROR_CODE = Param(str, lambda v: v in RETRYABLE_CODES, f"one of {', '.join(RETRYABLE_CODES)}", default="713")

FAULTS = FaultCatalog(ENDPOINTS, {
    **HTTP_KINDS,
    "expired_token": FaultKind(),
    "quota_reached": FaultKind(),
    "concurrent_limit": FaultKind(),
    "error_code": FaultKind({"code": _ERROR_CODE}),
})
