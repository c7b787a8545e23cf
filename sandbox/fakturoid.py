"""A local Fakturoid API v3 server, faithful enough that our real client code is what gets tested.

Faithful (vendor docs, official client libraries, their test fixtures):
  - paths under ``/api/v3``, account-scoped ``/accounts/{slug}/...json``; 40 records a page;
  - mandatory ``User-Agent`` (400 without it); JSON bodies only (415 otherwise);
  - OAuth 2: consent page ``/oauth`` -> 302 with ``code`` and the ``state`` echoed; ``/oauth/token``
    with client id/secret in HTTP Basic only (the ``invalid_request`` message of fakturoid-php #34),
    client_credentials (no refresh token), authorization_code (refresh token), refresh_token
    (the answer carries no new refresh token), ``/oauth/revoke``; 7200 s tokens; a new access
    token invalidates the previous one of the same client and user; ``localhost`` redirect
    URIs refused;
  - response shapes: every key of the vendor fixtures ``invoice.json`` / ``subjects.json`` plus
    the v3 keys (documented attribute tables), decimals as strings ("48400.0"), ``vat_rate`` a
    number, subject ``custom_id`` always a string;
  - 422 ``{"errors": {field: [Czech messages]}}``; 402 ``{"status": "Account blocked",
    "overdue_invoices": [...]}``; 404 unknown ids; ``X-RateLimit-Policy`` / ``X-RateLimit``
    headers and 429; PDF answers 204 with an empty body until rendered;
  - subject ``custom_id`` unique per account; invoice ``custom_id`` NOT unique (only a filter);
  - corrections: ``document_type: correction`` + ``correction_id``; the original points back;
  - payments: ``POST invoices/{id}/payments.json`` -> 201, defaults (amount = remaining, paid_on =
    today, mark_document_as_paid when fully paid), ``send_thank_you_email`` only with
    ``mark_document_as_paid``; ``DELETE .../payments/{id}.json`` reopens the invoice;
  - the 422 "Číslo neodpovídá formátu čísla v nastavení." for an empty ``number``
    (ridercz/Fakturoid-API#19);
  - ``subjects/search.json?query=&page=``: full-text over name, full_name, email, email_copy,
    registration_no, vat_no and private_note only (the list of searched fields as the v3 docs'
    "Subjects search" section is quoted by PHP wrappers; reference §1.3 marks it unverified),
    40 a page, each subject in the same shape as ``subjects.json``.

Inferred [I] (not seen in vendor material; chosen to be plausible and easy to test):
  - how long rendering a PDF takes: by default the first download of each new or changed invoice
    answers 204 (``pdf_render_polls``); benchmarks render by time instead (``pdf_render_seconds``);
  - a User-Agent without a contact e-mail -> 403 on every endpoint (third-party report);
  - body texts of 401/403/404/415/429 and of the OAuth errors (Doorkeeper's standard wording),
    unknown account slug for the user -> 404 ``{"error": "not_found", ...}``;
  - the exact Czech validation texts except "je povinná položka" (rails-i18n cs wording);
  - ``vat_rate`` allowed per account country (CZ 0/12/21, SK 0/5/19/23); currency list;
  - a page past the last one answers ``[]``; invoices list newest first, subjects oldest first;
  - ``fire.json`` answers 204; locked documents refuse PATCH/DELETE with 403; a subject with
    documents refuses DELETE with 403 (API v2 docs);
  - numbering: per number format and calendar year of ``issued_on``, no reuse of deleted numbers;
  - money: without_vat -> VAT per rate = round(sum of line bases at that rate * rate, 2);
    from_total_with_vat -> VAT per rate = round(gross * rate / (100 + rate), 2);
    ``round_total`` rounds the total to whole units (no rounding line); no automatic "overdue";
  - the rate-limit window is a fixed window per account starting at its first call;
    ``w`` and ``t`` are whole seconds (rounded up) from 1 s on and floats below 1 s
    (only reachable with ``time_scale`` < 1);
  - revoking a refresh token also invalidates the access token obtained from it;
  - how the subject search matches: case-insensitive substring of any searched field (a superset
    of what a word index finds, so a client that compares exactly is tested the hard way); an
    empty query lists every subject; no hits answer ``[]`` (one third-party client reports a 404
    instead: our client reads both as "no candidates").
"""
import copy
import dataclasses
import itertools
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode, urlsplit

from .http import (
    Response,
    SandboxServer,
    empty_response,
    format_seconds,
    html_response,
    json_response,
    redirect_response,
)
from .pdf import text_pdf
from .values import Errors, as_int, cents, decimal_string, parse_date, time_zone, to_decimal

PRAGUE = time_zone("Europe/Prague")

API = "/api/v3"
ACCOUNT = API + "/accounts/{slug}"
TOKEN_LIFETIME = 7200
CODE_LIFETIME = 600
PAGE_SIZE = 40
DEFAULT_QUOTA = 400
DEFAULT_WINDOW = 60

VAT_RATES = {"CZ": (0, 12, 21), "SK": (0, 5, 19, 23)}
DEFAULT_VAT_RATE = {"CZ": 21, "SK": 23}
CURRENCIES = frozenset(
    "CZK EUR USD GBP PLN HUF CHF RON SEK NOK DKK BGN JPY CAD AUD NZD CNY RUB UAH TRY HRK ISK MXN BRL INR ZAR".split()
)
DOCUMENT_TYPES = ("invoice", "proforma", "partial_proforma", "correction", "tax_document", "final_invoice")
VAT_PRICE_MODES = ("without_vat", "from_total_with_vat")
SUBJECT_TYPES = ("customer", "supplier", "both")
ALLOWED_SCOPE = ["reports", "expenses", "invoices"]

MSG_BLANK = "je povinná položka"
MSG_INCLUSION = "není v seznamu povolených hodnot"
MSG_TAKEN = "již databáze obsahuje"
MSG_NOT_NUMBER = "není číslo"
MSG_NOT_INTEGER = "musí být celé číslo"
MSG_NOT_DATE = "není platné datum"
MSG_MISSING = "neexistuje"
MSG_NUMBER_FORMAT = "Číslo neodpovídá formátu čísla v nastavení."
MSG_UNCHANGEABLE = "nelze změnit"
MSG_THANK_YOU = "lze poslat jen spolu s označením dokladu jako zaplaceného"

INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI "
    "used in the authorization request, or was issued to another client."
)
BASIC_ONLY = "Client ID and Client Secret have to be sent via HTTP Basic Authorization"

SUBJECT_FIELDS = (
    "custom_id", "type", "name", "full_name", "email", "email_copy", "phone", "web",
    "street", "city", "zip", "country", "has_delivery_address", "delivery_name", "delivery_street",
    "delivery_city", "delivery_zip", "delivery_country", "due", "currency", "language",
    "registration_no", "vat_no", "local_vat_no", "legal_form", "vat_mode", "bank_account", "iban",
    "swift_bic", "variable_symbol", "setting_update_from_ares", "ares_update",
    "setting_invoice_pdf_attachments", "setting_estimate_pdf_attachments", "setting_invoice_send_reminders",
    "suggestion_enabled", "custom_email_text", "overdue_email_text", "invoice_from_proforma_email_text",
    "thank_you_email_text", "custom_estimate_email_text", "webinvoice_history", "private_note",
)
SUBJECT_DEFAULTS = {
    "type": "customer",
    "has_delivery_address": False,
    "setting_update_from_ares": "inherit",
    "ares_update": True,
    "setting_invoice_pdf_attachments": "inherit",
    "setting_estimate_pdf_attachments": "inherit",
    "setting_invoice_send_reminders": "inherit",
    "suggestion_enabled": True,
}
SUBJECT_SEARCHED_FIELDS = (
    "name", "full_name", "email", "email_copy", "registration_no", "vat_no", "private_note",
)
INVOICE_TEXT_FIELDS = (
    "order_number", "note", "footer_note", "private_note", "custom_payment_method", "supply_code",
)
INVOICE_FLAGS = ("transferred_tax_liability", "hide_bank_account", "paypal", "gopay", "show_already_paid_note_in_pdf")
CLIENT_OVERRIDES = (
    "client_name", "client_street", "client_city", "client_zip", "client_country", "client_registration_no",
    "client_vat_no", "client_local_vat_no", "client_has_delivery_address", "client_delivery_name",
    "client_delivery_street", "client_delivery_city", "client_delivery_zip", "client_delivery_country",
)
ID_BASES = {
    "user": 1001, "number_format": 301, "bank_account": 501, "subject": 16_000_001,
    "invoice": 27_000_001, "line": 38_000_001, "payment": 49_000_001,
}
EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


