"""What every vendor's HTTP client shares: one requests.Session per thread, a slot of the credential's shared rate
limit per request, timeouts, and the translation of connection failures into our errors. A vendor's client
subclasses `HttpClient` and fills in two hooks:

- `auth_headers()`: the headers that authenticate a request, asked for every request, so a client whose token
  expires (OAuth: Marketo) hands out a fresh one. When the vendor answers that the credential expired
  (`classify` raises `CredentialExpired`), `renew_auth()` is called once and the request is sent again.
- `classify(response)`: returns for a success, else raises the error the answer means, read from the vendor's
  envelope: HTTP status and a `code` in the body (Iterable), or `success: false` inside an HTTP 200 (Marketo).
  The default reads HTTP status alone.

Errors raised: TransientError (may pass if sent again), BatchRejected (a row in the batch may be the cause),
DestinationError (stop the run; a bad credential), DestinationUnavailable (nothing listens at base_url).
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from ..errors import DestinationError, DestinationUnavailable
from ..ratelimit import SharedRateLimits
from .base import TransientError

# A connection refused is tried once more after this pause (a server restarting), then stops the run: nothing
# listens there, and retrying with backoff would only delay the news.
REFUSED_PAUSE_SECONDS = 1.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_PORTS = {"http": 80, "https": 443}


class CredentialExpired(Exception):
    """Raised by `classify`: the vendor says the credential (a token) expired; renewing it may help."""

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


class HttpClient:
    def __init__(self, *, destination: str, base_url: str, timeout: float, limits: SharedRateLimits,
                 key_reference: str):
        self.destination = destination
        self.base_url = base_url
        self.timeout = timeout
        self.limits = limits
        self.key_reference = key_reference  # where the credential comes from, for hints; never the credential
        self._local = threading.local()  # one requests.Session per thread
        # What to do when nothing listens at base_url; open_destination knows more (the workspace's sandbox).
        self.unreachable_hint = unreachable_hint(base_url)

    # --- hooks --------------------------------------------------------------------------
    # auth_headers and renew_auth may be called by several sending threads at once.

    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate the next request (asked again for every request)."""
        return {}

    def renew_auth(self) -> bool:
        """Renew the credential after the vendor said it expired; False when there is nothing to renew."""
        return False

    def classify(self, response: requests.Response) -> None:
        """Return if the answer is a success; else raise what it means. By default, by HTTP status alone."""
        status = response.status_code
        if status < 300:
            return
        code, message = error_code_and_message(response)
        label = f"HTTP {status} {code}"  # as runs have recorded it (a cause's code): even with no code
        if status == 401:
            raise self.credential_refused(label, message)
        if status == 403:
            raise DestinationError(self.destination, label, message, self.permission_hint())
        if status == 429:
            raise TransientError("RateLimitExceeded", message, retry_after(response))
        if status >= 500:
            raise TransientError(label, message, retry_after(response))
        raise DestinationError(self.destination, label, message,
                               f"Unexpected answer to {response.request.method} {self.path_of(response)}; "
                               f"check base_url ({self.base_url})")

    def endpoint(self, path: str) -> str:
        """The rate limit's name for a path."""
        return path.lstrip("/")

    def credential_hint(self) -> str:
        return f"Check the credential referenced by {self.key_reference}"

    def permission_hint(self) -> str:
        return "The credential lacks the permission this call needs"

    # --- requests -----------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """One call: sent in a slot of its endpoint's rate limit with the current auth headers, and classified. When
        the vendor says the credential expired, it is renewed once and the call sent again."""
        renewed = False
        while True:
            response = self.send(method, path, **kwargs)
            try:
                self.classify(response)
                return response
            except CredentialExpired as expired:
                response.close()
                if renewed or not self.renew_auth():
                    suffix = " (again, right after it was renewed)" if renewed else ""
                    raise self.credential_refused(expired.code, expired.message + suffix) from None
                renewed = True
            except BaseException:
                response.close()
                raise

    def post_json(self, path: str, body: bytes) -> dict:
        """POST a JSON body; the answer's JSON object."""
        return json_object(self.request("POST", path, data=body))

    def send(self, method: str, path: str, *, counted: bool = True, authenticated: bool = True,
             **kwargs) -> requests.Response:
        """One request, unclassified. `counted` takes a slot of the endpoint's rate limit (a token request to an
        identity endpoint may not); connection failures become our errors."""
        headers = {**(self.auth_headers() if authenticated else {}), **kwargs.pop("headers", {})}
        try:
            return self._connect(method, path, counted, headers=headers, **kwargs)
        except requests.Timeout:
            raise TransientError("Timeout", f"{method} {path} got no answer within {self.timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise TransientError("ConnectionError",
                                 f"{method} {path} failed to connect: {type(exc).__name__}") from None
        except requests.exceptions.InvalidHeader:  # its message quotes the header: never pass it on
            raise invalid_credential(self.destination, self.key_reference) from None
        except requests.RequestException as exc:  # a broken stream, a redirect loop: the next attempt may pass
            raise TransientError(type(exc).__name__, f"{method} {path} failed: {type(exc).__name__}") from None

    def path_of(self, response: requests.Response) -> str:
        """The path a response answers, as the client asked for it (after base_url, without the query)."""
        return urlsplit(response.request.url).path.removeprefix(urlsplit(self.base_url).path)

    def credential_refused(self, code: str, message: str) -> DestinationError:
        return DestinationError(self.destination, code, message, self.credential_hint())

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["Content-Type"] = "application/json"
            self._local.session = session
        return session

    def _connect(self, method: str, path: str, counted: bool, **kwargs) -> requests.Response:
        """The request, in a slot of the endpoint's rate limit held until its answer (ratelimit.py). A request that
        never connected gives its slot back (the vendor never saw it); a connection refused is tried once more,
        then stops the run."""
        endpoint = self.endpoint(path)
        for attempt in (1, 2):
            # The timeout bounds the connect and the wait for the answer's first byte, each.
            counted_at = self.limits.acquire(endpoint, answer_within=2 * self.timeout) if counted else None
            reached = True  # the vendor may have seen it: its slot counts from the answer, or the giving up
            try:
                return self._session().request(method, self.base_url + path, timeout=self.timeout, **kwargs)
            except requests.ConnectionError as exc:
                chain = _causes(exc)
                if not any(isinstance(e, (NewConnectionError, ConnectTimeoutError)) for e in chain):
                    raise  # it connected: the vendor may have seen it, and counted it
                reached = False
                if counted_at is not None:
                    self.limits.release(endpoint, counted_at)
                if not any(isinstance(e, ConnectionRefusedError) for e in chain):
                    raise
                if attempt == 1:
                    self.limits.clock.sleep(REFUSED_PAUSE_SECONDS)
            finally:
                if counted_at is not None and reached:
                    self.limits.answered(endpoint, counted_at)
        where = urlsplit(self.base_url)
        raise DestinationUnavailable(self.destination, "ConnectionRefused",
                                     f"nothing accepts connections at {where.hostname}:"
                                     f"{where.port or _PORTS[where.scheme]} (connection refused twice, "
                                     f"{REFUSED_PAUSE_SECONDS:g} s apart; this request was not sent)",
                                     self.unreachable_hint)


