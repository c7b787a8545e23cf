"""One HTTP transport for every engine client.

``HttpTransport.request`` either returns an ``HttpResponse`` or raises exactly
one ``engines.errors`` exception whose message an accountant can act on. The
decisive question for every failure is "could the engine have stored what we
sent?": only a failure that certainly happened before the request left this
server (connection refused, DNS, connect timeout) is a plain ``TransientError``
for a create; everything later is ``MaybeCreated`` so the caller reconciles
before trying again.

After every call, successful or not, a redacted ``Exchange`` goes to
``on_exchange``; the rate-limit headers are kept in ``rate_limit``.
"""
import email.utils
import html
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from .base import Exchange, RateLimitState
from .errors import (
    AuthError,
    EngineError,
    MaybeCreated,
    NotFound,
    RateLimited,
    Rejected,
    TransientError,
)
from .redact import Redactor, truncate

_logger = logging.getLogger(__name__)

EXPECT_JSON = "json"
EXPECT_BYTES = "bytes"
EXPECT_NONE = "none"

DEFAULT_RETRY_AFTER = 60.0
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
        user_agent,
        timeout=(5, 30),
        on_exchange=None,
        engine_label="Fakturoid",
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.on_exchange = on_exchange
        self.engine_label = engine_label
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
    ):
        url = self.url(path)
        redactor = Redactor(_secret_literals(headers, auth))
        call = _Call(operation, method.upper(), url, params, json, redactor, time.monotonic())
        try:
            call.response = self._send(call, headers, auth, expect, is_create)
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

    def _send(self, call, headers, auth, expect, is_create):
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
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise self._network_error(exc, is_create) from None

    def _network_error(self, exc, is_create):
        engine = self.engine_label
        if isinstance(exc, _BAD_ADDRESS):
            return AuthError(
                f"The {engine} address is not a valid URL ({exc}). "
                f"Correct the API URL in the {engine} engine settings.",
                reason="invalid_credentials",
            )
        if isinstance(exc, requests.exceptions.InvalidHeader):
            return AuthError(
                f"{engine} cannot be called with this User-Agent ({exc}). Set a User-Agent with an "
                "application name and a contact e-mail, e.g. 'Odoo (it@example.com)', in the engine "
                "settings.",
                reason="user_agent",
            )
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
        status = response.status_code
        if status == 429:
            raise self._rate_limited(response)
        if status >= 500 or status == 408:
            raise self._server_error(response, is_create, redactor)
        if 300 <= status < 400:
            location = redactor.url(response.headers.get("Location", "?"))
            raise self._unexpected_answer(response, is_create, "a redirect", f"to {location}")
        if status >= 400:
            raise self._client_error(response, redactor)
        headers = response.headers
        if expect == EXPECT_NONE:
            return HttpResponse(status, headers)
        if expect == EXPECT_BYTES:
            return HttpResponse(status, headers, content=response.content)
        if status == 204 or not response.content:
            return HttpResponse(status, headers)
        data = _decode_json(response)
        if data is _NOT_JSON:
            raise self._unexpected_answer(response, is_create, *_describe_page(response))
        return HttpResponse(status, headers, data=data)

    def _rate_limited(self, response):
        retry_after = self._retry_after(response.headers)
        return RateLimited(
            f"{self.engine_label} asks to slow down: too many calls in a short time. "
            f"Sending resumes automatically in {retry_after:g} seconds; nothing to do.",
            retry_after=retry_after,
            status=429,
        )

    def _server_error(self, response, is_create, redactor):
        engine = self.engine_label
        status = response.status_code
        detail = redactor.text(_error_summary(response))
        what = f"{engine} had a temporary problem (HTTP {status}{': ' + detail if detail else ''})"
        if is_create:
            return MaybeCreated(
                f"{what} while receiving the document, so it may or may not have been created. "
                f"It is looked up in {engine} before any new attempt; nothing to do unless this persists.",
                status=status,
                details=_decode_json_or_none(response),
            )
        return TransientError(
            f"{what}. This is retried automatically; nothing to do unless it persists.",
            status=status,
            details=_decode_json_or_none(response),
        )

    def _unexpected_answer(self, response, is_create, kind, summary):
        engine = self.engine_label
        message = (
            f"{engine} answered with {kind} instead of JSON (HTTP {response.status_code})"
            f"{': ' + summary if summary else ''}. {engine} may be under maintenance, or a proxy "
            "is in the way"
        )
        if is_create:
            return MaybeCreated(
                f"{message}; the document may have been created. It is looked up in {engine} "
                "before any new attempt.",
                status=response.status_code,
            )
        return TransientError(f"{message}. This is retried automatically.", status=response.status_code)

    def _client_error(self, response, redactor):
        engine = self.engine_label
        status = response.status_code
        body = _decode_json_or_none(response)
        detail = redactor.text(_error_summary(response))
        if status == 401:
            return AuthError(
                f"{engine} refused access (HTTP 401): the connection was revoked or has expired. "
                f"Reconnect the {engine} engine in its settings.",
                reason="token_revoked",
                status=status,
                details=body,
            )
        if status == 402:
            return AuthError(
                f"The {engine} account is blocked for an unpaid {engine} subscription (HTTP 402). "
                f"Pay the overdue {engine} invoices{_overdue_invoice_urls(body)}, then sending resumes.",
                reason="account_blocked",
                status=status,
                details=body,
            )
        if status == 403:
            return AuthError(
                f"{engine} refused access (HTTP 403{': ' + detail if detail else ''}). Check that the "
                f"connected {engine} user may use this account and its API. {engine} also answers 403 "
                "to a User-Agent without a contact e-mail: set one in the engine settings.",
                reason="forbidden",
                status=status,
                details=body,
            )
        if status == 400 and "user-agent" in detail.lower().replace("_", "-").replace(" ", "-"):
            return AuthError(
                f"{engine} refused the request because of the User-Agent ({detail}). Set a User-Agent "
                "with an application name and a contact e-mail, e.g. 'Odoo (it@example.com)', in the "
                "engine settings.",
                reason="user_agent",
                status=status,
                details=body,
            )
        if status == 404:
            return NotFound(
                f"{engine} does not know this record (HTTP 404{': ' + detail if detail else ''}); "
                f"it may have been deleted in {engine}.",
                status=status,
                details=body,
            )
        field_errors = _field_errors(body)
        listed = "; ".join(f"{name}: {', '.join(texts)}" for name, texts in field_errors.items())
        reason = (listed or detail or "no reason given").rstrip(".")
        return Rejected(
            f"{engine} refused the data (HTTP {status}): {reason}. "
            "Correct it in Odoo, then send again.",
            field_errors=field_errors,
            status=status,
            details=body,
        )

    # -- rate limit --------------------------------------------------------

    def _remember_rate_limit(self, headers):
        policy = _structured_params(headers.get("X-RateLimit-Policy"))
        current = _structured_params(headers.get("X-RateLimit"))
        if not policy and not current:
            return
        previous = self.rate_limit or RateLimitState(None, None, None)
        self.rate_limit = RateLimitState(
            limit=_as_int(policy.get("q"), previous.limit),
            remaining=_as_int(current.get("r"), None),
            reset_after=_as_float(current.get("t"), None),
        )

    def _retry_after(self, headers):
        reset = _as_float(_structured_params(headers.get("X-RateLimit")).get("t"), None)
        if reset is not None:
            return max(reset, 1.0)
        retry_after = _parse_retry_after(headers.get("Retry-After"))
        if retry_after is not None:
            return max(retry_after, 1.0)
        return DEFAULT_RETRY_AFTER

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
            _logger.exception("Could not record the %s call %s", self.engine_label, exchange.operation)


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