# --------------------------------------------------------------------------- values


def rate_number(value):
    """``vat_rate`` is a JSON number: 21, or 10.5."""
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def is_valid_date(value):
    try:
        parse_date(value)
    except ValueError:
        return False
    return True


def render_number_format(pattern, day, sequence):
    """Expand ``{YYYY}``, ``{YY}``, ``{MM}``, ``{DD}`` and ``{NNNN}`` (zero-padded sequence)."""

    def expand(match):
        name = match.group(1)
        if set(name) == {"N"}:
            return str(sequence).zfill(len(name))
        parts = {"YYYY": f"{day.year:04d}", "YY": f"{day.year % 100:02d}", "MM": f"{day.month:02d}",
                 "DD": f"{day.day:02d}"}
        return parts.get(name, match.group(0))

    return re.sub(r"\{([A-Z]+)\}", expand, pattern)


def random_token(length=10):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def error_body(status, error, description, headers=None):
    return json_response(status, {"error": error, "error_description": description}, headers)


def invalid(errors):
    return json_response(422, {"errors": errors})


def not_found(what="Record not found"):
    return error_body(404, "not_found", what)


def unauthorized(description):
    header = f'Bearer realm="Fakturoid", error="invalid_token", error_description="{description}"'
    return error_body(401, "invalid_token", description, {"WWW-Authenticate": header})


# --------------------------------------------------------------------------- state records


@dataclass
class Account:
    slug: str
    name: str
    currency: str
    country: str
    vat_mode: str
    registration_no: str
    created_at: str
    bank_account: dict
    number_formats: list
    blocked: bool = False
    overdue_invoice_path: str = ""  # Fakturoid's own ("robot") invoice the account has not paid
    subjects: dict = field(default_factory=dict)
    invoices: dict = field(default_factory=dict)
    sequences: dict = field(default_factory=dict)  # (number format id, year) -> last sequence used
    pdf_polls_left: dict = field(default_factory=dict)  # invoice id -> 204 answers still to give
    pdf_ready_at: dict = field(default_factory=dict)  # invoice id -> when its PDF is rendered (render time mode)
    window_started: float | None = None
    window_used: int = 0

    @property
    def vat_rates(self):
        return VAT_RATES.get(self.country, VAT_RATES["CZ"])

    @property
    def default_vat_rate(self):
        return 0 if self.vat_mode == "non_vat_payer" else DEFAULT_VAT_RATE.get(self.country, 21)

    @property
    def language(self):
        return "sk" if self.country == "SK" else "cz"


@dataclass
class ApiClient:
    client_id: str
    client_secret: str
    user: dict
    accounts: tuple | None  # None: every account of the sandbox
    redirect_uri: str | None


@dataclass
class AccessToken:
    client_id: str
    expires_at: float
    refresh_token: str | None


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    expires_at: float


@dataclass
class Totals:
    lines: list
    summary: list
    subtotal: Decimal
    total: Decimal
    paid: Decimal

    @property
    def remaining(self):
        return self.total - self.paid


# --------------------------------------------------------------------------- the sandbox


