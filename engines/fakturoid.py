"""Fakturoid API v3 (https://www.fakturoid.cz/api/v3): OAuth 2 and the engine client.

Wire facts this module relies on:

* every call carries a ``User-Agent`` with a contact e-mail, or Fakturoid answers 400/403;
* the client id and secret travel only in HTTP Basic to ``/oauth/token``; a refresh
  answer has no new ``refresh_token`` (keep the old one); every new access token
  invalidates the previous one, so the Odoo side shares one token per connection;
* subjects have a unique ``custom_id``; invoices only store and filter it, so the
  duplicate guard is "look the invoice up by ``custom_id`` before creating again";
* ``subjects/search.json`` is full-text (name, full_name, email, email_copy,
  registration_no, vat_no, private_note), 40 a page: candidates are compared exactly
  in ``matching``;
* there is no line discount: a discounted line is sent as the full line plus a
  negative discount line, which keeps the bases equal to Odoo's booked nets (a line
  whose net Odoo's global rounding moved by a cent gets a rounding line the same way);
  the VAT is then computed once per rate (``capabilities.arithmetic``);
* ``download.pdf`` answers 204 until the PDF is rendered;
* about 400 calls a minute, announced in ``X-RateLimit-Policy: default;q=400;w=60`` and
  ``X-RateLimit: default;r=<remaining>;t=<seconds to reset>``; over it, 429;
* errors come as ``{"errors": {field: [message]}}`` (in Czech on Czech accounts) or
  ``{"error": .., "error_description": ..}``; an unpaid subscription blocks the account
  with 402 and the overdue invoices.
"""
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from urllib.parse import quote, urlencode

from .arithmetic import VatPerRate
from .base import CREDENTIAL_OAUTH2, CUSTOMERS_SEPARATE, Capabilities, EngineClient, RateLimitState
from .dialect import Dialect, flatten_field_errors
from .document import (
    REMOTE_CANCELLED,
    REMOTE_OPEN,
    REMOTE_OVERDUE,
    REMOTE_PAID,
    REMOTE_SENT,
    REMOTE_UNCOLLECTIBLE,
    AccountInfo,
    CustomerCandidate,
    NumberingOption,
    ReferenceData,
    RemotePayment,
    RemoteRef,
    RemoteStatus,
)
from .errors import AuthError, CustomerGone, NotFound, OutcomeUnknown, Rejected, TransientError
from .transport import EXPECT_BYTES, EXPECT_NONE, HttpTransport
from .wire import decimal_str, json_number, path_id, wire_id

DEFAULT_BASE_URL = "https://app.fakturoid.cz/api/v3"
ENGINE_LABEL = "Fakturoid"
# The vendor's own domains: an API URL elsewhere would hand the client secret to a stranger.
API_DOMAINS = ("fakturoid.cz",)
# engine-apis.md §1.4, vat_price_mode "without_vat": there is no line discount, so a discounted
# line travels as the listed line plus a discount line; each line's quantity × unit_price is
# rounded to cents and the VAT is computed once per rate on the sum (the recapitulation
# "vat_rates_summary"). The project's sandbox does the same.
ARITHMETIC = VatPerRate()
PAGE_SIZE = 40
# An identifier search that fills this many pages is not an identifier any more: stop there.
SEARCH_PAGES = 3


# Fakturoid invoice ``status`` -> the neutral status (document.REMOTE_STATUSES).
STATUSES = {
    "open": REMOTE_OPEN,
    "sent": REMOTE_SENT,
    "overdue": REMOTE_OVERDUE,
    "paid": REMOTE_PAID,
    "cancelled": REMOTE_CANCELLED,
    "uncollectible": REMOTE_UNCOLLECTIBLE,
}

# ISO 639-1 -> Fakturoid document language; anything else inherits the account default.
LANGUAGES = {
    "cs": "cz",
    "cz": "cz",
    "sk": "sk",
    "en": "en",
    "de": "de",
    "fr": "fr",
    "it": "it",
    "es": "es",
    "ru": "ru",
    "pl": "pl",
    "hu": "hu",
    "ro": "ro",
}
DISCOUNT_LABELS = {"cz": "Sleva", "sk": "Zľava"}
DEFAULT_DISCOUNT_LABEL = "Discount"
ROUNDING_LABELS = {"cz": "Zaokrouhlení", "sk": "Zaokrúhlenie"}
DEFAULT_ROUNDING_LABEL = "Rounding"
DECIMAL_COMMA_LANGUAGES = {"cz", "sk"}

