"""HTTP to one Iterable project: auth, timeouts, and the translation of HTTP failures into our errors."""

from __future__ import annotations

import io
import threading
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone

from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.json as pa_json
import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from ...errors import DestinationError, DestinationUnavailable
from ...ratelimit import SharedRateLimits
from ..base import BatchRejected, TransientError

# Codes that mean the request as a whole was refused and splitting it can isolate a bad row.
SPLITTABLE_400 = ("BadParams", "BadJsonBody", "BatchTooLarge", "RequestFieldsTypesMismatched",
                  "InvalidEmailAddressError", "InvalidUserIdError", "GenericError")
# A connection refused is tried once more after this pause (a server restarting), then stops the run: nothing
# listens there, and retrying with backoff would only delay the news.
REFUSED_PAUSE_SECONDS = 1.0


class IterableClient:
    def __init__(self, *, destination: str, base_url: str, api_key: str, key_reference: str, timeout: float,
                 limits: SharedRateLimits):
        self.destination = destination
        self.limits = limits
        self.base_url = base_url
        self._api_key = api_key
        self._key_reference = key_reference  # where the key comes from, for hints; never the key itself
        self.timeout = timeout
        self._local = threading.local()  # one requests.Session per thread
        # What to do when nothing listens at base_url; open_destination knows more (the workspace's sandbox).
        self.unreachable_hint = unreachable_hint(base_url)
        _check_header_value(api_key, destination, key_reference)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update({"Api-Key": self._api_key, "Content-Type": "application/json"})
            self._local.session = session
        return session

    def post(self, path: str, body: bytes) -> dict:
        response = self._call("POST", path, data=body)
        return self._json(response)

    def get_column(self, path: str, params: list[tuple[str, str]], field: str) -> pa.Array:
        """One field of a JSON-lines export, as text (null where a line lacks it). The body is parsed by
        Arrow's JSON reader: 500k lines in 0.15 s, against 4 s with one json.loads per line."""
        response = self._call("GET", path, params=params, stream=True)
        body = io.BytesIO()
        try:
            for chunk in response.iter_content(1 << 20):
                body.write(chunk)
        except requests.RequestException as exc:
            raise TransientError("ConnectionError", f"{path} stream broke: {type(exc).__name__}") from None
        finally:
            response.close()
        if not body.getvalue().strip():
            return pa.array([], pa.string())
        try:
            table = _read_json_lines(body, field, pa.string())
        except pa.ArrowInvalid:  # the field is not text on some line (a number): read it as found, then as text
            try:
                table = _read_json_lines(body, field, None)
            except pa.ArrowInvalid:
                raise TransientError("MalformedResponse", f"{path} sent a line that is not JSON") from None
        if field not in table.column_names:
            return pa.nulls(table.num_rows, pa.string())
        return table.column(field).combine_chunks().cast(pa.string())

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        try:
            response = self._request(method, path, **kwargs)
        except requests.Timeout:
            raise TransientError("Timeout", f"{method} {path} got no answer within {self.timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise TransientError("ConnectionError", f"{method} {path} failed to connect: {type(exc).__name__}") from None
        except requests.exceptions.InvalidHeader:  # its message quotes the header: never pass it on
            raise _invalid_key(self.destination, self._key_reference) from None
        except requests.RequestException as exc:  # a broken stream, a redirect loop: the next attempt may pass
            raise TransientError(type(exc).__name__, f"{method} {path} failed: {type(exc).__name__}") from None
        if response.status_code < 300:
            return response
        code, message = _code_and_message(response)
        response.close()
        status = response.status_code
        if status == 401 or code in ("BadApiKey", "BadAuthorizationHeader", "Unauthorized"):
            raise DestinationError(self.destination, f"HTTP {status} {code}", message,
                                   f"Check the API key referenced by {self._key_reference}: it must be a "
                                   "server-side key of the Iterable project this sync writes to, in the data "
                                   f"center of {self.base_url}")
        if status == 403 or code == "Forbidden":
            raise DestinationError(self.destination, f"HTTP {status} {code}", message,
                                   "The API key lacks the permission this call needs: use a server-side key")
        if status == 429:
            raise TransientError("RateLimitExceeded", message, _retry_after(response))
        if status >= 500:
            raise TransientError(f"HTTP {status} {code}", message, _retry_after(response))
        if status == 413 or (status == 400 and code in SPLITTABLE_400):
            raise BatchRejected(code or f"HTTP {status}", message)
        if status == 400:  # a code no row can cause: splitting would send every row alone, to the same answer
            raise DestinationError(self.destination, f"HTTP 400 {code}".rstrip(), message,
                                   f"Iterable refused {method} {path} whatever it held: check what the code says "
                                   "about the project (for an update-only sync, whether the account allows it)")
        raise DestinationError(self.destination, f"HTTP {status} {code}", message,
                               f"Unexpected answer to {method} {path}; check base_url ({self.base_url})")

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        """One request, in a slot of the endpoint's rate limit. A request that never connected gives its slot
        back (the vendor never saw it); a connection refused is tried once more, then stops the run."""
        endpoint = path.removeprefix("/api/")
        for attempt in (1, 2):
            counted_at = self.limits.acquire(endpoint)
            try:
                return self._session().request(method, self.base_url + path, timeout=self.timeout, **kwargs)
            except requests.ConnectionError as exc:
                chain = _causes(exc)
                if not any(isinstance(e, (NewConnectionError, ConnectTimeoutError)) for e in chain):
                    raise  # it connected: the vendor may have seen it, and counted it
                self.limits.release(endpoint, counted_at)
                if not any(isinstance(e, ConnectionRefusedError) for e in chain):
                    raise
                if attempt == 1:
                    self.limits.clock.sleep(REFUSED_PAUSE_SECONDS)
        where = urlsplit(self.base_url)
        raise DestinationUnavailable(self.destination, "ConnectionRefused",
                                     f"nothing accepts connections at {where.hostname}:{where.port or _PORTS[where.scheme]}"
                                     f" (connection refused twice, {REFUSED_PAUSE_SECONDS:g} s apart; nothing was sent)",
                                     self.unreachable_hint)

    @staticmethod
    def _json(response: requests.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            raise TransientError("MalformedResponse", "the answer was not valid JSON") from None
        if not isinstance(body, dict):
            raise TransientError("MalformedResponse", "the answer was not a JSON object")
        return body


_PORTS = {"http": 80, "https": 443}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def unreachable_hint(base_url: str) -> str:
    """What to check when nothing listens at base_url."""
    if urlsplit(base_url).hostname in LOOPBACK:
        return (f"base_url ({base_url}) is on this machine: start the service it points to, or correct base_url. "
                "The next run tries again")
    return (f"Check base_url ({base_url}) and that this machine can reach it (a proxy or firewall may refuse the "
            "connection). The next run tries again")


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and every one it wraps (requests wraps urllib3, which wraps the socket's error)."""
    found, stack = [], [exc]
    while stack:
        current = stack.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        stack += [current.__cause__, current.__context__, getattr(current, "reason", None),
                  *(a for a in current.args if isinstance(a, BaseException))]
    return found


def _check_header_value(api_key: str, destination: str, key_reference: str) -> None:
    """Refuse, before any request, a key no HTTP header can carry: a character outside printable ASCII (a line
    break, a control character, an emoji) or a leading space. The key itself is never quoted."""
    if not (api_key.isascii() and api_key.isprintable()) or api_key[:1].isspace():
        raise _invalid_key(destination, key_reference)


def _invalid_key(destination: str, key_reference: str) -> DestinationError:
    return DestinationError(destination, "InvalidApiKey", "the API key cannot be sent as a header: it holds a line "
                            "break, another control character or a character that is not plain ASCII (such as an "
                            "emoji or an accented letter), or starts with a space",
                            f"Check the value referenced by {key_reference}")


def _read_json_lines(body: io.BytesIO, field: str, kind: pa.DataType | None) -> pa.Table:
    body.seek(0)
    options = pa_json.ParseOptions(explicit_schema=pa.schema([(field, kind)]) if kind else None,
                                   unexpected_field_behavior="ignore" if kind else "infer")
    return pa_json.read_json(body, parse_options=options)


def _code_and_message(response: requests.Response) -> tuple[str, str]:
    try:
        body = response.json()
        if isinstance(body, dict):
            return str(body.get("code") or ""), str(body.get("msg") or body.get("message") or "")[:500]
    except ValueError:
        pass
    return "", (response.text or response.reason or "")[:200].strip()


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After as seconds, whether given as a number or an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
            return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None