class FakturoidSandbox(SandboxServer):
    """Fakturoid API v3 from memory. See the module docstring for what is faithful."""

    def __init__(self, host="127.0.0.1", port=0, time_scale=1.0):
        super().__init__(host, port, time_scale)
        self._forget_everything()
        self._register_api_routes()
        self._register_control_routes()

    @property
    def api_url(self):
        return self.url + API

    # ================================================================ Python API

    def reset(self):
        """Forget accounts, clients, tokens, documents, faults and the request log; restore defaults."""
        super().reset()
        with self._lock:
            self._forget_everything()

    def add_account(self, slug, name="Demo s.r.o.", currency="CZK", country="CZ", vat_mode="vat_payer",
                    registration_no="12345678"):
        with self._lock:
            if slug in self._accounts:
                raise ValueError(f"account {slug!r} exists")
            now = self._timestamp()
            account = Account(
                slug=slug, name=name, currency=currency, country=country, vat_mode=vat_mode,
                registration_no=registration_no, created_at=now,
                bank_account=self._new_bank_account(currency, now),
                number_formats=[self._new_number_format("{YYYY}-{NNNN}", True, now),
                                self._new_number_format("OD{YYYY}{NNNN}", False, now)],
            )
            self._accounts[slug] = account
            return self._account_body(account)

    def add_client(self, client_id, client_secret, *, user_email="ucetni@example.cz", user_name="Účetní",
                   accounts=None, redirect_uri=None):
        """One Fakturoid user with API credentials, for client_credentials and authorization_code alike.

        ``accounts=None`` gives the user every account of the sandbox, present and future.
        """
        with self._lock:
            self._drop_tokens(client_id)
            user = {"id": self._next_id("user"), "full_name": user_name, "email": user_email}
            slugs = tuple(accounts) if accounts is not None else None
            self._clients[client_id] = ApiClient(client_id, client_secret, user, slugs, redirect_uri)
            return {"client_id": client_id, "user_id": user["id"]}

    def add_subject(self, slug, **values):
        """A subject as if someone had created it in Fakturoid; returns it in the API shape."""
        with self._lock:
            account = self._accounts[slug]
            errors = self._subject_errors(account, values, None)
            if errors:
                raise ValueError(errors)
            subject = self._new_subject(values, user_id=None)
            account.subjects[subject["id"]] = subject
            return self._render_subject(account, subject)

    def issue_token(self, client_id):
        """An access token as if client_credentials ran (the previous one stops working)."""
        with self._lock:
            if client_id not in self._clients:
                raise KeyError(client_id)
            return self._new_access_token(client_id)

    def revoke_tokens(self, client_id):
        with self._lock:
            self._drop_tokens(client_id)

    def expire_tokens(self, client_id):
        """The client's access tokens reach their expiry now (Fakturoid answers 401 "expired")."""
        with self._lock:
            for token, record in self._access_tokens.items():
                if record.client_id == client_id:
                    self._access_tokens[token] = dataclasses.replace(record, expires_at=self.clock())

    def block_account(self, slug, blocked=True):
        with self._lock:
            account = self._accounts[slug]
            account.blocked = bool(blocked)
            if blocked and not account.overdue_invoice_path:
                account.overdue_invoice_path = f"/robot/p/{random_token()}/{self._today().year}-0002"

    def set_rate_limit(self, quota=DEFAULT_QUOTA, window=DEFAULT_WINDOW):
        """Per account; the window is multiplied by ``time_scale``. Restarts every account's window."""
        with self._lock:
            self.rate_quota, self.rate_window = int(quota), float(window)
            for account in self._accounts.values():
                account.window_started, account.window_used = None, 0

    def state(self, slug):
        """Deep copies in API shapes; payments flattened with their ``invoice_id``."""
        with self._lock:
            account = self._accounts[slug]
            invoices = [account.invoices[key] for key in sorted(account.invoices)]
            return copy.deepcopy({
                "subjects": [self._render_subject(account, account.subjects[key]) for key in sorted(account.subjects)],
                "invoices": [self._render_invoice(account, invoice) for invoice in invoices],
                "payments": [
                    dict(self._render_payment(account, invoice, payment), invoice_id=invoice["id"])
                    for invoice in invoices for payment in invoice["payments"]
                ],
            })

    # ================================================================ bookkeeping

    def _forget_everything(self):
        self._accounts = {}
        self._clients = {}
        self._access_tokens = {}
        self._current_access = {}  # client id -> the only access token still valid
        self._refresh_tokens = {}  # refresh token -> client id
        self._codes = {}
        self._ids = {kind: itertools.count(base) for kind, base in ID_BASES.items()}
        self.pdf_render_polls = 1
        # Rendering by time instead of by polls: the PDF is there this many seconds (× time_scale)
        # after the invoice was written, as on Fakturoid, whatever the polls. None: by polls.
        self.pdf_render_seconds = None
        self.rate_quota, self.rate_window = DEFAULT_QUOTA, float(DEFAULT_WINDOW)

    def _next_id(self, kind):
        return next(self._ids[kind])

    def _now(self):
        return datetime.fromtimestamp(self.clock(), PRAGUE)

    def _timestamp(self):
        return self._now().isoformat(timespec="milliseconds")

    def _today(self):
        return self._now().date()

    def _new_bank_account(self, currency, now):
        return {
            "id": self._next_id("bank_account"), "name": "Hlavní účet", "currency": currency,
            "number": "1234567890/0100", "iban": None, "swift_bic": None, "pairing": False,
            "expense_pairing": False, "payment_adding": False, "default": True,
            "created_at": now, "updated_at": now,
        }

    def _new_number_format(self, pattern, default, now):
        return {"id": self._next_id("number_format"), "format": pattern, "default": default,
                "created_at": now, "updated_at": now}

    # ================================================================ routes

    def _register_api_routes(self):
        add = self.router.add
        add("GET", API + "/oauth", self._consent_page, "consent")
        add("POST", API + "/oauth/token", self._token, "oauth")
        add("POST", API + "/oauth/revoke", self._revoke, "oauth")
        add("GET", API + "/user.json", self._user, "user")
        account_routes = [
            ("GET", "/account.json", self._get_account),
            ("GET", "/bank_accounts.json", self._list_bank_accounts),
            ("GET", "/number_formats/invoices.json", self._list_number_formats),
            ("GET", "/subjects.json", self._list_subjects),
            ("GET", "/subjects/search.json", self._search_subjects),
            ("POST", "/subjects.json", self._create_subject),
            ("GET", "/subjects/{id}.json", self._get_subject),
            ("PATCH", "/subjects/{id}.json", self._update_subject),
            ("PUT", "/subjects/{id}.json", self._update_subject),
            ("DELETE", "/subjects/{id}.json", self._delete_subject),
            ("GET", "/invoices.json", self._list_invoices),
            ("GET", "/invoices/search.json", self._search_invoices),
            ("POST", "/invoices.json", self._create_invoice),
            ("GET", "/invoices/{id}.json", self._get_invoice),
            ("PATCH", "/invoices/{id}.json", self._update_invoice),
            ("PUT", "/invoices/{id}.json", self._update_invoice),
            ("DELETE", "/invoices/{id}.json", self._delete_invoice),
            ("POST", "/invoices/{id}/fire.json", self._fire),
            ("GET", "/invoices/{id}/download.pdf", self._download_pdf),
            ("POST", "/invoices/{id}/payments.json", self._create_payment),
            ("DELETE", "/invoices/{id}/payments/{payment_id}.json", self._delete_payment),
        ]
        for method, path, handler in account_routes:
            add(method, ACCOUNT + path, handler, "account")

    # ================================================================ the request pipeline

    def dispatch(self, request):
        route, params = self.router.match(request.method, request.path)
        if route is None:
            return not_found(f"No route matches {request.method} {request.path}")
        if route == "method_not_allowed":
            return error_body(405, "method_not_allowed", f"{request.method} is not allowed on {request.path}")
        request.params = params
        if route.kind == "consent":  # a browser page: no API header rules
            with self._lock:
                return route.handler(request)
        refusal = self._refuse_user_agent(request) or self._refuse_media_type(request, route.kind)
        if refusal:
            return refusal
        try:
            payload = self._payload(request)
        except (ValueError, UnicodeDecodeError):
            return error_body(400, "invalid_request", "The request body is not valid JSON.")
        with self._lock:
            return self._authorized_call(route, request, payload)

    def _authorized_call(self, route, request, payload):
        if route.kind == "oauth":
            return route.handler(request, payload)
        client, refusal = self._authenticate(request)
        if refusal:
            return refusal
        request.user = client.user
        if route.kind == "user":
            return route.handler(request, client)
        account = self._account_for(client, request.params["slug"])
        if account is None:
            return not_found("Account not found")
        return self._account_call(route, request, account, payload)

    def _account_call(self, route, request, account, payload):
        allowed, headers = self._count_call(account)
        if not allowed:
            response = self._too_many_requests(headers)
        elif account.blocked:
            response = json_response(402, self._blocked_body(account))
        else:
            response = route.handler(request, account, payload if payload is not None else {})
        response.headers.update(headers)
        return response

    @staticmethod
    def _refuse_user_agent(request):
        agent = (request.headers.get("User-Agent") or "").strip()
        if not agent:
            return error_body(400, "invalid_request",
                              "User-Agent header is required, in the form 'YourApp (contact@example.com)'.")
        if not EMAIL_IN_TEXT.search(agent):
            return error_body(403, "forbidden",
                              "User-Agent header must contain a contact e-mail: 'YourApp (contact@example.com)'.")
        return None

    @staticmethod
    def _refuse_media_type(request, kind):
        if request.method not in ("POST", "PATCH", "PUT") or not request.body.strip():
            return None
        accepted = ["application/json"]
        if kind == "oauth":  # Doorkeeper also reads form-encoded token requests
            accepted.append("application/x-www-form-urlencoded")
        if request.content_type in accepted:
            return None
        return error_body(415, "unsupported_media_type", "Content-Type must be application/json.")

    @staticmethod
    def _payload(request):
        if request.content_type == "application/x-www-form-urlencoded":
            return request.form()
        return request.json()

    def _authenticate(self, request):
        token = request.bearer_token()
        record = self._access_tokens.get(token) if token else None
        if record is None:
            return None, unauthorized("The access token is invalid")
        if self._current_access.get(record.client_id) != token:
            return None, unauthorized("The access token was revoked")
        if self.clock() >= record.expires_at:
            return None, unauthorized("The access token expired")
        return self._clients[record.client_id], None

    def _account_for(self, client, slug):
        account = self._accounts.get(slug)
        if account is None or (client.accounts is not None and slug not in client.accounts):
            return None
        return account

    # ---- rate limit

    def _count_call(self, account):
        now, window = self.clock(), self.scaled(self.rate_window)
        if account.window_started is None or now - account.window_started >= window:
            account.window_started, account.window_used = now, 0
        reset_in = account.window_started + window - now
        if account.window_used >= self.rate_quota:
            return False, self._rate_headers(0, reset_in)
        account.window_used += 1
        return True, self._rate_headers(self.rate_quota - account.window_used, reset_in)

    def _rate_headers(self, remaining, reset_in):
        return {
            "X-RateLimit-Policy": f"default;q={self.rate_quota};w={format_seconds(self.scaled(self.rate_window))}",
            "X-RateLimit": f"default;r={remaining};t={format_seconds(reset_in)}",
        }

    @staticmethod
    def _too_many_requests(headers):
        return error_body(429, "too_many_requests", "Rate limit exceeded, see the X-RateLimit header.", headers)

    def rate_limited_response(self, request, reset_seconds):
        return self._too_many_requests(self._rate_headers(0, float(reset_seconds)))

    def _blocked_body(self, account):
        overdue = [{"invoice_url": self.url + account.overdue_invoice_path}]
        return {"status": "Account blocked", "overdue_invoices": overdue}

    # ================================================================ OAuth

    def _consent_page(self, request):
        """Fakturoid's consent screen, auto-consented: 302 back with a code and the state."""
        query = request.query
        client = self._clients.get(query.get("client_id", ""))
        if client is None:
            return html_response(400, "Neplatný požadavek", "Neznámá aplikace (client_id).")
        if query.get("response_type") != "code":
            return html_response(400, "Neplatný požadavek", "Parametr response_type musí být 'code'.")
        redirect_uri = query.get("redirect_uri", "")
        problem = self._redirect_uri_problem(client, redirect_uri)
        if problem:
            return html_response(400, "Neplatný požadavek", problem)
        code = secrets.token_urlsafe(24)
        self._codes[code] = AuthCode(client.client_id, redirect_uri, self.clock() + CODE_LIFETIME)
        answer = {"code": code}
        if "state" in query:
            answer["state"] = query["state"]
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return redirect_response(redirect_uri + separator + urlencode(answer))

    @staticmethod
    def _redirect_uri_problem(client, redirect_uri):
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "Parametr redirect_uri chybí nebo není platná adresa."
        if parts.hostname == "localhost":
            return "Adresa localhost není jako redirect_uri povolena."
        if client.redirect_uri and redirect_uri != client.redirect_uri:
            return "Parametr redirect_uri neodpovídá nastavení aplikace."
        return None

    def _token(self, request, payload):
        payload = payload if isinstance(payload, dict) else {}
        client, refusal = self._client_from_basic(request, payload)
        if refusal:
            return refusal
        grant = payload.get("grant_type")
        if grant == "client_credentials":
            return self._token_answer(self._new_access_token(client.client_id))
        if grant == "authorization_code":
            return self._exchange_code(client, payload)
        if grant == "refresh_token":
            return self._refresh(client, payload)
        if not grant:
            return error_body(400, "invalid_request", "Missing required parameter: grant_type.")
        return error_body(400, "unsupported_grant_type",
                          "The authorization grant type is not supported by the authorization server.")

    def _client_from_basic(self, request, payload):
        credentials = request.basic_auth()
        if credentials is None:
            if "client_id" in payload or "client_secret" in payload:
                return None, error_body(400, "invalid_request", BASIC_ONLY)
            return None, error_body(401, "invalid_client", INVALID_CLIENT)
        client = self._clients.get(credentials[0])
        if client is None or not secrets.compare_digest(client.client_secret, credentials[1]):
            return None, error_body(401, "invalid_client", INVALID_CLIENT)
        return client, None

    def _exchange_code(self, client, payload):
        code = self._codes.get(str(payload.get("code") or ""))
        if (code is None or code.client_id != client.client_id or self.clock() >= code.expires_at
                or payload.get("redirect_uri") != code.redirect_uri):
            return error_body(400, "invalid_grant", INVALID_GRANT)
        del self._codes[str(payload["code"])]  # single use
        refresh_token = secrets.token_hex(32)
        self._refresh_tokens[refresh_token] = client.client_id
        access_token = self._new_access_token(client.client_id, refresh_token)
        return self._token_answer(access_token, refresh_token)

    def _refresh(self, client, payload):
        refresh_token = str(payload.get("refresh_token") or "")
        if self._refresh_tokens.get(refresh_token) != client.client_id:
            return error_body(400, "invalid_grant", INVALID_GRANT)
        # Fakturoid keeps the refresh token valid and does not send it again.
        return self._token_answer(self._new_access_token(client.client_id, refresh_token))

    def _revoke(self, request, payload):
        payload = payload if isinstance(payload, dict) else {}
        client, refusal = self._client_from_basic(request, payload)
        if refusal:
            return refusal
        token = str(payload.get("token") or "")
        if self._refresh_tokens.get(token) == client.client_id:
            del self._refresh_tokens[token]
            self._forget_access_tokens(lambda record: record.refresh_token == token)
        else:
            self._forget_access_tokens(lambda record: record is self._access_tokens.get(token)
                                       and record.client_id == client.client_id)
        return json_response(200, {})

    @staticmethod
    def _token_answer(access_token, refresh_token=None):
        answer = {"access_token": access_token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME}
        if refresh_token:
            answer["refresh_token"] = refresh_token
        return json_response(200, answer, {"Cache-Control": "no-store"})

    def _new_access_token(self, client_id, refresh_token=None):
        token = secrets.token_hex(32)
        self._access_tokens[token] = AccessToken(client_id, self.clock() + TOKEN_LIFETIME, refresh_token)
        self._current_access[client_id] = token  # the previous token of this client and user dies here
        return token

    def _forget_access_tokens(self, condition):
        for token, record in list(self._access_tokens.items()):
            if condition(record):
                del self._access_tokens[token]
                if self._current_access.get(record.client_id) == token:
                    del self._current_access[record.client_id]

    def _drop_tokens(self, client_id):
        self._forget_access_tokens(lambda record: record.client_id == client_id)
        for token in [t for t, owner in self._refresh_tokens.items() if owner == client_id]:
            del self._refresh_tokens[token]
        for code in [c for c, record in self._codes.items() if record.client_id == client_id]:
            del self._codes[code]

    # ================================================================ user, account, reference data

    def _user(self, request, client):
        slugs = [slug for slug in self._accounts if self._account_for(client, slug)]
        user = client.user
        return json_response(200, {
            "id": user["id"], "full_name": user["full_name"], "email": user["email"],
            "avatar_url": f"{self.url}/images/avatar.png", "default_account": slugs[0] if slugs else None,
            "permission": "owner", "allowed_scope": list(ALLOWED_SCOPE),
            "accounts": [self._user_account(self._accounts[slug]) for slug in slugs],
        })

    def _user_account(self, account):
        return {"slug": account.slug, "logo": f"{self.url}/images/logo-{account.slug}.png", "name": account.name,
                "registration_no": account.registration_no, "permission": "owner",
                "allowed_scope": list(ALLOWED_SCOPE)}

    def _get_account(self, request, account, payload):
        return json_response(200, self._account_body(account))

    def _account_body(self, account):
        return {
            "subdomain": account.slug, "plan": "Komplet", "plan_price": 0, "plan_paid_users": 1,
            "invoice_email": f"faktury@{account.slug}.example", "phone": None, "web": None,
            "name": account.name, "full_name": None, "registration_no": account.registration_no,
            "vat_no": self._your_vat_no(account), "local_vat_no": None,
            "street": "Vinohradská 1", "city": "Praha" if account.country == "CZ" else "Bratislava",
            "zip": "12000", "country": account.country, "currency": account.currency, "unit_name": "ks",
            "vat_rate": account.default_vat_rate, "displayed_note": "", "invoice_note": "", "due": 14,
            "invoice_language": account.language, "invoice_payment_method": None, "invoice_proforma": False,
            "invoice_hide_bank_account_for_payments": [], "fixed_exchange_rate": False,
            "invoice_selfbilling": False, "default_estimate_type": None, "send_overdue_email": False,
            "overdue_email_days": 3, "send_repeated_reminders": False, "send_invoice_from_proforma_email": False,
            "send_thank_you_email": False, "invoice_paypal": False, "invoice_gopay": False,
            "digitoo_enabled": False, "digitoo_auto_processing_enabled": False, "digitoo_extractions_remaining": 0,
            "vat_mode": account.vat_mode, "vat_price_mode": "without_vat",
            "created_at": account.created_at, "updated_at": account.created_at,
        }

    @staticmethod
    def _your_vat_no(account):
        return "" if account.vat_mode == "non_vat_payer" else f"{account.country}{account.registration_no}"

    def _list_bank_accounts(self, request, account, payload):
        return json_response(200, [dict(account.bank_account)])

    def _list_number_formats(self, request, account, payload):
        today = self._today()
        formats = []
        for number_format in account.number_formats:
            following = account.sequences.get((number_format["id"], today.year), 0) + 1
            preview = render_number_format(number_format["format"], today, following)
            formats.append(dict(number_format, preview=preview))
        return json_response(200, formats)

    # ================================================================ listing helpers

    @staticmethod
    def _page(request, items):
        """Slice one page of 40, or ``None`` when ``page`` is not a number."""
        page = as_int(request.query.get("page", "1"))
        if page is None:
            return None
        page = max(page, 1)
        return items[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]

    @staticmethod
    def _time_filter(request, name):
        """Parsed ISO datetime query parameter; ``(None, None)`` when absent, ``(None, error)`` when bad."""
        raw = request.query.get(name)
        if not raw:
            return None, None
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None, error_body(400, "invalid_request", f"Invalid '{name}' parameter.")
        return (moment if moment.tzinfo else moment.replace(tzinfo=PRAGUE)), None

    def _filter_by_times(self, request, items, filters):
        """``filters``: query name -> (record key, keep-if comparison). Returns ``(items, error)``."""
        for name, (key, keep) in filters.items():
            moment, error = self._time_filter(request, name)
            if error:
                return None, error
            if moment is not None:
                items = [item for item in items if keep(datetime.fromisoformat(item[key]), moment)]
        return items, None

    def _paged_answer(self, request, items, render):
        page = self._page(request, items)
        if page is None:
            return error_body(400, "invalid_request", "Page does not exist.")
        return json_response(200, [render(item) for item in page])

    # ================================================================ subjects

    def _list_subjects(self, request, account, payload):
        subjects = [account.subjects[key] for key in sorted(account.subjects)]
        if "custom_id" in request.query:
            subjects = [s for s in subjects if s["custom_id"] == request.query["custom_id"]]
        subjects, error = self._filter_by_times(request, subjects, {
            "since": ("created_at", lambda value, moment: value >= moment),
            "updated_since": ("updated_at", lambda value, moment: value >= moment),
        })
        if error:
            return error
        return self._paged_answer(request, subjects, lambda s: self._render_subject(account, s))

    def _search_subjects(self, request, account, payload):
        query = (request.query.get("query") or "").lower()
        subjects = [
            subject for subject in (account.subjects[key] for key in sorted(account.subjects))
            if any(query in str(subject.get(name) or "").lower() for name in SUBJECT_SEARCHED_FIELDS)
        ]
        return self._paged_answer(request, subjects, lambda s: self._render_subject(account, s))

    def _get_subject(self, request, account, payload):
        subject = account.subjects.get(as_int(request.params["id"]))
        if subject is None:
            return not_found()
        return json_response(200, self._render_subject(account, subject))

    def _create_subject(self, request, account, payload):
        payload = payload if isinstance(payload, dict) else {}
        errors = self._subject_errors(account, payload, None)
        if errors:
            return invalid(errors)
        subject = self._new_subject(payload, user_id=request.user["id"])
        account.subjects[subject["id"]] = subject
        rendered = self._render_subject(account, subject)
        return json_response(201, rendered, {"Location": rendered["url"]})

    def _update_subject(self, request, account, payload):
        subject = account.subjects.get(as_int(request.params["id"]))
        if subject is None:
            return not_found()
        payload = payload if isinstance(payload, dict) else {}
        errors = self._subject_errors(account, payload, subject)
        if errors:
            return invalid(errors)
        self._apply_subject_fields(subject, payload)
        subject["updated_at"] = self._timestamp()
        return json_response(200, self._render_subject(account, subject))

    def _delete_subject(self, request, account, payload):
        subject_id = as_int(request.params["id"])
        if subject_id not in account.subjects:
            return not_found()
        if any(invoice["subject_id"] == subject_id for invoice in account.invoices.values()):
            return error_body(403, "forbidden", "Kontakt s vystavenými doklady nelze smazat.")
        del account.subjects[subject_id]
        return empty_response(204)

    def _new_subject(self, payload, user_id):
        now = self._timestamp()
        subject = dict.fromkeys(SUBJECT_FIELDS)
        subject.update(SUBJECT_DEFAULTS)
        subject.update(id=self._next_id("subject"), street2=None, unreliable=None, unreliable_checked_at=None,
                       user_id=user_id, created_at=now, updated_at=now)
        self._apply_subject_fields(subject, payload)
        return subject

    @staticmethod
    def _subject_errors(account, payload, current):
        errors = Errors()
        if (current is None or "name" in payload) and not str(payload.get("name") or "").strip():
            errors.add("name", MSG_BLANK)
        if "type" in payload and payload["type"] not in SUBJECT_TYPES:
            errors.add("type", MSG_INCLUSION)
        custom_id = payload.get("custom_id")
        if custom_id not in (None, ""):
            for other in account.subjects.values():
                if other is not current and other["custom_id"] == str(custom_id):
                    errors.add("custom_id", MSG_TAKEN)
        return errors

    @staticmethod
    def _apply_subject_fields(subject, payload):
        for name in SUBJECT_FIELDS:
            if name in payload:
                subject[name] = payload[name]
        if subject["custom_id"] is not None:
            subject["custom_id"] = str(subject["custom_id"])  # Fakturoid always answers a string
        if "ares_update" in payload and "setting_update_from_ares" not in payload:
            subject["setting_update_from_ares"] = "on" if payload["ares_update"] else "off"

    def _render_subject(self, account, subject):
        rendered = copy.deepcopy(subject)
        rendered.update(
            avatar_url=f"{self.url}/images/company-contact.png",
            html_url=f"{self.url}/{account.slug}/subjects/{subject['id']}",
            url=f"{self.api_url}/accounts/{account.slug}/subjects/{subject['id']}.json",
        )
        return rendered

    # ================================================================ invoices: reading

    def _list_invoices(self, request, account, payload):
        invoices = sorted(account.invoices.values(), key=lambda invoice: invoice["id"], reverse=True)
        for name in ("custom_id", "number", "status", "document_type"):
            if name in request.query:
                invoices = [i for i in invoices if str(i[name]) == request.query[name]]
        if "subject_id" in request.query:
            subject_id = as_int(request.query["subject_id"])
            if subject_id not in account.subjects:
                return not_found("Subject not found")
            invoices = [i for i in invoices if i["subject_id"] == subject_id]
        invoices, error = self._filter_by_times(request, invoices, {
            "since": ("created_at", lambda value, moment: value >= moment),
            "until": ("created_at", lambda value, moment: value <= moment),
            "updated_since": ("updated_at", lambda value, moment: value >= moment),
            "updated_until": ("updated_at", lambda value, moment: value <= moment),
        })
        if error:
            return error
        return self._paged_answer(request, invoices, lambda i: self._render_invoice(account, i))

    def _search_invoices(self, request, account, payload):
        query = (request.query.get("query") or "").lower()
        invoices = [
            invoice for invoice in sorted(account.invoices.values(), key=lambda i: i["id"], reverse=True)
            if any(query in str(invoice.get(name) or "").lower() for name in ("number", "client_name", "note"))
        ]
        return self._paged_answer(request, invoices, lambda i: self._render_invoice(account, i))

    def _get_invoice(self, request, account, payload):
        invoice = account.invoices.get(as_int(request.params["id"]))
        if invoice is None:
            return not_found()
        return json_response(200, self._render_invoice(account, invoice))

    def _start_rendering(self, account, invoice_id):
        account.pdf_polls_left[invoice_id] = self.pdf_render_polls
        if self.pdf_render_seconds is not None:
            account.pdf_ready_at[invoice_id] = self.clock() + self.scaled(self.pdf_render_seconds)

    def _pdf_still_rendering(self, account, invoice_id):
        if self.pdf_render_seconds is not None:
            return self.clock() < account.pdf_ready_at.get(invoice_id, 0)
        polls_left = account.pdf_polls_left.get(invoice_id, 0)
        if polls_left > 0:
            account.pdf_polls_left[invoice_id] = polls_left - 1
            return True
        return False

    def _download_pdf(self, request, account, payload):
        invoice = account.invoices.get(as_int(request.params["id"]))
        if invoice is None:
            return not_found()
        if self._pdf_still_rendering(account, invoice["id"]):
            return empty_response(204)
        totals = self._totals(account, invoice)
        pdf = text_pdf([
            f"Faktura {invoice['number']}", account.name, f"Odberatel: {invoice['client_name']}",
            f"Datum vystaveni: {invoice['issued_on']}", f"Celkem: {decimal_string(totals.total)} {invoice['currency']}",
        ])
        disposition = f'attachment; filename="{invoice["number"]}.pdf"'
        return Response(200, pdf, {"Content-Type": "application/pdf", "Content-Disposition": disposition})

    # ================================================================ invoices: writing

    def _create_invoice(self, request, account, payload):
        payload = payload if isinstance(payload, dict) else {}
        errors = self._invoice_errors(account, payload, None)
        if errors:
            return invalid(errors)
        invoice = self._new_invoice(account, payload)
        account.invoices[invoice["id"]] = invoice
        if invoice["document_type"] == "correction":
            account.invoices[invoice["correction_id"]]["correction_id"] = invoice["id"]
        self._start_rendering(account, invoice["id"])
        rendered = self._render_invoice(account, invoice)
        return json_response(201, rendered, {"Location": rendered["url"]})

    def _update_invoice(self, request, account, payload):
        invoice = account.invoices.get(as_int(request.params["id"]))
        if invoice is None:
            return not_found()
        if invoice["locked_at"]:
            return error_body(403, "forbidden", "Zamčený doklad nelze upravit.")
        payload = payload if isinstance(payload, dict) else {}
        errors = self._invoice_errors(account, payload, invoice)
        if errors:
            return invalid(errors)
        self._apply_invoice_update(account, invoice, payload)
        self._start_rendering(account, invoice["id"])
        return json_response(200, self._render_invoice(account, invoice))

    def _delete_invoice(self, request, account, payload):
        invoice = account.invoices.get(as_int(request.params["id"]))
        if invoice is None:
            return not_found()
        if invoice["locked_at"]:
            return error_body(403, "forbidden", "Zamčený doklad nelze smazat.")
        del account.invoices[invoice["id"]]
        account.pdf_polls_left.pop(invoice["id"], None)
        for other in account.invoices.values():
            if other["correction_id"] == invoice["id"]:
                other["correction_id"] = None
        return empty_response(204)

    def _fire(self, request, account, payload):
        invoice = account.invoices.get(as_int(request.params["id"]))
        if invoice is None:
            return not_found()
        event = request.query.get("event") or (payload.get("event") if isinstance(payload, dict) else None)
        transition = {
            "mark_as_sent": self._mark_as_sent, "cancel": self._cancel, "undo_cancel": self._undo_cancel,
            "lock": self._lock_invoice, "unlock": self._unlock_invoice,
            "mark_as_uncollectible": self._mark_as_uncollectible, "undo_uncollectible": self._undo_uncollectible,
        }.get(event)
        if transition is None:
            return invalid({"event": [MSG_INCLUSION]})
        refusal = transition(invoice)
        if refusal:
            return invalid(refusal)
        invoice["updated_at"] = self._timestamp()
        return empty_response(204)

    def _mark_as_sent(self, invoice):
        invoice["sent_at"] = self._timestamp()
        if invoice["status"] == "open":
            invoice["status"] = "sent"

    def _cancel(self, invoice):
        if invoice["status"] == "paid":
            return {"status": ["Zaplacený doklad nelze stornovat."]}
        invoice["status"], invoice["cancelled_at"] = "cancelled", self._timestamp()
        return None

    def _undo_cancel(self, invoice):
        if invoice["status"] == "cancelled":
            invoice["status"], invoice["cancelled_at"] = self._unpaid_status(invoice), None

    def _lock_invoice(self, invoice):
        invoice["locked_at"] = self._timestamp()

    def _unlock_invoice(self, invoice):
        invoice["locked_at"] = None

    def _mark_as_uncollectible(self, invoice):
        invoice["status"], invoice["uncollectible_at"] = "uncollectible", self._timestamp()

    def _undo_uncollectible(self, invoice):
        if invoice["status"] == "uncollectible":
            invoice["status"], invoice["uncollectible_at"] = self._unpaid_status(invoice), None

    @staticmethod
    def _unpaid_status(invoice):
        return "sent" if invoice["sent_at"] else "open"

    # ---- validation

    def _invoice_errors(self, account, payload, current):
        errors = Errors()
        self._check_subject_reference(account, payload, current, errors)
        self._check_document_type(account, payload, current, errors)
        self._check_numbering(account, payload, current, errors)
        self._check_dates(payload, errors)
        self._check_currency(account, payload, current, errors)
        if payload.get("vat_price_mode") not in (None, *VAT_PRICE_MODES):
            errors.add("vat_price_mode", MSG_INCLUSION)
        self._check_lines(account, payload.get("lines"), current, errors)
        return errors

    @staticmethod
    def _check_subject_reference(account, payload, current, errors):
        if current is not None and "subject_id" not in payload:
            return
        subject_id = payload.get("subject_id")
        if subject_id in (None, ""):
            errors.add("subject_id", MSG_BLANK)
        elif as_int(subject_id) not in account.subjects:
            errors.add("subject_id", MSG_MISSING)

    @staticmethod
    def _check_document_type(account, payload, current, errors):
        if current is not None:
            if "document_type" in payload and payload["document_type"] != current["document_type"]:
                errors.add("document_type", MSG_UNCHANGEABLE)
            return
        document_type = payload.get("document_type") or "invoice"
        if document_type not in DOCUMENT_TYPES:
            errors.add("document_type", MSG_INCLUSION)
        elif document_type == "correction":
            correction_id = payload.get("correction_id")
            if correction_id in (None, ""):
                errors.add("correction_id", MSG_BLANK)
            elif as_int(correction_id) not in account.invoices:
                errors.add("correction_id", MSG_MISSING)

    def _check_numbering(self, account, payload, current, errors):
        if payload.get("number") is not None:
            number = str(payload["number"]).strip()
            if not number:
                errors.add("number", MSG_NUMBER_FORMAT)
            elif any(other["number"] == number and other is not current for other in account.invoices.values()):
                errors.add("number", MSG_TAKEN)
        if payload.get("number_format_id") is not None:
            if current is not None:
                errors.add("number_format_id", MSG_UNCHANGEABLE)  # "forbidden on update" per the docs
            elif self._number_format(account, payload["number_format_id"]) is None:
                errors.add("number_format_id", MSG_MISSING)

    @staticmethod
    def _check_dates(payload, errors):
        for name in ("issued_on", "taxable_fulfillment_due"):
            if payload.get(name) is not None and not is_valid_date(payload[name]):
                errors.add(name, MSG_NOT_DATE)
        if payload.get("due") is not None:
            due = as_int(payload["due"])
            if due is None or due < 0 or isinstance(payload["due"], (bool, float)):
                errors.add("due", MSG_NOT_INTEGER)

    @staticmethod
    def _check_currency(account, payload, current, errors):
        currency = payload.get("currency") or (current["currency"] if current else account.currency)
        if currency not in CURRENCIES:
            errors.add("currency", MSG_INCLUSION)
        rate = payload.get("exchange_rate")
        if rate not in (None, ""):
            try:
                if to_decimal(rate) <= 0:
                    errors.add("exchange_rate", "musí být větší než 0")
            except ValueError:
                errors.add("exchange_rate", MSG_NOT_NUMBER)
        elif currency != account.currency and (current is None or "currency" in payload):
            errors.add("exchange_rate", MSG_BLANK)

    @staticmethod
    def _check_lines(account, lines, current, errors):
        if lines is None and current is not None:
            return
        if not isinstance(lines, list) or (current is None and not lines):
            errors.add("lines", MSG_BLANK)
            return
        known_ids = {line["id"] for line in current["lines"]} if current else set()
        allowed_rates = {Decimal(rate) for rate in account.vat_rates}
        for line in lines:
            if not isinstance(line, dict):
                errors.add("lines", MSG_INCLUSION)
                continue
            if line.get("id") is not None and as_int(line["id"]) not in known_ids:
                errors.add("lines.id", MSG_MISSING)
            if line.get("_destroy"):
                continue
            if (line.get("id") is None or "name" in line) and not str(line.get("name") or "").strip():
                errors.add("lines.name", MSG_BLANK)
            for name in ("quantity", "unit_price"):
                if line.get(name) is not None and not _is_number(line[name]):
                    errors.add(f"lines.{name}", MSG_NOT_NUMBER)
            if line.get("vat_rate") is not None:
                if not _is_number(line["vat_rate"]) or to_decimal(line["vat_rate"]) not in allowed_rates:
                    errors.add("lines.vat_rate", MSG_INCLUSION)

    # ---- building and changing

    def _new_invoice(self, account, payload):
        now, today = self._timestamp(), self._today()
        issued_on = parse_date(payload["issued_on"]) if payload.get("issued_on") else today
        due = as_int(payload["due"]) if payload.get("due") is not None else 14
        number_format = self._number_format(account, payload.get("number_format_id")) or self._default_format(account)
        number = str(payload["number"]).strip() if payload.get("number") else self._next_number(
            account, number_format, issued_on)
        document_type = payload.get("document_type") or "invoice"
        invoice = {
            "id": self._next_id("invoice"), "custom_id": _string_or_none(payload.get("custom_id")),
            "document_type": document_type,
            "proforma_followup_document": payload.get("proforma_followup_document")
            or ("final_invoice_paid" if document_type == "proforma" else None),
            "tax_document_ids": [],
            "correction_id": as_int(payload["correction_id"]) if document_type == "correction" else None,
            "number": number, "number_format_id": number_format["id"],
            "variable_symbol": _string_or_none(payload.get("variable_symbol")) or re.sub(r"\D", "", number)[:10],
            "generator_id": None, "related_id": payload.get("related_id"), "token": random_token(),
            "status": "open", "issued_on": issued_on.isoformat(),
            "taxable_fulfillment_due": payload.get("taxable_fulfillment_due") or issued_on.isoformat(),
            "due": due, "due_on": (issued_on + timedelta(days=due)).isoformat(),
            "sent_at": None, "paid_on": None, "paid_at": None, "reminder_sent_at": None, "accepted_at": None,
            "cancelled_at": None, "uncollectible_at": None, "locked_at": None, "webinvoice_seen_on": None,
            "tags": list(payload.get("tags") or []),
            "bank_account_id": account.bank_account["id"], "bank_account": account.bank_account["number"],
            "iban": account.bank_account["iban"], "swift_bic": account.bank_account["swift_bic"],
            "iban_visibility": payload.get("iban_visibility") or "automatically",
            "payment_method": payload.get("payment_method") or "bank",
            "currency": payload.get("currency") or account.currency,
            "exchange_rate": to_decimal(payload["exchange_rate"]) if payload.get("exchange_rate") else Decimal(1),
            "language": payload.get("language") or account.language, "oss": payload.get("oss") or "disabled",
            "vat_price_mode": payload.get("vat_price_mode") or "without_vat",
            "round_total": bool(payload.get("round_total")),
            "eet_records": [], "paid_advances": [], "attachments": None, "payments": [],
            "lines": [self._new_line(account, line) for line in payload["lines"] if not line.get("_destroy")],
            "created_at": now, "updated_at": now,
        }
        invoice.update({name: payload.get(name) for name in INVOICE_TEXT_FIELDS})
        invoice.update({name: bool(payload.get(name)) for name in INVOICE_FLAGS})
        invoice.update(self._your_details(account))
        invoice.update(self._client_snapshot(account.subjects[as_int(payload["subject_id"])], payload))
        return invoice

    def _apply_invoice_update(self, account, invoice, payload):
        simple = ("custom_id", "variable_symbol", "taxable_fulfillment_due", "tags", "iban_visibility",
                  "payment_method", "currency", "language", "oss", "vat_price_mode", "related_id",
                  "proforma_followup_document", *INVOICE_TEXT_FIELDS)
        for name in simple:
            if name in payload:
                invoice[name] = payload[name]
        invoice["custom_id"] = _string_or_none(invoice["custom_id"])
        for name in INVOICE_FLAGS + ("round_total",):
            if name in payload:
                invoice[name] = bool(payload[name])
        if payload.get("number"):
            invoice["number"] = str(payload["number"]).strip()
        if payload.get("exchange_rate") not in (None, ""):
            invoice["exchange_rate"] = to_decimal(payload["exchange_rate"])
        self._apply_dates(invoice, payload)
        if "subject_id" in payload:
            invoice.update(self._client_snapshot(account.subjects[as_int(payload["subject_id"])], payload))
        else:
            invoice.update({name: payload[name] for name in CLIENT_OVERRIDES if name in payload})
        if payload.get("lines") is not None:
            self._merge_lines(account, invoice, payload["lines"])
        invoice["updated_at"] = self._timestamp()

    @staticmethod
    def _apply_dates(invoice, payload):
        if payload.get("issued_on"):
            invoice["issued_on"] = payload["issued_on"]
        if payload.get("due") is not None:
            invoice["due"] = as_int(payload["due"])
        if payload.get("issued_on") or payload.get("due") is not None:
            due_on = parse_date(invoice["issued_on"]) + timedelta(days=invoice["due"])
            invoice["due_on"] = due_on.isoformat()

    def _merge_lines(self, account, invoice, changes):
        """Fakturoid's nested attributes: ``id`` edits a line, ``_destroy`` removes it, no ``id`` adds one."""
        lines = {line["id"]: line for line in invoice["lines"]}
        for change in changes:
            line_id = as_int(change.get("id"))
            if line_id is None:
                if not change.get("_destroy"):
                    new_line = self._new_line(account, change)
                    lines[new_line["id"]] = new_line
            elif change.get("_destroy"):
                lines.pop(line_id, None)
            else:
                lines[line_id].update(self._line_values(account, change, lines[line_id]))
        invoice["lines"] = list(lines.values())

    def _new_line(self, account, data):
        line = {"id": self._next_id("line")}
        line.update(self._line_values(account, data, None))
        return line

    @staticmethod
    def _line_values(account, data, current):
        def pick(name, default, convert=lambda value: value):
            if data.get(name) is not None:
                return convert(data[name])
            return current[name] if current else default

        return {
            "name": pick("name", "", lambda value: str(value).strip()),
            "quantity": pick("quantity", Decimal(1), to_decimal),
            "unit_name": pick("unit_name", ""),
            "unit_price": pick("unit_price", Decimal(0), to_decimal),
            "vat_rate": pick("vat_rate", Decimal(account.default_vat_rate), to_decimal),
            "inventory_item_id": pick("inventory_item_id", None),
            "sku": pick("sku", None),
        }

    def _your_details(self, account):
        details = self._account_body(account)
        return {
            "your_name": account.name, "your_street": details["street"], "your_street2": None,
            "your_city": details["city"], "your_zip": details["zip"], "your_country": account.country,
            "your_registration_no": account.registration_no, "your_vat_no": self._your_vat_no(account),
            "your_local_vat_no": None,
        }

    @staticmethod
    def _client_snapshot(subject, payload):
        snapshot = {
            "subject_id": subject["id"], "subject_custom_id": subject["custom_id"],
            "client_name": subject["name"], "client_street": subject["street"], "client_street2": subject["street2"],
            "client_city": subject["city"], "client_zip": subject["zip"], "client_country": subject["country"],
            "client_registration_no": subject["registration_no"], "client_vat_no": subject["vat_no"],
            "client_local_vat_no": subject["local_vat_no"],
            "client_has_delivery_address": bool(subject["has_delivery_address"]),
            "client_delivery_name": subject["delivery_name"], "client_delivery_street": subject["delivery_street"],
            "client_delivery_city": subject["delivery_city"], "client_delivery_zip": subject["delivery_zip"],
            "client_delivery_country": subject["delivery_country"],
        }
        snapshot.update({name: payload[name] for name in CLIENT_OVERRIDES if name in payload})
        return snapshot

    # ---- numbering

    @staticmethod
    def _number_format(account, number_format_id):
        wanted = as_int(number_format_id)
        return next((f for f in account.number_formats if f["id"] == wanted), None)

    @staticmethod
    def _default_format(account):
        return next(f for f in account.number_formats if f["default"])

    @staticmethod
    def _next_number(account, number_format, issued_on):
        key = (number_format["id"], issued_on.year)
        sequence = account.sequences.get(key, 0)
        taken = {invoice["number"] for invoice in account.invoices.values()}
        while True:
            sequence += 1
            number = render_number_format(number_format["format"], issued_on, sequence)
            if number not in taken:
                account.sequences[key] = sequence
                return number

    # ================================================================ money

    def _totals(self, account, invoice):
        with_vat = invoice["vat_price_mode"] == "from_total_with_vat"
        by_rate = {}
        lines = []
        for line in invoice["lines"]:
            amount = cents(line["quantity"] * line["unit_price"])
            by_rate[line["vat_rate"]] = by_rate.get(line["vat_rate"], Decimal(0)) + amount
            lines.append(self._line_amounts(line, amount, with_vat))
        summary = [self._rate_summary(rate, amount, with_vat) for rate, amount in sorted(by_rate.items(), reverse=True)]
        subtotal = sum((entry["base"] for entry in summary), Decimal(0))
        total = subtotal + sum((entry["vat"] for entry in summary), Decimal(0))
        if invoice["round_total"]:
            total = total.quantize(Decimal(1), rounding=ROUND_HALF_UP)
        paid = sum((payment["amount"] for payment in invoice["payments"]), Decimal(0))
        return Totals(lines, summary, subtotal, total, paid)

    @staticmethod
    def _line_amounts(line, amount, with_vat):
        rate = line["vat_rate"]
        if with_vat:
            vat = cents(amount * rate / (100 + rate))
            return {"without_vat": amount - vat, "vat": vat, "unit_with_vat": line["unit_price"],
                    "unit_without_vat": cents(line["unit_price"] * 100 / (100 + rate))}
        return {"without_vat": amount, "vat": cents(amount * rate / 100),
                "unit_with_vat": cents(line["unit_price"] * (100 + rate) / 100), "unit_without_vat": line["unit_price"]}

    @staticmethod
    def _rate_summary(rate, amount, with_vat):
        """The recapitulation per rate: VAT is computed on the sum, not line by line."""
        if with_vat:
            vat = cents(amount * rate / (100 + rate))
            return {"vat_rate": rate, "base": amount - vat, "vat": vat}
        return {"vat_rate": rate, "base": amount, "vat": cents(amount * rate / 100)}

    # ================================================================ rendering invoices

    def _render_invoice(self, account, invoice):
        totals = self._totals(account, invoice)
        rate = invoice["exchange_rate"]
        native = lambda value: decimal_string(cents(value * rate))  # noqa: E731 - a local shorthand
        rendered = copy.deepcopy({k: v for k, v in invoice.items() if k not in ("lines", "payments")})
        remaining = Decimal(0) if invoice["status"] == "paid" else totals.remaining
        rendered.update(
            proforma=invoice["document_type"] in ("proforma", "partial_proforma"),
            partial_proforma=invoice["document_type"] == "partial_proforma",
            correction=invoice["document_type"] == "correction",
            exchange_rate=decimal_string(rate),
            subtotal=decimal_string(totals.subtotal), total=decimal_string(totals.total),
            native_subtotal=native(totals.subtotal), native_total=native(totals.total),
            remaining_amount=decimal_string(remaining), remaining_native_amount=native(remaining),
            lines=[self._render_line(line, amounts, rate) for line, amounts in zip(invoice["lines"], totals.lines)],
            vat_rates_summary=[self._render_summary(entry, invoice, account, rate) for entry in totals.summary],
            payments=[self._render_payment(account, invoice, payment) for payment in invoice["payments"]],
            **self._invoice_urls(account, invoice),
        )
        return rendered

    def _invoice_urls(self, account, invoice):
        api = f"{self.api_url}/accounts/{account.slug}"
        return {
            "html_url": f"{self.url}/{account.slug}/invoices/{invoice['id']}",
            "public_html_url": f"{self.url}/{account.slug}/p/{invoice['token']}/{invoice['number']}",
            "url": f"{api}/invoices/{invoice['id']}.json",
            "pdf_url": f"{api}/invoices/{invoice['id']}/download.pdf",
            "subject_url": f"{api}/subjects/{invoice['subject_id']}.json",
        }

    @staticmethod
    def _render_line(line, amounts, rate):
        return {
            "id": line["id"], "name": line["name"], "quantity": decimal_string(line["quantity"]),
            "unit_name": line["unit_name"], "unit_price": decimal_string(line["unit_price"]),
            "vat_rate": rate_number(line["vat_rate"]),
            "unit_price_without_vat": decimal_string(amounts["unit_without_vat"]),
            "unit_price_with_vat": decimal_string(amounts["unit_with_vat"]),
            "total_price_without_vat": decimal_string(amounts["without_vat"]),
            "total_vat": decimal_string(amounts["vat"]),
            "native_total_price_without_vat": decimal_string(cents(amounts["without_vat"] * rate)),
            "native_total_vat": decimal_string(cents(amounts["vat"] * rate)),
            "inventory": None,
        }

    @staticmethod
    def _render_summary(entry, invoice, account, rate):
        return {
            "vat_rate": rate_number(entry["vat_rate"]), "base": decimal_string(entry["base"]),
            "vat": decimal_string(entry["vat"]), "currency": invoice["currency"],
            "native_base": decimal_string(cents(entry["base"] * rate)),
            "native_vat": decimal_string(cents(entry["vat"] * rate)), "native_currency": account.currency,
        }

    @staticmethod
    def _render_payment(account, invoice, payment):
        rendered = dict(payment)
        rendered.update(amount=decimal_string(payment["amount"]),
                        native_amount=decimal_string(payment["native_amount"]), native_currency=account.currency)
        return rendered

    # ================================================================ payments

    def _create_payment(self, request, account, payload):
        invoice = account.invoices.get(as_int(request.params["id"]))
        if invoice is None:
            return not_found()
        payload = payload if isinstance(payload, dict) else {}
        totals = self._totals(account, invoice)
        errors, amount, paid_on = self._payment_errors(payload, totals)
        mark_paid = payload.get("mark_document_as_paid")
        if mark_paid is None:
            mark_paid = amount is not None and _covers(totals.total, totals.paid + amount)
        if payload.get("send_thank_you_email") and not mark_paid:
            errors.add("send_thank_you_email", MSG_THANK_YOU)
        if errors:
            return invalid(errors)
        payment = self._new_payment(invoice, payload, amount, paid_on, bool(mark_paid))
        invoice["payments"].append(payment)
        if mark_paid:
            invoice.update(status="paid", paid_on=paid_on.isoformat(), paid_at=payment["created_at"])
        invoice["updated_at"] = payment["created_at"]
        return json_response(201, self._render_payment(account, invoice, payment))

    def _payment_errors(self, payload, totals):
        errors, amount, paid_on = Errors(), totals.remaining, self._today()
        if payload.get("amount") is not None:
            try:
                amount = cents(to_decimal(payload["amount"]))
            except ValueError:
                errors.add("amount", MSG_NOT_NUMBER)
                amount = None
        if amount is not None and amount == 0:
            errors.add("amount", "musí být různé od 0")
        if payload.get("native_amount") is not None and not _is_number(payload["native_amount"]):
            errors.add("native_amount", MSG_NOT_NUMBER)
        if payload.get("paid_on") is not None:
            if is_valid_date(payload["paid_on"]):
                paid_on = parse_date(payload["paid_on"])
            else:
                errors.add("paid_on", MSG_NOT_DATE)
        return errors, amount, paid_on

    def _new_payment(self, invoice, payload, amount, paid_on, mark_paid):
        now = self._timestamp()
        native_amount = (cents(to_decimal(payload["native_amount"])) if payload.get("native_amount") is not None
                         else cents(amount * invoice["exchange_rate"]))
        return {
            "id": self._next_id("payment"), "paid_on": paid_on.isoformat(), "currency": invoice["currency"],
            "amount": amount, "native_amount": native_amount, "mark_document_as_paid": mark_paid,
            "proforma_followup_document": payload.get("proforma_followup_document"),
            "send_thank_you_email": bool(payload.get("send_thank_you_email")) if mark_paid else False,
            "variable_symbol": _string_or_none(payload.get("variable_symbol")) or invoice["variable_symbol"],
            "bank_account_id": as_int(payload.get("bank_account_id")) or invoice["bank_account_id"],
            "tax_document_id": None, "created_at": now, "updated_at": now,
        }

    def _delete_payment(self, request, account, payload):
        invoice = account.invoices.get(as_int(request.params["id"]))
        payment_id = as_int(request.params["payment_id"])
        if invoice is None or all(payment["id"] != payment_id for payment in invoice["payments"]):
            return not_found()
        invoice["payments"] = [payment for payment in invoice["payments"] if payment["id"] != payment_id]
        totals = self._totals(account, invoice)
        if invoice["status"] == "paid" and not _covers(totals.total, totals.paid):
            invoice.update(status=self._unpaid_status(invoice), paid_on=None, paid_at=None)
        invoice["updated_at"] = self._timestamp()
        return empty_response(204)

    # ================================================================ control endpoints

    def _register_control_routes(self):
        add = self.control.add
        add("POST", "/_sandbox/accounts", lambda request, payload: json_response(201, self.add_account(**payload)))
        add("POST", "/_sandbox/clients", self._control_add_client)
        add("POST", "/_sandbox/tokens",
            lambda request, payload: json_response(201, {"access_token": self.issue_token(payload["client_id"])}))
        add("POST", "/_sandbox/revoke_tokens", self._control_revoke_tokens)
        add("POST", "/_sandbox/block", self._control_block)
        add("POST", "/_sandbox/settings", self._control_settings)

    def _control_add_client(self, request, payload):
        payload = dict(payload)
        client_id, client_secret = payload.pop("client_id"), payload.pop("client_secret")
        return json_response(201, self.add_client(client_id, client_secret, **payload))

    def _control_revoke_tokens(self, request, payload):
        self.revoke_tokens(payload["client_id"])
        return json_response(200, {})

    def _control_block(self, request, payload):
        self.block_account(payload["slug"], payload.get("blocked", True))
        return json_response(200, {})

    def _control_settings(self, request, payload):
        if "pdf_render_polls" in payload:
            self.pdf_render_polls = int(payload["pdf_render_polls"])
        if "rate_limit" in payload:
            self.set_rate_limit(**payload["rate_limit"])
        return json_response(200, {"pdf_render_polls": self.pdf_render_polls,
                                   "rate_limit": {"quota": self.rate_quota, "window": self.rate_window}})


# --------------------------------------------------------------------------- module helpers


def _is_number(value):
    try:
        to_decimal(value)
    except ValueError:
        return False
    return True


def _string_or_none(value):
    return None if value is None else str(value)


def _covers(total, paid):
    """Whether ``paid`` settles ``total`` (corrections have negative totals)."""
    return paid >= total if total >= 0 else paid <= total


DEMO_SLUG = "demo-sro"
DEMO_CLIENT_ID = "demo-client-id"
DEMO_CLIENT_SECRET = "demo-client-secret"


def seed_demo(sandbox):
    """The demo account and API client; returns what a script needs to connect."""
    sandbox.add_account(DEMO_SLUG, name="Demo s.r.o.", currency="CZK", country="CZ", vat_mode="vat_payer")
    sandbox.add_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, accounts=(DEMO_SLUG,))
    return {"slug": DEMO_SLUG, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}