# Subject fields Odoo owns: on update an empty value is sent as "" to clear
# what was there before. ``country`` is left out: Fakturoid would refuse "".
CLEARABLE_SUBJECT_FIELDS = (
    "email",
    "phone",
    "web",
    "street",
    "city",
    "zip",
    "registration_no",
    "vat_no",
    "local_vat_no",
)


# -- the dialect ---------------------------------------------------------------

USER_AGENT_ADVICE = (
    "Set a User-Agent with an application name and a contact e-mail, e.g. "
    "'Odoo (it@example.com)', in the engine settings."
)


class FakturoidDialect(Dialect):
    """Fakturoid's error bodies, its 402 and User-Agent rules, its ``X-RateLimit`` headers."""

    label = ENGINE_LABEL
    summary_keys = ("status", "error", "error_description", "message")
    forbidden_hint = (
        "Fakturoid also answers 403 to a User-Agent without a contact e-mail: set one in the engine settings."
    )

    def field_errors(self, body):
        """``{"errors": {field: [msg]}}`` and ``{"error": .., "error_description": ..}`` as ``{field: [msg]}``."""
        if not isinstance(body, dict):
            return {}
        errors = body.get("errors")
        if isinstance(errors, dict):
            return flatten_field_errors(errors)
        if isinstance(errors, list) and errors:
            return {"base": [str(message) for message in errors]}
        if body.get("error"):
            return {str(body["error"]): [str(body.get("error_description") or body["error"])]}
        return {}

    def client_error(self, status, body, detail):
        if status == 402:
            return AuthError(
                "The Fakturoid account is blocked for an unpaid Fakturoid subscription (HTTP 402). "
                f"Pay the overdue Fakturoid invoices{_overdue_invoice_urls(body)}, then sending resumes.",
                reason="account_blocked",
                status=status,
                details=body,
            )
        if status == 400 and "user-agent" in detail.lower().replace("_", "-").replace(" ", "-"):
            return AuthError(
                f"Fakturoid refused the request because of the User-Agent ({detail}). "
                f"{USER_AGENT_ADVICE}",
                reason="user_agent",
                status=status,
                details=body,
            )
        return None

    def invalid_header(self, exc):
        return AuthError(
            f"Fakturoid cannot be called with this User-Agent ({exc}). {USER_AGENT_ADVICE}",
            reason="user_agent",
        )

    def rate_limit_state(self, headers, previous):
        policy = _structured_params(headers.get("X-RateLimit-Policy"))
        current = _structured_params(headers.get("X-RateLimit"))
        if not policy and not current:
            return None
        return RateLimitState(
            limit=_as_int(policy.get("q"), previous.limit if previous else None),
            remaining=_as_int(current.get("r"), None),
            reset_after=_as_float(current.get("t"), None),
        )

    def retry_after(self, headers):
        reset = _as_float(_structured_params(headers.get("X-RateLimit")).get("t"), None)
        if reset is not None:
            return max(reset, 1.0)
        return super().retry_after(headers)


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


# -- OAuth -------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class TokenSet:
    """An access token with its expiry (epoch seconds) and, for the code flow, a refresh token."""

    access_token: str
    expires_at: float
    refresh_token: str | None = None

    def is_fresh(self, now, margin=60):
        return now + margin < self.expires_at

    def __repr__(self):
        # Never let a token reach a log line through repr().
        refresh = ", with refresh token" if self.refresh_token else ""
        return f"<TokenSet expires_at={self.expires_at:.0f}{refresh}>"