def _error_summary(response):
    """A short, human-readable reason from an error body, JSON or not."""
    body = _decode_json_or_none(response)
    if isinstance(body, dict):
        parts = [
            str(body[key])
            for key in ("status", "error", "error_description", "message")
            if body.get(key) and isinstance(body[key], (str, int))
        ]
        if parts:
            return truncate(": ".join(dict.fromkeys(parts)), 300)
        if body.get("errors"):
            return truncate(json.dumps(body["errors"], ensure_ascii=False), 300)
        return ""
    if not response.content:
        return ""
    return truncate(_page_text(response), _SUMMARY_LENGTH)


def _field_errors(body):
    """``{"errors": {field: [msg]}}`` and ``{"error": .., "error_description": ..}`` as ``{field: [msg]}``."""
    if not isinstance(body, dict):
        return {}
    errors = body.get("errors")
    if isinstance(errors, dict):
        return _flatten_errors(errors)
    if isinstance(errors, list) and errors:
        return {"base": [str(message) for message in errors]}
    if body.get("error"):
        return {str(body["error"]): [str(body.get("error_description") or body["error"])]}
    return {}


def _flatten_errors(errors, prefix=""):
    flat = {}
    for name, messages in errors.items():
        key = f"{prefix}{name}"
        if isinstance(messages, dict):
            flat.update(_flatten_errors(messages, f"{key}."))
        elif isinstance(messages, list):
            texts = [message for message in messages if not isinstance(message, dict)]
            for index, nested in enumerate(m for m in messages if isinstance(m, dict)):
                flat.update(_flatten_errors(nested, f"{key}[{index}]."))
            if texts:
                flat[key] = [str(text) for text in texts]
        else:
            flat[key] = [str(messages)]
    return flat


def _overdue_invoice_urls(body):
    if not isinstance(body, dict):
        return ""
    urls = [
        invoice.get("invoice_url")
        for invoice in body.get("overdue_invoices") or ()
        if isinstance(invoice, dict) and invoice.get("invoice_url")
    ]
    return f" ({', '.join(urls)})" if urls else ""


def _structured_params(value):
    """``default;q=400;w=60`` -> ``{"q": "400", "w": "60"}`` (first policy only)."""
    if not value:
        return {}
    first = value.split(",", 1)[0]
    params = {}
    for item in first.split(";")[1:]:
        key, _sep, raw = item.strip().partition("=")
        if key:
            params[key.strip().lower()] = raw.strip().strip('"')
    return params


def _parse_retry_after(value):
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - datetime.now(timezone.utc)).total_seconds()


def _as_int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _as_float(value, default):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default
