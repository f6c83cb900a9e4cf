"""A tiny vendor served by the sandbox core, shaped like Marketo: an OAuth token that expires after a number of
requests, and errors inside HTTP 200 envelopes (`success: false, errors: [{code, message}]`). It shows the core
serves any vendor, and lets the HTTP client's hooks be tested over real HTTP."""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any, Mapping

from sync_core.sandbox.core import (HTTP_FAULT_EFFECTS, HTTP_KINDS, Call, FaultCatalog, Reply, Route, SandboxStore,
                                    Vendor, VendorApi, json_reply)

CLIENT_SECRET = "s3cret-client"


class TokenVendorState(SandboxStore):
    FAULTS = FaultCatalog(frozenset({"identity/token", "things"}), HTTP_KINDS)
    WRITE_ENDPOINT = "things"


class TokenVendorApi(VendorApi):
    uses_per_token = 2  # requests a token answers before the vendor says it expired

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._numbers = itertools.count(1)
        self._uses: dict[str, int] = {}  # token -> requests it answered
        self._lock = threading.Lock()
        self.tokens_issued = 0

    def account_for(self, headers: Mapping[str, str], query: dict[str, list[str]]) -> str | None:
        if query.get("client_secret") == [CLIENT_SECRET]:
            return "instance"  # the token endpoint
        token = (headers.get("Authorization") or "").removeprefix("Bearer ")
        return "instance" if token in self._uses else None

    def error_reply(self, status: int, code: str, message: str, **extra: Any) -> Reply:
        return json_reply(status, {"requestId": "r", "success": False, "errors": [{"code": code, "message": message}]},
                          code=code, **extra)

    def unauthorized_reply(self) -> Reply:
        return self.error_reply(200, "601", "Access token invalid")

    def _token(self, call: Call) -> Reply:
        with self._lock:
            token = f"token-{next(self._numbers)}"
            self._uses[token] = 0
            self.tokens_issued += 1
        return json_reply(200, {"access_token": token, "token_type": "bearer", "expires_in": 3599})

    def _things(self, call: Call) -> Reply:
        token = call.headers["Authorization"].removeprefix("Bearer ")
        with self._lock:
            self._uses[token] += 1
            expired = self._uses[token] > self.uses_per_token
        if expired:
            return self.error_reply(200, "602", "Access token expired")
        fail = json.loads(call.body or b"{}").get("fail")
        if fail:  # the request asks for an envelope error, to test how the client reads it
            return self.error_reply(200, fail, f"error {fail}")
        return json_reply(200, {"requestId": "r", "success": True, "result": [{"id": call.request_id}]},
                          stored=[str(call.request_id)])

    ROUTES = (
        Route("POST", r"/identity/oauth/token", "identity/token", _token, 100, 1.0),
        Route("POST", r"/rest/v1/things\.json", "things", _things, 100, 1.0),
    )


TokenVendorApi.FAULT_EFFECTS = HTTP_FAULT_EFFECTS
TOKEN_VENDOR = Vendor("tokens", "Token vendor", TokenVendorState, TokenVendorApi, default_port=0)