class FakturoidOAuth:
    """The OAuth 2 endpoints: authorization code, client credentials, refresh, revoke."""

    def __init__(
        self,
        base_url,
        client_id,
        client_secret,
        *,
        user_agent,
        on_exchange=None,
        clock=time.time,
        timeout=(5, 30),
        throttle=None,
    ):
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._transport = HttpTransport(
            self.base_url,
            dialect=FakturoidDialect(),
            user_agent=user_agent,
            timeout=timeout,
            on_exchange=on_exchange,
            throttle=throttle,
        )

    def authorize_url(self, redirect_uri, state):
        query = urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "state": state,
            }
        )
        return f"{self.base_url}/oauth?{query}"

    def client_credentials(self):
        return self._token({"grant_type": "client_credentials"})

    def exchange_code(self, code, redirect_uri):
        return self._token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        )

    def refresh(self, refresh_token):
        tokens = self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})
        if tokens.refresh_token:
            return tokens
        # Fakturoid answers a refresh without a new refresh token: the old one stays valid.
        return TokenSet(tokens.access_token, tokens.expires_at, refresh_token)

    def revoke(self, refresh_token):
        self._post("oauth_revoke", "oauth/revoke", {"token": refresh_token}, expect=EXPECT_NONE)

    def _token(self, body):
        data = self._post("oauth_token", "oauth/token", body).data
        if not isinstance(data, dict) or not data.get("access_token"):
            raise TransientError(
                "Fakturoid answered the sign-in without an access token. Try connecting again later."
            )
        expires_in = float(data.get("expires_in") or 7200)
        return TokenSet(
            access_token=data["access_token"],
            expires_at=self._clock() + expires_in,
            refresh_token=data.get("refresh_token") or None,
        )

    def _post(self, operation, path, body, expect="json"):
        try:
            return self._transport.request(
                operation,
                "POST",
                path,
                json=body,
                auth=(self.client_id, self._client_secret),
                expect=expect,
            )
        except (AuthError, Rejected) as error:
            raise _oauth_error(error) from None


def _oauth_error(error):
    """Give OAuth error codes (RFC 6749 §5.2) their meaning for a person."""
    code = error.details.get("error") if isinstance(error.details, dict) else None
    if code == "invalid_client" or (code is None and error.status == 401):
        return AuthError(
            "Fakturoid does not accept the Client ID and Client Secret. Copy them again from "
            "Fakturoid (Settings → User account → API v3 for your own account, or the OAuth app "
            "of the integration) into the engine settings.",
            reason="invalid_credentials",
            status=error.status,
            details=error.details,
        )
    if code == "invalid_grant":
        return AuthError(
            "The Fakturoid authorisation has expired or was revoked. Reconnect the Fakturoid "
            "engine from its settings.",
            reason="token_revoked",
            status=error.status,
            details=error.details,
        )
    return error


# -- the engine client ---------------------------------------------------------


