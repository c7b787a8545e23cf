"""How an engine speaks HTTP, for the one transport every engine shares.

``HttpTransport`` sends, times and records calls; what an answer *means* is the
dialect's business: the shape of error bodies (errors may even come under HTTP 200),
what each status says, which rate-limit headers exist and how long to wait when none
do. ``Dialect`` is the neutral reading; an engine's client module subclasses it and
overrides the hooks (``error_under_success``, ``client_error``, ``field_errors``,
``rate_limit_state``, ``retry_after``, ``decode_other``).
"""
import email.utils
import json
from datetime import datetime, timezone

from .errors import AuthError, MaybeCreated, NotFound, RateLimited, Rejected, TransientError
from .redact import truncate

SUMMARY_LENGTH = 300


class Dialect:
    """The neutral reading of an engine's answers; engines override the hooks."""

    label = None  # the engine's name in every message
    default_retry_after = 60.0  # seconds to wait after a 429 that does not say how long
    # Keys of a JSON error body whose text values make its summary, joined in this order.
    summary_keys = ("error", "error_description", "message")
    forbidden_hint = ""  # what else the engine means by a 403, told after the neutral advice

    def __init__(self, label=None):
        self.label = label or self.label
        if not self.label:
            raise ValueError("a dialect needs the engine's label")

    # -- hooks -------------------------------------------------------------

    def decode_other(self, content, content_type):
        """A body that is not JSON but that this engine also answers in (an XML error document),
        read into the shape of its JSON bodies; None when the dialect cannot read it, and the
        transport then treats the body as an unexpected page."""
        return None

    def error_under_success(self, status, data):
        """The error an engine reports in a 2xx answer (``data`` decoded from JSON), or None."""
        return None

    def client_error(self, status, body, detail):
        """The error for a 4xx this engine gives a meaning of its own, or None for the neutral one."""
        return None

    def field_errors(self, body):
        """``{field: [message]}`` from an error body; the neutral reading knows no field."""
        return {}

    def rate_limit_state(self, headers, previous):
        """The engine's word on its rate limit as a ``RateLimitState``, or None when it says nothing."""
        return None

    def retry_after(self, headers):
        """Seconds the engine asks to wait before the next call, or None when it does not say."""
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return None if retry_after is None else max(retry_after, 1.0)

    # -- reading error bodies ------------------------------------------------

    def error_summary(self, body):
        """A short, human-readable reason from a JSON error body (a dict)."""
        parts = [
            str(body[key])
            for key in self.summary_keys
            if body.get(key) and isinstance(body[key], (str, int))
        ]
        if parts:
            return truncate(": ".join(dict.fromkeys(parts)), SUMMARY_LENGTH)
        if body.get("errors"):
            return truncate(json.dumps(body["errors"], ensure_ascii=False), SUMMARY_LENGTH)
        return ""

    # -- errors, status by status --------------------------------------------

    def rate_limited(self, headers, status=429):
        retry_after = self.retry_after(headers) or self.default_retry_after
        return RateLimited(
            f"{self.label} asks to slow down: too many calls in a short time. "
            f"Sending resumes automatically in {retry_after:g} seconds; nothing to do.",
            retry_after=retry_after,
            status=status,
        )

    def server_error(self, status, body, detail, is_create):
        engine = self.label
        what = f"{engine} had a temporary problem (HTTP {status}{': ' + detail if detail else ''})"
        if is_create:
            return MaybeCreated(
                f"{what} while receiving the document, so it may or may not have been created. "
                f"It is looked up in {engine} before any new attempt; nothing to do unless this persists.",
                status=status,
                details=body,
            )
        return TransientError(
            f"{what}. This is retried automatically; nothing to do unless it persists.",
            status=status,
            details=body,
        )

    def unexpected_answer(self, status, is_create, kind, summary):
        """A redirect, or a page that should have been JSON (``kind`` says which)."""
        engine = self.label
        message = (
            f"{engine} answered with {kind} instead of JSON (HTTP {status})"
            f"{': ' + summary if summary else ''}. {engine} may be under maintenance, or a proxy "
            "is in the way"
        )
        if is_create:
            return MaybeCreated(
                f"{message}; the document may have been created. It is looked up in {engine} "
                "before any new attempt.",
                status=status,
            )
        return TransientError(f"{message}. This is retried automatically.", status=status)

    def error(self, status, body, detail):
        """The error for a 4xx answer other than 429."""
        return self.client_error(status, body, detail) or self.neutral_client_error(status, body, detail)

    def neutral_client_error(self, status, body, detail):
        engine = self.label
        if status == 401:
            return AuthError(
                f"{engine} refused access (HTTP 401): the connection was revoked or has expired. "
                f"Reconnect the {engine} engine in its settings.",
                reason="token_revoked",
                status=status,
                details=body,
            )
        if status == 403:
            return AuthError(
                f"{engine} refused access (HTTP 403{': ' + detail if detail else ''}). Check that the "
                f"connected {engine} user may use this account and its API."
                + (f" {self.forbidden_hint}" if self.forbidden_hint else ""),
                reason="forbidden",
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
        return self.rejected(status, body, detail)

    def rejected(self, status, body, detail):
        """``Rejected`` listing the field errors of ``body``, or else ``detail``."""
        field_errors = self.field_errors(body)
        listed = "; ".join(f"{name}: {', '.join(texts)}" for name, texts in field_errors.items())
        reason = (listed or detail or "no reason given").rstrip(".")
        return Rejected(
            f"{self.label} refused the data (HTTP {status}): {reason}. "
            "Correct it in Odoo, then send again.",
            field_errors=field_errors,
            status=status,
            details=body,
        )

    def invalid_header(self, exc):
        """A request header ``requests`` refuses to send (the User-Agent comes from the settings)."""
        return AuthError(
            f"{self.label} cannot be called with this User-Agent ({exc}). Correct the User-Agent "
            "in the engine settings.",
            reason="user_agent",
        )


# -- helpers for dialects ------------------------------------------------------


def flatten_field_errors(errors, prefix=""):
    """``{"lines": [{"name": ["…"]}]}`` -> ``{"lines[0].name": ["…"]}``: one key per field."""
    flat = {}
    for name, messages in errors.items():
        key = f"{prefix}{name}"
        if isinstance(messages, dict):
            flat.update(flatten_field_errors(messages, f"{key}."))
        elif isinstance(messages, list):
            texts = [message for message in messages if not isinstance(message, dict)]
            for index, nested in enumerate(m for m in messages if isinstance(m, dict)):
                flat.update(flatten_field_errors(nested, f"{key}[{index}]."))
            if texts:
                flat[key] = [str(text) for text in texts]
        else:
            flat[key] = [str(messages)]
    return flat


def parse_retry_after(value):
    """``Retry-After`` in seconds (from seconds or an HTTP date), or None."""
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