def unreachable_hint(base_url: str) -> str:
    """What to check when nothing listens at base_url."""
    if urlsplit(base_url).hostname in LOOPBACK:
        return (f"base_url ({base_url}) is on this machine: start the service it points to, or correct base_url. "
                "The next run tries again")
    return (f"Check base_url ({base_url}) and that this machine can reach it (a proxy or firewall may refuse the "
            "connection). The next run tries again")


def check_header_value(value: str, destination: str, key_reference: str) -> None:
    """Refuse, before any request, a credential no HTTP header can carry: a character outside printable ASCII (a
    line break, a control character, an emoji) or a leading space. The value itself is never quoted."""
    if not (value.isascii() and value.isprintable()) or value[:1].isspace():
        raise invalid_credential(destination, key_reference)


def invalid_credential(destination: str, key_reference: str) -> DestinationError:
    return DestinationError(destination, "InvalidApiKey", "the API key cannot be sent as a header: it holds a line "
                            "break, another control character or a character that is not plain ASCII (such as an "
                            "emoji or an accented letter), or starts with a space",
                            f"Check the value referenced by {key_reference}")


def json_object(response: requests.Response) -> dict:
    """The answer's body as a JSON object; a body that is not one is a transient error (a garbled answer)."""
    try:
        body = response.json()
    except ValueError:
        raise TransientError("MalformedResponse", "the answer was not valid JSON") from None
    if not isinstance(body, dict):
        raise TransientError("MalformedResponse", "the answer was not a JSON object")
    return body


def error_code_and_message(response: requests.Response) -> tuple[str, str]:
    """`code` and `msg` (or `message`) of a JSON error body; else no code and the start of the text."""
    try:
        body = response.json()
        if isinstance(body, dict):
            return str(body.get("code") or ""), str(body.get("msg") or body.get("message") or "")[:500]
    except ValueError:
        pass
    return "", (response.text or response.reason or "")[:200].strip()


def retry_after(response: requests.Response) -> float | None:
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