class FakturoidClient(EngineClient):
    """``EngineClient`` for one Fakturoid account (``/accounts/{slug}/…``)."""

    engine_type = "fakturoid"
    capabilities = Capabilities(
        label=ENGINE_LABEL,
        default_base_url=DEFAULT_BASE_URL,
        api_domains=API_DOMAINS,
        credential=CREDENTIAL_OAUTH2,
        reads_back_documents=True,  # invoices.json?custom_id=
        customers=CUSTOMERS_SEPARATE,  # subjects
        async_pdf=True,  # download.pdf answers 204 while rendering
        reads_back_payments=True,  # payments are listed on the invoice
        call_limit=(400, 60),  # documented: 400 calls in 60 s per account
        # Fakturoid tells the calls left in every answer and the throttle stops at none left, so
        # 5 % is headroom enough for clocks and latencies; a 429 only pauses, it blocks nothing.
        call_margin=0.95,
        arithmetic=ARITHMETIC,  # what Fakturoid computes from the lines invoice_lines() sends
    )

    def __init__(
        self,
        base_url,
        account_slug,
        *,
        user_agent,
        token_provider,
        on_exchange=None,
        timeout=(5, 30),
        throttle=None,
    ):
        self.account_slug = account_slug
        self._account_path = f"accounts/{quote(account_slug, safe='')}"
        self._token_provider = token_provider
        self._transport = HttpTransport(
            base_url,
            dialect=FakturoidDialect(),
            user_agent=user_agent,
            timeout=timeout,
            on_exchange=on_exchange,
            throttle=throttle,
        )

    @property
    def rate_limit(self):
        return self._transport.rate_limit

    # -- account ---------------------------------------------------------

    def user(self):
        return self._call("user", "GET", "user.json", account_scoped=False).data

    def list_accounts(self):
        accounts = self.user().get("accounts") or []
        return [(account["slug"], account.get("name") or account["slug"]) for account in accounts]

    def check(self):
        data = self._call("check", "GET", "account.json").data or {}
        return AccountInfo(
            name=data.get("name") or self.account_slug,
            currency=data.get("currency") or "",
            country=data.get("country") or "",
            vat_mode=data.get("vat_mode") or "",
            details={
                key: data[key]
                for key in ("subdomain", "plan", "invoice_language", "vat_price_mode", "vat_rate",
                            "registration_no", "vat_no", "send_thank_you_email")
                if key in data
            },
        )

    def reference_data(self):
        formats = self._call("reference_data", "GET", "number_formats/invoices.json").data or []
        return ReferenceData(
            numberings=tuple(
                NumberingOption(
                    id=str(number_format["id"]),
                    name=number_format.get("format") or str(number_format["id"]),
                    is_default=bool(number_format.get("default")),
                    preview=number_format.get("preview") or "",
                )
                for number_format in formats
            )
        )

    # -- customers -------------------------------------------------------

    def upsert_customer(self, party, remote_id=None, *, match=True):
        if remote_id:
            try:
                return self._update_subject(remote_id, party)
            except NotFound:
                pass  # deleted in Fakturoid: find it again or create it
        existing = self.find_customer(party) if match else None
        if existing:
            return self._update_subject(existing.id, party)
        try:
            return self._create_subject(party)
        except Rejected as error:
            if "custom_id" not in error.field_errors:
                raise
            # Created meanwhile (another worker, or a lost answer): adopt it.
            existing = self.customer_by_key(party.key)
            if not existing:
                raise
            return self._update_subject(existing.id, party)

    def customer_by_key(self, key):
        subjects = self._call(
            "find_customer", "GET", "subjects.json", params={"custom_id": key}
        ).data or []
        matches = [subject for subject in subjects if str(subject.get("custom_id")) == key]
        return customer_candidate(matches[0], matched_on="key") if matches else None

    def search_customers(self, field, value):
        # Full-text over every identifier at once, so ``field`` cannot narrow it down.
        candidates = []
        for page in range(1, SEARCH_PAGES + 1):
            try:
                subjects = self._call(
                    "search_customers", "GET", "subjects/search.json", params={"query": value, "page": page}
                ).data or []
            except NotFound:
                break  # [I] one third-party client reports a 404 for a search without hits
            candidates.extend(customer_candidate(subject) for subject in subjects)
            if len(subjects) < PAGE_SIZE:
                break
        return candidates

    def _create_subject(self, party):
        payload = {key: value for key, value in subject_payload(party).items() if value}
        payload["type"] = "customer"
        data = self._call("create_customer", "POST", "subjects.json", json=payload).data
        return str(data["id"])

    def _update_subject(self, subject_id, party):
        payload = subject_payload(party)
        for key in list(payload):
            if not payload[key] and key not in CLEARABLE_SUBJECT_FIELDS:
                del payload[key]
        try:
            data = self._patch_subject(subject_id, payload)
        except Rejected as error:
            if "custom_id" not in error.field_errors:
                raise
            # The customer was relinked by hand to another subject while the first one still
            # carries our custom_id: update the chosen subject, leave identifiers as they are.
            del payload["custom_id"]
            data = self._patch_subject(subject_id, payload)
        return str(data["id"]) if data and data.get("id") else str(subject_id)

    def _patch_subject(self, subject_id, payload):
        return self._call(
            "update_customer", "PATCH", f"subjects/{path_id(subject_id)}.json", json=payload
        ).data

    # -- documents -------------------------------------------------------

    def prepare_create(self, document):
        return {"custom_id": document.key}

    def create_document(self, document, customer_id):
        payload = invoice_payload(document, customer_id)
        try:
            data = self._call(
                "create_document", "POST", "invoices.json", json=payload, is_create=True
            ).data
        except Rejected as error:
            if "subject_id" not in error.field_errors:
                raise
            # The subject was deleted in Fakturoid since it was linked.
            raise CustomerGone(
                error.message, field_errors=error.field_errors, status=error.status, details=error.details
            ) from None
        return remote_ref(data)

    def find_document(self, document, marker):
        invoices = self._call(
            "find_document", "GET", "invoices.json", params={"custom_id": document.key}
        ).data or []
        matches = sorted(
            (invoice for invoice in invoices if str(invoice.get("custom_id")) == document.key),
            key=lambda invoice: invoice["id"],
        )
        if not matches:
            return None
        if len(matches) > 1:
            numbers = ", ".join(invoice.get("number") or f"id {invoice['id']}" for invoice in matches)
            raise OutcomeUnknown(
                f"Fakturoid holds several documents for {document.reference or document.key} "
                f"({numbers}). Keep one: cancel or delete the others in Fakturoid, then link the "
                "right one to the Odoo document."
            )
        return remote_ref(matches[0])

    def get_document(self, remote_id):
        data = self._call("get_document", "GET", f"invoices/{path_id(remote_id)}.json").data
        return remote_ref(data)

    def fetch_pdf(self, ref):
        response = self._call(
            "fetch_pdf",
            "GET",
            f"invoices/{path_id(ref.id)}/download.pdf",
            headers={"Accept": "application/pdf"},
            expect=EXPECT_BYTES,
        )
        if response.status == 204 or not response.content:
            return None  # Fakturoid is still rendering it
        if not response.content.startswith(b"%PDF"):
            raise TransientError(
                f"Fakturoid sent something other than a PDF for {ref.number or ref.id}. "
                "It is fetched again later."
            )
        return response.content

    def document_status(self, ref):
        data = self._call("document_status", "GET", f"invoices/{path_id(ref.id)}.json").data
        return remote_status(data)

    # -- payments ----------------------------------------------------------

    def record_payment(self, ref, payment):
        payload = {"paid_on": payment.paid_on.isoformat(), "amount": decimal_str(payment.amount)}
        if payment.completes_document and payment.notify_customer is not None:
            payload["send_thank_you_email"] = payment.notify_customer
        # A lost answer may hide a stored payment: it surfaces as MaybeCreated and
        # the caller looks for it in ``document_status(ref).payments``.
        data = self._call(
            "record_payment",
            "POST",
            f"invoices/{path_id(ref.id)}/payments.json",
            json=payload,
            is_create=True,
        ).data
        return str(data["id"])

    def delete_payment(self, ref, remote_payment_id):
        try:
            self._call(
                "delete_payment",
                "DELETE",
                f"invoices/{path_id(ref.id)}/payments/{path_id(remote_payment_id)}.json",
                expect=EXPECT_NONE,
            )
        except NotFound:
            pass  # already gone: that is what we wanted

    # -- plumbing ----------------------------------------------------------

    def _call(self, operation, method, path, *, account_scoped=True, headers=None, **kwargs):
        """One API call; on a 401 get a fresh token once and repeat the call once.

        Repeating is safe even for a create: a 401 means Fakturoid processed nothing.
        """
        if account_scoped:
            path = f"{self._account_path}/{path}"
        try:
            return self._send(operation, method, path, headers, force_refresh=False, **kwargs)
        except AuthError as error:
            # Only Fakturoid refusing the token is worth a new one; a refused grant
            # (wrong client secret) comes from the token provider itself.
            if error.status != 401 or error.reason != "token_revoked":
                raise
        try:
            return self._send(operation, method, path, headers, force_refresh=True, **kwargs)
        except AuthError as error:
            if error.status != 401:
                raise
            raise AuthError(
                "Fakturoid refused even a freshly renewed access token (HTTP 401): the "
                "connection was revoked in Fakturoid. Reconnect the Fakturoid engine in its settings.",
                reason="token_revoked",
                status=401,
                details=error.details,
            ) from None

    def _send(self, operation, method, path, headers, *, force_refresh, **kwargs):
        access_token = self._token_provider(force_refresh)
        request_headers = {**(headers or {}), "Authorization": f"Bearer {access_token}"}
        return self._transport.request(operation, method, path, headers=request_headers, **kwargs)


