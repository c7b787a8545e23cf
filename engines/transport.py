"""One HTTP transport for every engine client.

``HttpTransport.request`` either returns an ``HttpResponse`` or raises exactly
one ``engines.errors`` exception whose message an accountant can act on. The
decisive question for every failure is "could the engine have stored what we
sent?": only a failure that certainly happened before the request left this
server (connection refused, DNS, connect timeout) is a plain ``TransientError``
for a create; everything later is ``MaybeCreated`` so the caller reconciles
before trying again.

What an answer means (error bodies, statuses, rate-limit headers) is the engine's
``Dialect`` (``engines/dialect.py``). Before each call the transport asks the
engine account's ``Throttle`` for a slot; after every call, successful or not, a
redacted ``Exchange`` goes to ``on_exchange``, and the engine's word on its rate
limit is kept in ``rate_limit``.
"""
import html
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from .base import Exchange
from .errors import (
    AuthError,
    EngineError,
    MaybeCreated,
    RateLimited,
    Rejected,
    TransientError,
)
from .redact import Redactor, truncate

_logger = logging.getLogger(__name__)

EXPECT_JSON = "json"
EXPECT_BYTES = "bytes"
EXPECT_NONE = "none"

_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HTML_NOISE = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_SUMMARY_LENGTH = 120


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping = field(default_factory=dict)  # case-insensitive when it comes from requests
    data: object = None  # decoded JSON when ``expect="json"``
    content: bytes = b""  # raw body when ``expect="bytes"``


class HttpTransport:
    """A ``requests.Session`` that speaks the error taxonomy of ``engines.errors``."""

    def __init__(
        self,
        base_url,
        *,
        dialect,
        user_agent,
        timeout=(5, 30),
        on_exchange=None,
        throttle=None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.on_exchange = on_exchange
        self.dialect = dialect
        self.throttle = throttle
        self.rate_limit = None
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent

    def url(self, path):
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        operation,
        method,
        path,
        *,
        json=None,
        params=None,
        headers=None,
        auth=None,
        expect=EXPECT_JSON,
        is_create=False,
        follow_redirects=False,
    ):
        """One call; ``follow_redirects`` for the few answers documented as a redirect to a file."""
        url = self.url(path)
        redactor = Redactor(_secret_literals(headers, auth))
        if self.throttle is not None:
            self.throttle.acquire()  # may wait, or raise RateLimited: then nothing is sent
        call = _Call(operation, method.upper(), url, params, json, redactor, time.monotonic())
        try:
            call.response = self._send(call, headers, auth, expect, is_create, follow_redirects)
            self._remember_rate_limit(call.response.headers)
            return self._interpret(call.response, expect, is_create, redactor)
        except EngineError as error:
            error.message = redactor.text(error.message)
            error.args = (error.message,)
            call.error = error
            raise
        finally:
            self._record(call)

    # -- sending -----------------------------------------------------------

    def _send(self, call, headers, auth, expect, is_create, follow_redirects=False):
        request_headers = {"Accept": "application/json" if expect != EXPECT_BYTES else "*/*"}
        request_headers.update(headers or {})
        try:
            return self.session.request(
                call.method,
                call.url,
                json=call.json,
                params=call.params,
                headers=request_headers,
                auth=auth,
                timeout=self.timeout,
                allow_redirects=follow_redirects,
            )
        except requests.RequestException as exc:
            raise self._network_error(exc, is_create) from None

    def _network_error(self, exc, is_create):
        engine = self.dialect.label
        if isinstance(exc, _BAD_ADDRESS):
            return AuthError(
                f"The {engine} address is not a valid URL ({exc}). "
                f"Correct the API URL in the {engine} engine settings.",
                reason="invalid_credentials",
            )
        if isinstance(exc, requests.exceptions.InvalidHeader):
            return self.dialect.invalid_header(exc)
        if isinstance(exc, requests.exceptions.InvalidJSONError):
            return Rejected(
                f"The data for {engine} could not be encoded as JSON ({exc}); nothing was sent."
            )
        if not _may_have_been_sent(exc):
            return TransientError(
                f"{engine} could not be reached ({_network_reason(exc)}); nothing was sent. "
                "Sending is retried automatically; if this lasts, check the server's internet "
                f"connection and the {engine} API URL in the engine settings."
            )
        if is_create:
            return MaybeCreated(
                f"The connection to {engine} broke after the document was sent "
                f"({_network_reason(exc)}), so {engine} may have created it. It is looked up in "
                f"{engine} before any new attempt; nothing to do unless this persists."
            )
        return TransientError(
            f"The connection to {engine} broke before it answered ({_network_reason(exc)}). "
            "This is retried automatically."
        )

    # -- interpreting ------------------------------------------------------

    def _interpret(self, response, expect, is_create, redactor):
        """The ``HttpResponse`` of a successful answer; the dialect's error for any other."""
        dialect = self.dialect
        status = response.status_code
        if status == 429:
            raise self._engine_says_wait(dialect.rate_limited(response.headers))
        if status >= 500 or status == 408:
            body, detail = self._error_body(response, redactor)
            raise dialect.server_error(status, body, detail, is_create)
        if 300 <= status < 400:
            location = redactor.url(response.headers.get("Location", "?"))
            raise dialect.unexpected_answer(status, is_create, "a redirect", f"to {location}")
        if status >= 400:
            raise self._engine_says_wait(dialect.error(status, *self._error_body(response, redactor)))
        headers = response.headers
        if expect == EXPECT_NONE:
            return HttpResponse(status, headers)
        if expect == EXPECT_BYTES:
            return HttpResponse(status, headers, content=response.content)
        if status == 204 or not response.content:
            return HttpResponse(status, headers)
        data = _decode_json(response)
        if data is _NOT_JSON:
            data = dialect.decode_other(response.content, response.headers.get("Content-Type", ""))
            if data is None:
                raise dialect.unexpected_answer(status, is_create, *_describe_page(response))
        error = dialect.error_under_success(status, data)
        if error is not None:
            raise error
        return HttpResponse(status, headers, data=data)

    def _error_body(self, response, redactor):
        """``(decoded JSON or None, short redacted reason)`` of an error answer."""
        body = _decode_json_or_none(response)
        if body is None and response.content:
            body = self.dialect.decode_other(response.content, response.headers.get("Content-Type", ""))
        if isinstance(body, dict):
            detail = self.dialect.error_summary(body)
        elif response.content:
            detail = truncate(_page_text(response), _SUMMARY_LENGTH)
        else:
            detail = ""
        return body, redactor.text(detail)

    # -- rate limit --------------------------------------------------------

    def _remember_rate_limit(self, headers):
        state = self.dialect.rate_limit_state(headers, self.rate_limit)
        if state is None:
            return
        self.rate_limit = state
        if self.throttle is not None:
            self._tell_throttle(self.throttle.observe, state)

    def _engine_says_wait(self, error):
        """When the engine asks to slow down, every worker of its account waits as long as asked."""
        if isinstance(error, RateLimited) and self.throttle is not None:
            self._tell_throttle(self.throttle.hold, error.retry_after)
        return error

    def _tell_throttle(self, tell, news):
        try:
            tell(news)
        except Exception:
            # The engine has answered: a throttle that cannot store the news must not turn
            # a document the engine created into a failure.
            _logger.exception("Could not pass %s's rate limit on to the throttle", self.dialect.label)

    # -- recording ---------------------------------------------------------

    def _record(self, call):
        exchange = call.exchange()
        _logger.debug(
            "%s %s %s -> %s in %d ms%s",
            exchange.operation,
            exchange.method,
            exchange.url,
            exchange.status,
            exchange.duration_ms,
            f" ({exchange.error})" if exchange.error else "",
        )
        if self.on_exchange is None:
            return
        try:
            self.on_exchange(exchange)
        except Exception:
            # Losing a log row must never turn a document the engine created
            # into a failure: the caller would then create it a second time.
            _logger.exception("Could not record the %s call %s", self.dialect.label, exchange.operation)