# -- payloads (pure functions, easy to test) -----------------------------------


def subject_payload(party):
    """The Fakturoid subject for ``party``, every field present (empty when unknown)."""
    return {
        "custom_id": party.key,
        "name": party.name,
        "email": party.email,
        "phone": party.phone,
        "web": party.website,
        "street": ", ".join(part for part in (party.street, party.street2) if part),
        "city": party.city,
        "zip": party.zip,
        "country": (party.country_code or "").upper(),
        "registration_no": party.registration_no,
        "vat_no": party.vat_no,
        "local_vat_no": party.local_vat_no,
    }


def customer_candidate(subject, matched_on=""):
    return CustomerCandidate(
        id=str(subject["id"]),
        name=subject.get("name") or "",
        registration_no=subject.get("registration_no") or "",
        vat_no=subject.get("vat_no") or "",
        email=subject.get("email") or "",
        key=str(subject.get("custom_id") or ""),
        url=subject.get("html_url") or "",
        matched_on=matched_on,
    )


def invoice_payload(document, customer_id):
    language = fakturoid_language(document.language)
    payload = {
        "custom_id": document.key,
        "subject_id": wire_id(customer_id),
        "document_type": "correction" if document.is_credit_note else "invoice",
        "issued_on": document.issue_date.isoformat(),
        "taxable_fulfillment_due": document.taxable_supply_date.isoformat(),
        "due": document.due_days,
        "currency": document.currency,
        "payment_method": document.payment_method or "bank",
        "vat_price_mode": "without_vat",
        "round_total": False,
        "lines": invoice_lines(document, language),
    }
    if document.is_credit_note:
        payload["correction_id"] = wire_id(_original_id(document))
    if document.currency != document.company_currency and document.exchange_rate:
        payload["exchange_rate"] = decimal_str(document.exchange_rate)
    if language:
        payload["language"] = language
    if any(line.tax.kind == "reverse_charge" for line in document.lines):
        payload["transferred_tax_liability"] = True
    optional = {
        "variable_symbol": document.variable_symbol,
        "order_number": document.order_number,
        "note": document.note,
        "number_format_id": wire_id(document.numbering) if document.numbering else None,
        "private_note": f"Odoo: {document.reference}" if document.reference else None,
    }
    payload.update({key: value for key, value in optional.items() if value})
    return payload