@dataclass
class _Call:
    """What is needed to build the ``Exchange`` of one call."""

    operation: str
    method: str
    url: str
    params: dict | None
    json: object
    redactor: Redactor
    started: float
    response: requests.Response | None = None
    error: EngineError | None = None

    def exchange(self):
        response = self.response
        return Exchange(
            operation=self.operation,
            method=self.method,
            url=self.redactor.url(self._full_url()),
            status=response.status_code if response is not None else None,
            duration_ms=int((time.monotonic() - self.started) * 1000),
            request_excerpt=self.redactor.data(self.json),
            response_excerpt=self._response_excerpt(),
            error=type(self.error).__name__ if self.error else "",
        )

    def _full_url(self):
        if self.response is not None:
            return self.response.url or self.url
        if self.params:
            return requests.Request(self.method, self.url, params=self.params).prepare().url
        return self.url

    def _response_excerpt(self):
        if self.response is None:
            return self.error.message if self.error else ""
        content_type = self.response.headers.get("Content-Type", "")
        return self.redactor.body(self.response.content, content_type)


# -- helpers ---------------------------------------------------------------

_NOT_JSON = object()
_BAD_ADDRESS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


def _secret_literals(headers, auth):
    literals = []
    for name, value in (headers or {}).items():
        if name.lower() == "authorization" and value:
            literals.append(value)
            literals.append(value.split(" ", 1)[-1])
    if isinstance(auth, tuple) and len(auth) == 2:
        literals.append(auth[1])
    return literals


def _may_have_been_sent(exc):
    """False only when the request certainly never left this server."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(
        exc, requests.exceptions.SSLError
    ):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        # Refused connections and DNS failures surface as NewConnectionError.
        return not isinstance(reason, NewConnectionError)
    return True


def _network_reason(exc):
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "no answer in time"
    if isinstance(exc, requests.exceptions.SSLError):
        return "secure connection failed"
    text = str(exc).lower()
    if any(word in text for word in ("name or service not known", "nodename nor servname", "resolution")):
        return "server name not found"
    if "refused" in text:
        return "connection refused"
    if any(word in text for word in ("reset", "aborted", "remote end closed", "disconnected")):
        return "connection reset"
    return "network error"


def _decode_json(response):
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def _decode_json_or_none(response):
    if not response.content:
        return None
    data = _decode_json(response)
    return None if data is _NOT_JSON else data


def _page_text(response):
    text = response.content.decode(response.encoding or "utf-8", errors="replace")
    title = _HTML_TITLE.search(text)
    if title:
        text = title.group(1)
    else:
        text = _HTML_NOISE.sub(" ", text)
    return " ".join(html.unescape(text).split())


def _describe_page(response):
    """``(kind, summary)`` of a body that should have been JSON."""
    content_type = response.headers.get("Content-Type", "").lower()
    is_html = "html" in content_type or b"<html" in response.content[:512].lower()
    kind = "an HTML page" if is_html else "plain text"
    return kind, truncate(_page_text(response), _SUMMARY_LENGTH)