def invoice_lines(document, language=""):
    """Each line as Fakturoid's arithmetic splits it: the listed line, then its adjustment."""
    sign = Decimal(-1) if document.is_credit_note else Decimal(1)
    lines = []
    for line in document.lines:
        for part in ARITHMETIC.split(line):
            wire_line = {
                "name": adjustment_line_name(line, language) if part.is_adjustment else line.name,
                "quantity": decimal_str(sign * part.quantity),
                "unit_price": decimal_str(part.unit_price),
                "vat_rate": json_number(part.rate),  # a JSON number, as Fakturoid wants it
            }
            if line.unit_name and not part.is_adjustment:
                wire_line["unit_name"] = line.unit_name
            lines.append(wire_line)
    return lines


def adjustment_line_name(line, language):
    if not line.discount_percent:
        return f"{ROUNDING_LABELS.get(language, DEFAULT_ROUNDING_LABEL)} \u2013 {line.name}"
    return discount_line_name(line, language)


def discount_line_name(line, language):
    percent = decimal_str(line.discount_percent)
    if language in DECIMAL_COMMA_LANGUAGES:
        percent = percent.replace(".", ",")
    label = DISCOUNT_LABELS.get(language, DEFAULT_DISCOUNT_LABEL)
    return f"{label} {percent} % \u2013 {line.name}"


def fakturoid_language(language):
    if not language:
        return ""
    return LANGUAGES.get(language.replace("-", "_").split("_")[0].lower(), "")


def remote_ref(data):
    return RemoteRef(
        id=str(data["id"]),
        number=data.get("number") or "",
        url=data.get("html_url") or "",
        total=_decimal_or_none(data.get("total")),
        status=STATUSES.get(data.get("status"), ""),
    )


def remote_status(data):
    status = STATUSES.get(data.get("status"), "")
    total = _decimal_or_none(data.get("total"))
    remaining = _decimal_or_none(data.get("remaining_amount"))
    return RemoteStatus(
        status=status,
        paid=status == REMOTE_PAID,
        cancelled=status == REMOTE_CANCELLED,
        paid_on=date.fromisoformat(data["paid_on"]) if data.get("paid_on") else None,
        total=total,
        remaining=remaining,
        paid_amount=total - remaining if total is not None and remaining is not None else None,
        payments=tuple(
            RemotePayment(
                id=str(payment["id"]),
                amount=Decimal(str(payment["amount"])),
                paid_on=date.fromisoformat(payment["paid_on"]) if payment.get("paid_on") else None,
            )
            for payment in data.get("payments") or ()
        ),
    )


def _decimal_or_none(value):
    return None if value in (None, "") else Decimal(str(value))


def _original_id(document):
    if document.original and document.original.id:
        return document.original.id
    raise Rejected(
        f"The credit note {document.reference} corrects "
        f"{document.original_reference or 'an invoice'} that was not sent to Fakturoid. "
        "Send the original invoice first (or link it to its Fakturoid invoice), then this credit note.",
        field_errors={"correction_id": ["the corrected invoice is not in Fakturoid"]},
    )
