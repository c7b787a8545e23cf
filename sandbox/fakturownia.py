"""A local Fakturownia API server, faithful enough that our real client code is what gets tested.

Accounts: the real service gives each account a subdomain (``firma.fakturownia.pl``), which
cannot resolve on loopback. Here an account lives under a path, ``{url}/a/{name}`` (what
``account_url(name)`` answers and what an engine's account link holds to reach it); the root
``{url}`` plays the generic host ``app.fakturownia.pl`` and finds the account from a prefixed
token (``TOKEN/name``), as KSeF.md's examples do. Files behind a redirect live at ``/files/``.

Faithful (fakturownia-api-README.md "README", fakturownia-api-KSeF.md "KSeF", doc notes "note"):
  - the token never read from a header: ``api_token`` in the query for GET and DELETE, in the JSON
    body for POST/PUT/PATCH; the query also for ``POST /invoices.json``, ``send_by_email`` and
    ``change_status``, where the README's own examples put it (note 1); both token kinds
    (README "API token", engine-apis §3.1);
  - departments, clients (README "Klienci": ``external_id``, ``tax_no``, ``email``, ``name``,
    ``shortcut`` filters; a private person with ``company: false`` and ``last_name`` only),
    invoices with the README's fields, kinds, ``payment_to_kind`` (number, "off", "other_date"),
    positions priced by ``price_net``, ``total_price_net``, ``price_gross`` or
    ``total_price_gross`` (numbers, numeric strings, decimal commas), the list parameters
    ``period``/``date_from``/``date_to``/``search_date_type``/``number``/``client_id``/
    ``invoice_ids``/``kind``/``include_positions``/``order``/``page``/``per_page`` (≤ 100);
  - buyers matched or created from ``buyer_*`` fields, or copied from ``client_id``; sellers from
    ``department_id`` (their data override the fields sent, KSeF "Podanie department_id");
    ``buyer_tax_no_kind`` set from the number's country prefix when left empty (KSeF "Uwagi");
  - ``oid_unique: "yes"`` refuses a second invoice with the same ``oid``;
  - discounts only with ``show_discount`` and a matching discount kind, otherwise silently
    ignored (note 10); ``calculating_strategy`` ``sum``/``keep_net``/``keep_gross``;
  - 422 ``{"code": "error", "message": {field: ["- …"]}}`` with Polish messages, the KSeF ones
    verbatim (KSeF "validate_invoices_for_gov", "Najczęstsze błędy"); with that setting off the
    invoice is saved and the errors go to ``gov_error_messages``; the e-mail refusal under HTTP
    200 ``{"message": …, "status": "error"}`` verbatim (KSeF "Wysyłanie faktur emailem");
  - corrections: ``kind: correction`` with ``invoice_id``/``from_invoice_id`` of an existing
    invoice, positions with ``kind: correction`` and ``correction_before_attributes`` /
    ``correction_after_attributes`` (README "Faktura korekta"); under KSeF the fields KSeF.md
    lists may not differ from the corrected invoice; ``gov_corrected_invoice_number``;
    ``correction_positions=full`` shows before and after;
  - KSeF: ``gov_save_and_send`` (body or query), the automatic sending modes and why
    ``buyer_company`` decides them, ``send_to_ksef=yes``, ``gov_status`` processing -> ok /
    send_error / server_error (``demo_*`` in DEMO), not_connected, not_applicable for kinds KSeF
    does not take, ``gov_id`` as ``{NIP}-{YYYYMMDD}-{ID}`` (note 8), ``gov_verification_link``,
    the field limits (buyer phone 16, position name 256, description 256, correction reason
    256), the edit/delete lock once sent (not in DEMO), the XML and UPO as
    ``/invoices/{id}/attachment?kind=gov|gov_upo``: 302 to the file once ok, 404 before;
  - ``fields[invoice]=`` (only those) and ``additional_fields[invoice]=`` (those too): the
    ``gov_*`` details, ``connected_payments``, ``cancel_reason`` (note 12);
  - ``POST /invoices/cancel.json``; banking payments (README "Płatności"): ``invoice_id`` or
    ``invoice_ids`` settled in array order until the money runs out, the invoice's ``paid`` and
    ``partial``/``paid`` status; the singular ``GET /banking/payment/{id}.json`` and the plural
    ``PATCH``/``DELETE /banking/payments/{id}.json`` (note 5); decimals Ruby-style ("123.0").

Inferred [I] (not in the vendor's material; plausible and easy to test):
  - the wrong-token answer (401 ``{"code": "error", "message": …}``), an unknown account (404 HTML
    page), a record that does not exist (404 JSON), a query token on other writes (401);
  - the duplicate-oid refusal ``{"oid": ["- jest już zajęte"]}``, an unknown ``client_id`` or
    ``department_id`` (``- nie istnieje``), the other Polish texts (rails-i18n pl wording), the
    KSeF lock and cancel refusals, the correction-shape refusal;
  - 201 for creates, 200 ``{"code": "success", …}`` for deletes and cancel; a cancelled invoice
    has ``status: "cancelled"``; the ``default`` flag on departments;
  - the discount kinds' rounding: percent_total = round(q × price × (1 − d), 2); percent_unit
    rounds the discounted unit price first; percent_unit_gross the discounted gross unit price;
    amount takes ``discount`` off the position's total; the account's own setting is percent_unit;
  - position rounding: net to cents, VAT = round(net × rate, 2) (gross-priced positions: VAT =
    round(gross × rate / (100 + rate), 2)); a correction's amounts are those of its change
    positions; the strategy is ``sum`` when none is sent;
  - ``oid=`` filters the invoice list (undocumented, engine-apis §3.10); with no ``period`` the
    list shows this month; 25 records a page; ``tax_no`` filter ignores separators and matches a
    part; ``email`` ignores case; ``payment_to`` alone is honoured;
  - KSeF: ``processing`` lasts ``ksef_delay`` seconds (× time_scale) and ends ``ok`` unless a test
    forced another outcome; the lock also holds while processing; the ID part of ``gov_id`` is 12
    hex digits; the date is the acceptance date; ``gov_link`` stays null; the files exist at once
    (interactive sending);
  - payments: 201 with the payment; ``paid_date`` defaults to today; an amount over the invoice
    stays on it; a correction is settled by money of its own sign or the opposite alike;
    ``connected_payments`` is the list of payments in the same shape as ``banking/payments``;
  - the rate limit: 60 calls per 10 s per account (× time_scale), then 429 with ``Retry-After``.
"""
import copy
import itertools
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from .http import (
    Response,
    SandboxServer,
    format_seconds,
    html_response,
    json_response,
    redirect_response,
    text_response,
)
from . import values
from .pdf import text_pdf
from .values import Errors, as_int, cents, parse_date, time_zone
from .values import decimal_string as ruby_decimal  # note 11: decimals come back Ruby-style ("123.0")

WARSAW = time_zone("Europe/Warsaw")

ACCOUNT_PREFIX = "/a/"
FILES_PREFIX = "/files/"
DEFAULT_QUOTA = 60
DEFAULT_WINDOW = 10
DEFAULT_KSEF_DELAY = 2.0
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100

KINDS = (
    "vat", "proforma", "bill", "receipt", "advance", "final", "correction", "invoice_other", "vat_margin",
    "kp", "kw", "estimate", "vat_mp", "vat_rr", "correction_note", "accounting_note", "client_order", "dw",
    "wnt", "wdt", "import_service", "import_service_eu", "import_products", "export_products",
)
KSEF_KINDS = ("vat", "correction", "vat_mp", "vat_margin", "wdt", "export_products", "advance", "final")
STATUSES = ("issued", "sent", "paid", "partial", "rejected")
DISCOUNT_KINDS = ("percent_unit", "percent_unit_gross", "percent_total", "amount")
POSITION_STRATEGIES = ("default", "keep_gross")
SUM_STRATEGIES = ("sum", "keep_gross", "keep_net")
EXCHANGE_KINDS = ("ecb", "nbp", "cbr", "nbu", "nbg", "own")
TAX_NO_KINDS = ("", "nip_ue", "other", "empty", "nip_with_id")
AUTO_SEND_MODES = (None, "pl_companies", "all_companies", "all")
NOT_SUBJECT_TAXES = ("np", "n/a", "nie podlega", "not applicable", "na")
ZERO_VAT_TAXES = ("zw", "oo", "disabled") + NOT_SUBJECT_TAXES
KSEF_OUTCOMES = ("ok", "send_error", "server_error")
EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE EL ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
NUMBER_PREFIXES = {"vat": "FV", "correction": "FK", "proforma": "PRO"}
TAX_NO_PATTERNS = {  # KSeF "Walidacja formatu identyfikatora", country prefix optional
    "": r"(PL)?[1-9]((\d[1-9])|([1-9]\d))\d{7}",
    "nip_ue": r"([A-Z]{2})?(\d|[A-Z]|\+|\*){1,12}",
    "other": r"([A-Z]{2})?[a-zA-Z0-9]{1,50}",
    "nip_with_id": r"(PL)?[1-9]((\d[1-9])|([1-9]\d))\d{7}-\d{5}",
}
KSEF_LIMITS = {"buyer_phone": 16, "description": 256, "correction_reason": 256}
POSITION_NAME_LIMIT = 256
# Fields a KSeF correction may not change against the corrected invoice (KSeF "Korekty faktur").
LOCKED_ON_CORRECTION = (
    "department_id", "seller_tax_no", "seller_email", "seller_phone", "seller_tax_no_kind",
    "buyer_company", "buyer_tax_no", "buyer_email", "buyer_phone", "buyer_tax_no_kind",
)

MSG_BLANK = "- nie może być puste"
MSG_TOO_LONG = "- pole jest za długie (maksymalna ilość znaków: {limit})"
MSG_TAKEN = "- jest już zajęte"
MSG_INCLUSION = "- nie znajduje się na liście dopuszczalnych wartości"
MSG_NOT_NUMBER = "- nie jest liczbą"
MSG_NOT_DATE = "- nie jest prawidłową datą"
MSG_MISSING = "- nie istnieje"
MSG_FORMAT = "- ma nieprawidłowy format"
MSG_POSITIONS = "- faktura musi zawierać co najmniej jedną pozycję"
MSG_CORRECTION_POSITION = (
    "- pozycja korekty musi mieć kind \"correction\" oraz correction_before_attributes "
    "(kind \"correction_before\") i correction_after_attributes (kind \"correction_after\")"
)
MSG_UNCHANGEABLE = "- nie może różnić się od faktury korygowanej"
MSG_TOKEN = "Brak dostępu - nieprawidłowy kod autoryzacyjny API (api_token)"
MSG_NOT_FOUND = "Nie znaleziono rekordu"
MSG_RATE_LIMIT = "Przekroczono limit zapytań do API. Spróbuj ponownie za chwilę."
MSG_KSEF_LOCKED = (
    "Faktura została przesłana do KSeF - edycja i usunięcie nie są możliwe. Wystaw fakturę korygującą."
)
MSG_KSEF_CANCEL = (
    "Faktury przesłanej do KSeF nie można anulować. Jedynym sposobem jest wystawienie korekty do zera."
)
MSG_NO_KSEF_NUMBER = "Faktura nie może zostać wysłana - brak numeru KSeF"  # KSeF.md, verbatim
# KSeF "Sprawdzanie błędów walidacji" / "Najczęstsze błędy walidacji": gov_error_messages texts.
GOV_LABELS = {
    "buyer_tax_no": "NIP nabywcy",
    "buyer_phone": "Telefon klienta",
    "exempt_tax_kind": "podstawa zwolnienia z podatku VAT",
    "np_tax_kind": "podstawa zastosowania stawki NP",
    "positions.name": "Nazwa pozycji",
    "description": "Uwagi",
    "correction_reason": "Powód korekty",
    "buyer_tax_no_kind": "Rodzaj numeru identyfikacyjnego nabywcy",
}
DEFAULT_SEND_ERROR = ["Błąd weryfikacji semantyki dokumentu faktury"]
DEFAULT_SERVER_ERROR = ["Błąd serwera KSeF - spróbuj ponownie później"]

CLIENT_FIELDS = (
    "name", "shortcut", "tax_no_kind", "tax_no", "register_number", "accounting_id", "post_code", "city",
    "street", "country", "use_delivery_address", "delivery_address", "first_name", "last_name", "email",
    "phone", "mobile_phone", "www", "fax", "note", "tag_list", "company", "kind", "category_id", "bank",
    "bank_account", "discount", "default_tax", "price_list_id", "payment_to_kind", "default_payment_type",
    "disable_auto_reminders", "person", "buyer_id", "mass_payment_code", "external_id", "tp_client_connection",
)
CLIENT_TO_BUYER = {
    "name": "buyer_name", "tax_no": "buyer_tax_no", "tax_no_kind": "buyer_tax_no_kind", "company": "buyer_company",
    "street": "buyer_street", "post_code": "buyer_post_code", "city": "buyer_city", "country": "buyer_country",
    "email": "buyer_email", "phone": "buyer_phone", "first_name": "buyer_first_name",
    "last_name": "buyer_last_name", "note": "buyer_note",
}
DEPARTMENT_TO_SELLER = {
    "name": "seller_name", "tax_no": "seller_tax_no", "street": "seller_street", "post_code": "seller_post_code",
    "city": "seller_city", "country": "seller_country", "email": "seller_email", "phone": "seller_phone",
    "bank": "seller_bank", "bank_account": "seller_bank_account",
}
INVOICE_FIELDS = (
    "kind", "number", "income", "issue_date", "place", "sell_date", "category_id", "department_id",
    "seller_name", "seller_tax_no", "seller_tax_no_kind", "seller_bank_account", "seller_bank", "seller_post_code",
    "seller_city", "seller_street", "seller_country", "seller_email", "seller_www", "seller_fax", "seller_phone",
    "seller_bdo_no", "seller_person", "use_invoice_issuer", "invoice_issuer", "client_id", "buyer_name",
    "buyer_first_name", "buyer_last_name", "buyer_tax_no", "buyer_tax_no_kind", "buyer_post_code", "buyer_city",
    "buyer_street", "buyer_country", "buyer_note", "buyer_email", "buyer_phone", "buyer_company", "buyer_person",
    "recipient_id", "recipient_name", "recipient_street", "recipient_post_code", "recipient_city",
    "recipient_country", "recipient_email", "recipient_phone", "recipient_note", "additional_info",
    "additional_info_desc", "show_discount", "discount_kind", "payment_type", "payment_to_kind", "payment_to",
    "oid", "warehouse_id", "currency", "lang", "use_oss", "exchange_currency", "exchange_kind",
    "exchange_currency_rate", "exchange_note", "description", "description_footer", "description_long",
    "invoice_id", "from_invoice_id", "internal_note", "split_payment", "exempt_tax_kind", "np_tax_kind",
    "reverse_charge", "correction_reason", "corrected_content_before", "corrected_content_after",
    "procedure_designations", "issuers", "recipients", "gov_corrected_invoice_number",
)
# Answered only when asked for through fields[invoice] or additional_fields[invoice].
ON_REQUEST_FIELDS = (
    "gov_error_messages", "gov_verification_link", "gov_link", "connected_payments", "cancel_reason",
)
POSITION_FIELDS = (
    "name", "kind", "product_id", "code", "description", "additional_info", "gtu_code", "quantity",
    "quantity_unit", "price_net", "price_gross", "total_price_net", "total_price_gross", "tax",
    "discount_percent", "discount", "lump_sum_tax",
)
PAYMENT_FIELDS = ("name", "description", "paid_date", "currency", "client_id", "kind", "paid", "bank_account_id")
ID_BASES = {"department": 101, "client": 2001, "invoice": 300001, "position": 4000001, "payment": 500001}


# --------------------------------------------------------------------------- values


def to_decimal(value):
    """Decimal from a JSON number or a numeric string, with a decimal comma too ("10,23", README)."""
    return values.to_decimal(value.replace(",", ".") if isinstance(value, str) else value)


def truthy(value):
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "t")


def bare_tax_no(value):
    return re.sub(r"[\s-]", "", str(value or "")).upper()


def tax_rate(tax):
    """The VAT percent of a position's ``tax`` ("23", 8, "zw", "np"…), or ``None`` if unknown."""
    if isinstance(tax, str) and tax.strip().lower() in ZERO_VAT_TAXES:
        return Decimal(0)
    try:
        rate = to_decimal(tax)
    except ValueError:
        return None
    return rate if 0 <= rate < 100 else None


def tax_label(tax):
    """How a position's ``tax`` is answered: "23", "8.5", "zw", "np"."""
    if isinstance(tax, str) and tax.strip().lower() in NOT_SUBJECT_TAXES:
        return "np"
    if isinstance(tax, str) and tax.strip().lower() in ZERO_VAT_TAXES:
        return tax.strip().lower()
    rate = to_decimal(tax)
    return str(int(rate)) if rate == rate.to_integral_value() else format(rate.normalize(), "f")


def error_response(status, message):
    return json_response(status, {"code": "error", "message": message})


def invalid(errors):
    return error_response(422, dict(errors))


def not_found():
    return error_response(404, MSG_NOT_FOUND)


def success(message):
    return json_response(200, {"code": "success", "message": message})


# --------------------------------------------------------------------------- state records


@dataclass
class Account:
    name: str
    token: str
    departments: dict
    ksef: bool
    demo: bool
    auto_send: str | None
    validate_for_gov: bool
    discount_setting: str
    clients: dict = field(default_factory=dict)
    invoices: dict = field(default_factory=dict)
    payments: dict = field(default_factory=dict)
    sequences: dict = field(default_factory=dict)  # (department id, kind, year) -> last number
    ksef_outcomes: list = field(default_factory=list)  # forced (outcome, messages), oldest first
    window_started: float | None = None
    window_used: int = 0

    def accepts(self, token):
        """Both token kinds: the bare token, or the token with this account as prefix."""
        token = str(token or "")
        return bool(token) and (
            secrets.compare_digest(token, self.token) or secrets.compare_digest(token, f"{self.token}/{self.name}")
        )

    @property
    def default_department(self):
        return next((d for d in self.departments.values() if d["default"]), None)

    @property
    def ksef_prefix(self):
        return "demo_" if self.demo else ""


@dataclass
class PositionAmounts:
    net: Decimal
    vat: Decimal
    gross: Decimal
    rate: Decimal


@dataclass
class Totals:
    net: Decimal
    vat: Decimal
    gross: Decimal
    positions: list


# --------------------------------------------------------------------------- the sandbox


class FakturowniaSandbox(SandboxServer):
    """Fakturownia from memory, one account per path ``/a/{name}``. See the module docstring."""

    def __init__(self, host="127.0.0.1", port=0, time_scale=1.0):
        super().__init__(host, port, time_scale)
        self._forget_everything()
        self._register_api_routes()
        self._register_control_routes()

    @property
    def api_url(self):
        """The generic host (``app.fakturownia.pl``): the account comes from a prefixed token."""
        return self.url

    def account_url(self, name):
        """What an account link holds to reach account ``name`` here (``https://{name}.fakturownia.pl``)."""
        return f"{self.url}{ACCOUNT_PREFIX}{name}"

    # ================================================================ Python API

    def reset(self):
        """Forget accounts, records, faults and the request log; restore the default settings."""
        super().reset()
        with self._lock:
            self._forget_everything()

    def add_account(self, name, token, departments=None, *, ksef=False, demo=False, auto_send=None,
                    validate_for_gov=True, discount_setting="percent_unit"):
        """A Fakturownia account; ``departments`` are dicts of department fields, the first the default.

        ``ksef``: KSeF is connected (in its DEMO environment with ``demo``); ``auto_send`` is the
        KSeF automatic sending mode (None, pl_companies, all_companies, all).
        """
        if auto_send not in AUTO_SEND_MODES or discount_setting not in DISCOUNT_KINDS:
            raise ValueError(f"auto_send {auto_send!r} / discount_setting {discount_setting!r}")
        with self._lock:
            if name in self._accounts:
                raise ValueError(f"account {name!r} exists")
            departments = departments or [{"name": f"{name} Sp. z o.o.", "tax_no": "5252445767"}]
            account = Account(name, token, {}, bool(ksef), bool(demo), auto_send, bool(validate_for_gov),
                              discount_setting)
            for index, values in enumerate(departments):
                department = self._new_department(values, default=index == 0)
                account.departments[department["id"]] = department
            self._accounts[name] = account
            return self._account_summary(account)

    def add_client(self, account_name, **values):
        """A client as if someone had created it in Fakturownia; returns it in the API shape."""
        with self._lock:
            account = self._accounts[account_name]
            client = self._new_client(account, values)
            return self._render_client(client)

    def force_ksef_outcome(self, name, outcome, messages=None):
        """The next submission of account ``name`` ends ``outcome`` (ok, send_error, server_error)."""
        if outcome not in KSEF_OUTCOMES:
            raise ValueError(outcome)
        with self._lock:
            self._accounts[name].ksef_outcomes.append((outcome, list(messages) if messages else None))

    def pay_in_ui(self, name, invoice_id, amount, paid_date=None):
        """A payment recorded by a person in Fakturownia's web application."""
        with self._lock:
            account = self._accounts[name]
            values = {"name": "Wpłata", "price": str(amount), "invoice_id": invoice_id, "paid": True,
                      "kind": "manual", "paid_date": (paid_date or self._today()).isoformat()}
            payment, errors = self._new_payment(account, values)
            if errors:
                raise ValueError(errors)
            return self._render_payment(account, payment)

    def set_rate_limit(self, quota=DEFAULT_QUOTA, window=DEFAULT_WINDOW):
        """Per account; the window is multiplied by ``time_scale``. Restarts every account's window."""
        with self._lock:
            self.rate_quota, self.rate_window = int(quota), float(window)
            for account in self._accounts.values():
                account.window_started, account.window_used = None, 0

    def state(self, name):
        """Deep copies in API shapes (every field, positions with before/after, payments)."""
        with self._lock:
            account = self._accounts[name]
            for invoice in account.invoices.values():
                self._settle_ksef(account, invoice)
            return copy.deepcopy({
                "departments": [self._render_department(d) for _id, d in sorted(account.departments.items())],
                "clients": [self._render_client(c) for _id, c in sorted(account.clients.items())],
                "invoices": [
                    self._render_invoice(account, invoice, everything=True)
                    for _id, invoice in sorted(account.invoices.items())
                ],
                "payments": [self._render_payment(account, p) for _id, p in sorted(account.payments.items())],
            })

    # ================================================================ bookkeeping

    def _forget_everything(self):
        self._accounts = {}
        self._files = {}  # file token -> (content type, bytes)
        self._ids = {kind: itertools.count(base) for kind, base in ID_BASES.items()}
        self.rate_quota, self.rate_window = DEFAULT_QUOTA, float(DEFAULT_WINDOW)
        self.ksef_delay = DEFAULT_KSEF_DELAY

    def _next_id(self, kind):
        return next(self._ids[kind])

    def _now(self):
        return datetime.fromtimestamp(self.clock(), WARSAW)

    def _timestamp(self):
        return self._now().isoformat(timespec="milliseconds")

    def _today(self):
        return self._now().date()

    def _account_summary(self, account):
        return {"name": account.name, "url": self.account_url(account.name), "ksef": account.ksef,
                "demo": account.demo, "departments": [self._render_department(d) for d in account.departments.values()]}

    # ================================================================ routes

    def _register_api_routes(self):
        """The paths inside an account; ``query_token``: a write the README's examples sign in the query."""
        routes = [
            ("GET", "/departments.json", self._list_departments),
            ("GET", "/departments/{id}.json", self._get_department),
            ("GET", "/clients.json", self._list_clients),
            ("POST", "/clients.json", self._create_client),
            ("GET", "/clients/{id}.json", self._get_client),
            ("PUT", "/clients/{id}.json", self._update_client),
            ("DELETE", "/clients/{id}.json", self._delete_client),
            ("POST", "/invoices/cancel.json", self._cancel_invoice),
            ("GET", "/invoices.json", self._list_invoices),
            ("POST", "/invoices.json", self._create_invoice, "query_token"),
            ("GET", "/invoices/{id}.json", self._get_invoice),
            ("PUT", "/invoices/{id}.json", self._update_invoice),
            ("DELETE", "/invoices/{id}.json", self._delete_invoice),
            ("GET", "/invoices/{id}.pdf", self._invoice_pdf),
            ("GET", "/invoices/{id}/attachment", self._attachment),
            ("POST", "/invoices/{id}/send_by_email.json", self._send_by_email, "query_token"),
            ("POST", "/invoices/{id}/change_status.json", self._change_status, "query_token"),
            ("GET", "/banking/payments.json", self._list_payments),
            ("POST", "/banking/payments.json", self._create_payment),
            ("GET", "/banking/payment/{id}.json", self._get_payment),  # note 5: singular to read one
            ("PATCH", "/banking/payments/{id}.json", self._update_payment),
            ("DELETE", "/banking/payments/{id}.json", self._delete_payment),
        ]
        for route in routes:
            self.router.add(*route)

    # ================================================================ the request pipeline

    def dispatch(self, request):
        if request.path.startswith(FILES_PREFIX):
            return self._download_file(request)
        try:
            payload = request.json() if request.method in ("POST", "PUT", "PATCH") else None
        except (ValueError, UnicodeDecodeError):
            return error_response(400, "Nieprawidłowy format danych JSON")
        with self._lock:
            account, path = self._account_and_path(request, payload)
            if account is None:
                return path  # the refusal
            route, params = self.router.match(request.method, path)
            if route is None or route == "method_not_allowed":
                return not_found()
            request.params = params
            if not account.accepts(self._token(request, route, payload)):
                return error_response(401, MSG_TOKEN)
            allowed, retry_after = self._count_call(account)
            if not allowed:
                return self._too_many_requests(retry_after)
            return route.handler(request, account, payload if isinstance(payload, dict) else {})

    def _account_and_path(self, request, payload):
        """``(account, path inside it)``, or ``(None, refusal)``."""
        if request.path.startswith(ACCOUNT_PREFIX):
            name, _sep, rest = request.path[len(ACCOUNT_PREFIX):].partition("/")
            account = self._accounts.get(name)
            path = f"/{rest}"
        else:
            token = request.query.get("api_token")
            if not token and isinstance(payload, dict):
                token = payload.get("api_token")
            _bare, sep, name = str(token or "").rpartition("/")
            if not sep:
                return None, error_response(401, MSG_TOKEN)  # the generic host cannot tell the account
            account = self._accounts.get(name)
            path = request.path
        if account is None:
            return None, html_response(404, "Nie znaleziono konta",
                                       "Konto o podanym adresie nie istnieje w Fakturowni.")
        return account, path

    @staticmethod
    def _token(request, route, payload):
        """Where the README puts the token: query for GET/DELETE, body for writes (note 1)."""
        if request.method in ("GET", "DELETE"):
            return request.query.get("api_token")
        body_token = payload.get("api_token") if isinstance(payload, dict) else None
        if body_token or route.kind != "query_token":
            return body_token
        return request.query.get("api_token")

    # ---- rate limit

    def _count_call(self, account):
        now, window = self.clock(), self.scaled(self.rate_window)
        if account.window_started is None or now - account.window_started >= window:
            account.window_started, account.window_used = now, 0
        if account.window_used >= self.rate_quota:
            return False, account.window_started + window - now
        account.window_used += 1
        return True, 0

    @staticmethod
    def _too_many_requests(retry_after):
        return json_response(429, {"code": "error", "message": MSG_RATE_LIMIT},
                             {"Retry-After": format_seconds(retry_after)})

    def rate_limited_response(self, request, reset_seconds):
        return self._too_many_requests(float(reset_seconds))

    # ================================================================ listing helpers

    @staticmethod
    def _page(request, items):
        page = max(as_int(request.query.get("page", "1")) or 1, 1)
        per_page = min(max(as_int(request.query.get("per_page", DEFAULT_PAGE_SIZE)) or DEFAULT_PAGE_SIZE, 1),
                       MAX_PAGE_SIZE)
        return items[(page - 1) * per_page: page * per_page]

    @staticmethod
    def _id_param(request):
        return as_int(request.params["id"])

    # ================================================================ departments

    def _new_department(self, values, default):
        now = self._timestamp()
        department = {
            "id": self._next_id("department"), "name": "", "shortcut": "", "tax_no": "", "street": "ul. Prosta 1",
            "post_code": "00-001", "city": "Warszawa", "country": "PL", "email": "", "phone": "",
            "bank": "", "bank_account": "", "default": default, "created_at": now, "updated_at": now,
        }
        department.update(values)
        department["shortcut"] = department["shortcut"] or department["name"]
        return department

    @staticmethod
    def _render_department(department):
        return dict(department)

    def _list_departments(self, request, account, payload):
        departments = [account.departments[key] for key in sorted(account.departments)]
        return json_response(200, [self._render_department(d) for d in self._page(request, departments)])

    def _get_department(self, request, account, payload):
        department = account.departments.get(self._id_param(request))
        if department is None:
            return not_found()
        return json_response(200, self._render_department(department))

    # ================================================================ clients

    def _new_client(self, account, values):
        now = self._timestamp()
        client = dict.fromkeys(CLIENT_FIELDS)
        client.update(id=self._next_id("client"), company=True, created_at=now, updated_at=now)
        self._apply_client_fields(client, values)
        account.clients[client["id"]] = client
        return client

    @staticmethod
    def _apply_client_fields(client, values):
        for name in CLIENT_FIELDS:
            if name in values:
                client[name] = values[name]
        client["company"] = truthy(client["company"]) if client["company"] is not None else True
        if client["external_id"] is not None:
            client["external_id"] = str(client["external_id"])
        if not client.get("name") and not client["company"]:
            # Note 7: a private person may come with first and last name only.
            client["name"] = " ".join(part for part in (client["first_name"], client["last_name"]) if part)

    @staticmethod
    def _client_errors(values, current=None):
        errors = Errors()
        company = truthy(values.get("company", True if current is None else current["company"]))
        named = str(values.get("name") or (current or {}).get("name") or "").strip()
        if not company and not named and not str(values.get("last_name") or "").strip():
            errors.add("last_name", MSG_BLANK)
        elif company and not named:
            errors.add("name", MSG_BLANK)
        return errors

    def _render_client(self, client):
        rendered = copy.deepcopy(client)
        rendered["company"] = bool(client["company"])
        return rendered

    def _list_clients(self, request, account, payload):
        clients = [account.clients[key] for key in sorted(account.clients)]
        query = request.query
        if "external_id" in query:
            clients = [c for c in clients if (c["external_id"] or "") == query["external_id"]]
        if query.get("tax_no"):
            wanted = bare_tax_no(query["tax_no"])
            clients = [c for c in clients if wanted in bare_tax_no(c["tax_no"])]
        if query.get("email"):
            clients = [c for c in clients if (c["email"] or "").strip().lower() == query["email"].strip().lower()]
        for name in ("name", "shortcut"):
            if query.get(name):
                clients = [c for c in clients if query[name].lower() in str(c[name] or "").lower()]
        return json_response(200, [self._render_client(c) for c in self._page(request, clients)])

    def _get_client(self, request, account, payload):
        client = account.clients.get(self._id_param(request))
        if client is None:
            return not_found()
        return json_response(200, self._render_client(client))

    def _create_client(self, request, account, payload):
        values = payload.get("client") if isinstance(payload.get("client"), dict) else {}
        errors = self._client_errors(values)
        if errors:
            return invalid(errors)
        return json_response(201, self._render_client(self._new_client(account, values)))

    def _update_client(self, request, account, payload):
        client = account.clients.get(self._id_param(request))
        if client is None:
            return not_found()
        values = payload.get("client") if isinstance(payload.get("client"), dict) else {}
        errors = self._client_errors(values, client)
        if errors:
            return invalid(errors)
        self._apply_client_fields(client, values)
        client["updated_at"] = self._timestamp()
        return json_response(200, self._render_client(client))

    def _delete_client(self, request, account, payload):
        if account.clients.pop(self._id_param(request), None) is None:
            return not_found()
        return success("Klient został usunięty")

    @staticmethod
    def _matching_client(account, invoice):
        """The client an invoice without ``client_id`` is for (README "Klient: nowy lub istniejący"):
        matched on the tax number, else the name, else the e-mail; ``None`` when it is a new one."""
        tax_no = bare_tax_no(invoice.get("buyer_tax_no"))
        name = str(invoice.get("buyer_name") or "").strip()
        email = str(invoice.get("buyer_email") or "").strip().lower()
        for client in account.clients.values():
            if (tax_no and bare_tax_no(client["tax_no"]) == tax_no) or (
                    not tax_no and name and (client["name"] or "").strip() == name) or (
                    not tax_no and not name and email and (client["email"] or "").lower() == email):
                return client
        return None

    def _client_from_buyer(self, account, invoice):
        values = {client_field: invoice.get(buyer_field) for client_field, buyer_field in CLIENT_TO_BUYER.items()
                  if invoice.get(buyer_field) not in (None, "")}
        if values.get("name") or values.get("last_name"):
            invoice["client_id"] = self._new_client(account, values)["id"]

    # ================================================================ invoices: reading

    def _list_invoices(self, request, account, payload):
        query = request.query
        invoices = self._filter_by_period(query, sorted(account.invoices.values(), key=lambda i: i["id"]))
        if invoices is None:
            return error_response(422, {"date_from": [MSG_NOT_DATE]})
        for name in ("oid", "number", "kind"):
            if name in query:
                invoices = [i for i in invoices if str(i.get(name) or "") == query[name]]
        if "client_id" in query:
            invoices = [i for i in invoices if i["client_id"] == as_int(query["client_id"])]
        if query.get("invoice_ids"):
            wanted = {as_int(part) for part in query["invoice_ids"].split(",")}
            invoices = [i for i in invoices if i["id"] in wanted]
        invoices = self._ordered(invoices, query.get("order"))
        with_positions = truthy(query.get("include_positions"))
        page = self._page(request, invoices)
        return json_response(200, [self._render_invoice(account, i, positions=with_positions) for i in page])

    def _filter_by_period(self, query, invoices):
        date_key = {"paid_date": "paid_date", "transaction_date": "sell_date"}.get(
            query.get("search_date_type"), "issue_date")
        today = self._today()
        period = query.get("period", "this_month")
        first_of_month = today.replace(day=1)
        last_month_end = first_of_month - timedelta(days=1)
        ranges = {
            "this_month": (first_of_month, today),
            "last_30_days": (today - timedelta(days=30), today),
            "last_month": (last_month_end.replace(day=1), last_month_end),
            "this_year": (today.replace(month=1, day=1), today),
            "last_year": (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
            "last_12_months": (today - timedelta(days=365), today),
            "all": (date.min, date.max),
        }
        if period == "more":
            try:
                ranges["more"] = (parse_date(query.get("date_from")), parse_date(query.get("date_to")))
            except ValueError:
                return None
        start, end = ranges.get(period, ranges["this_month"])
        return [i for i in invoices if i.get(date_key) and start <= _day(i[date_key]) <= end]

    @staticmethod
    def _ordered(invoices, order):
        if not order:
            return invoices
        name, _sep, direction = order.partition(".")
        key_name = {"transaction_date": "sell_date"}.get(name, name)
        return sorted(invoices, key=lambda i: (i.get(key_name) is None, str(i.get(key_name) or "")),
                      reverse=direction == "desc")

    def _get_invoice(self, request, account, payload):
        invoice = account.invoices.get(self._id_param(request))
        if invoice is None:
            return not_found()
        if request.query.get("send_to_ksef") in ("yes", "1", "true"):
            self._settle_ksef(account, invoice)
            if invoice["gov_status"] not in (f"{account.ksef_prefix}processing", f"{account.ksef_prefix}ok"):
                self._submit_to_ksef(account, invoice)
        return json_response(200, self._render_invoice(
            account, invoice, positions=True, only=_field_list(request.query.get("fields[invoice]")),
            extra=_field_list(request.query.get("additional_fields[invoice]")),
            full_corrections=request.query.get("correction_positions") == "full",
        ))

    def _invoice_pdf(self, request, account, payload):
        invoice = account.invoices.get(self._id_param(request))
        if invoice is None:
            return not_found()
        totals = self._totals(account, invoice)
        self._settle_ksef(account, invoice)
        lines = [f"Faktura {invoice['number']}", invoice["seller_name"] or account.name,
                 f"Nabywca: {invoice['buyer_name'] or ''}", f"Data wystawienia: {invoice['issue_date']}",
                 f"Razem: {ruby_decimal(totals.gross)} {invoice['currency']}"]
        if invoice["gov_id"]:
            lines.append(f"Numer KSeF: {invoice['gov_id']}")
        disposition = f'attachment; filename="{invoice["number"].replace("/", "_")}.pdf"'
        return Response(200, text_pdf(lines), {"Content-Type": "application/pdf", "Content-Disposition": disposition})

    # ================================================================ invoices: writing

    def _create_invoice(self, request, account, payload):
        values = payload.get("invoice") if isinstance(payload.get("invoice"), dict) else {}
        invoice, errors = self._build_invoice(account, values)
        if errors:
            return invalid(errors)
        self._store_invoice(account, invoice)
        if _asked_to_send(request, payload) or self._sent_automatically(account, invoice):
            self._submit_to_ksef(account, invoice)
        return json_response(201, self._render_invoice(account, invoice, positions=True))

    def _update_invoice(self, request, account, payload):
        invoice, refusal = self._changeable_invoice(account, self._id_param(request), MSG_KSEF_LOCKED)
        if refusal:
            return refusal
        values = payload.get("invoice") if isinstance(payload.get("invoice"), dict) else {}
        updated, errors = self._build_invoice(account, values, current=invoice)
        if errors:
            return invalid(errors)
        invoice.update(updated, updated_at=self._timestamp())
        if _asked_to_send(request, payload):
            self._submit_to_ksef(account, invoice)
        return json_response(200, self._render_invoice(account, invoice, positions=True))

    def _delete_invoice(self, request, account, payload):
        invoice, refusal = self._changeable_invoice(account, self._id_param(request), MSG_KSEF_LOCKED)
        if refusal:
            return refusal
        del account.invoices[invoice["id"]]
        return success("Faktura została usunięta")

    def _cancel_invoice(self, request, account, payload):
        invoice, refusal = self._changeable_invoice(account, as_int(payload.get("cancel_invoice_id")), MSG_KSEF_CANCEL)
        if refusal:
            return refusal
        invoice.update(status="cancelled", cancel_reason=payload.get("cancel_reason") or "",
                       updated_at=self._timestamp())
        return success("Faktura została anulowana")

    def _changeable_invoice(self, account, invoice_id, locked_message):
        """``(invoice, None)``, or ``(None, refusal)`` when unknown or locked by KSeF."""
        invoice = account.invoices.get(invoice_id)
        if invoice is None:
            return None, not_found()
        self._settle_ksef(account, invoice)
        if self._ksef_locked(account, invoice):
            return None, error_response(422, locked_message)
        return invoice, None

    def _send_by_email(self, request, account, payload):
        invoice = account.invoices.get(self._id_param(request))
        if invoice is None:
            return not_found()
        self._settle_ksef(account, invoice)
        if account.ksef and not account.demo and truthy(invoice["buyer_company"]) and not invoice["gov_id"]:
            return json_response(200, {"message": MSG_NO_KSEF_NUMBER, "status": "error"})
        invoice["was_sent"] = True
        if invoice["status"] == "issued":
            invoice["status"] = "sent"
        return json_response(200, {"status": "ok", "message": "Faktura została wysłana"})

    def _change_status(self, request, account, payload):
        invoice = account.invoices.get(self._id_param(request))
        if invoice is None:
            return not_found()
        status = request.query.get("status") or payload.get("status")
        if status not in STATUSES:
            return invalid({"status": [MSG_INCLUSION]})
        invoice.update(status=status, manual_status=status)
        return json_response(200, {"status": "ok"})

    def _store_invoice(self, account, invoice):
        now = self._timestamp()
        invoice.update(id=self._next_id("invoice"), token=secrets.token_urlsafe(15), created_at=now, updated_at=now)
        if not invoice["number"]:
            invoice["number"] = self._next_number(account, invoice)
        if invoice["client_id"] is None:
            self._client_from_buyer(account, invoice)
        account.invoices[invoice["id"]] = invoice

    def _next_number(self, account, invoice):
        year = date.fromisoformat(invoice["issue_date"]).year
        department = account.departments[invoice["department_id"]]
        key = (department["id"], invoice["kind"], year)
        account.sequences[key] = account.sequences.get(key, 0) + 1
        prefix = NUMBER_PREFIXES.get(invoice["kind"], invoice["kind"].upper())
        branch = "" if department["default"] else f"{department['shortcut']}/"
        return f"{prefix}/{branch}{account.sequences[key]}/{year}"

    # ---- building and validating

    def _build_invoice(self, account, values, current=None):
        """The stored invoice for ``values`` (over ``current`` on update), and the 422 errors."""
        invoice = copy.deepcopy(current) if current else self._blank_invoice(account)
        for name in INVOICE_FIELDS:
            if name in values:
                invoice[name] = values[name]
        errors = Errors()
        self._resolve_seller(account, invoice, values, errors)
        self._resolve_buyer(account, invoice, values, errors)
        self._check_header(account, invoice, values, errors)
        if "positions" in values or current is None:
            invoice["positions"] = self._merged_positions(invoice.get("positions") or [], values.get("positions"),
                                                          errors, fresh=current is None)
        if invoice["kind"] == "correction":
            self._check_correction(account, invoice, errors)
        if not errors:
            self._check_ksef(account, invoice, errors)
        return invoice, errors

    def _blank_invoice(self, account):
        invoice = dict.fromkeys(INVOICE_FIELDS)
        today = self._today().isoformat()
        invoice.update(
            kind="vat", income="1", issue_date=today, sell_date=today, currency="PLN", lang="pl",
            payment_type="transfer", status="issued", manual_status=None, show_discount=False,
            buyer_company=True, positions=[], gov_status=None, gov_id=None, gov_send_date=None,
            gov_sell_date=None, gov_error_messages=None, gov_verification_link=None, gov_link=None,
            gov_submitted_at=None, gov_outcome=None, gov_files={}, cancel_reason=None, oid_unique=None,
            calculating_strategy=None, paid_date=None, was_sent=False,
        )
        return invoice

    def _resolve_seller(self, account, invoice, values, errors):
        department_id = invoice.get("department_id")
        if department_id in (None, "") and not invoice.get("seller_name"):
            department_id = account.default_department["id"]
        if department_id in (None, ""):
            invoice["department_id"] = account.default_department["id"]  # numbering only
            return
        department = account.departments.get(as_int(department_id))
        if department is None:
            errors.add("department_id", MSG_MISSING)
            return
        invoice["department_id"] = department["id"]
        for source, target in DEPARTMENT_TO_SELLER.items():
            invoice[target] = department[source]

    def _resolve_buyer(self, account, invoice, values, errors):
        self._copy_client(account, invoice, errors)
        invoice["buyer_company"] = truthy(invoice["buyer_company"])
        if not invoice.get("buyer_tax_no_kind"):
            invoice["buyer_tax_no_kind"] = _tax_no_kind_from_prefix(invoice.get("buyer_tax_no"))

    def _copy_client(self, account, invoice, errors):
        client_id = as_int(invoice.get("client_id")) if invoice.get("client_id") not in (None, "") else None
        if client_id is not None and client_id != -1:
            client = account.clients.get(client_id)
            if client is None:
                errors.add("client_id", MSG_MISSING)
                return
        else:
            client = self._matching_client(account, invoice)
        invoice["client_id"] = client["id"] if client else None  # a new client is made once the invoice is valid
        if client is None:
            return
        if client_id is not None and client_id != -1:
            for source, target in CLIENT_TO_BUYER.items():
                if client.get(source) is not None:
                    invoice[target] = client[source]

    def _check_header(self, account, invoice, values, errors):
        if invoice["kind"] not in KINDS:
            errors.add("kind", MSG_INCLUSION)
        for name in ("issue_date", "payment_to"):
            if invoice.get(name) not in (None, ""):
                try:
                    invoice[name] = parse_date(invoice[name]).isoformat()
                except ValueError:
                    errors.add(name, MSG_NOT_DATE)
        if not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", str(invoice.get("sell_date") or "")):
            errors.add("sell_date", MSG_NOT_DATE)
        self._check_payment_term(invoice, errors)
        if not re.fullmatch(r"[A-Z]{3}", str(invoice.get("currency") or "")):
            errors.add("currency", MSG_INCLUSION)
        if invoice.get("discount_kind") not in (None, "") and invoice["discount_kind"] not in DISCOUNT_KINDS:
            errors.add("discount_kind", MSG_INCLUSION)
        if invoice.get("exchange_kind") not in (None, "") and invoice["exchange_kind"] not in EXCHANGE_KINDS:
            errors.add("exchange_kind", MSG_INCLUSION)
        if invoice.get("exchange_kind") == "own":
            try:
                to_decimal(invoice.get("exchange_currency_rate"))
            except ValueError:
                errors.add("exchange_currency_rate", MSG_NOT_NUMBER)
        if "calculating_strategy" in values:
            strategy = values["calculating_strategy"] if isinstance(values["calculating_strategy"], dict) else {}
            if strategy.get("position", "default") not in POSITION_STRATEGIES or (
                    strategy.get("sum", "sum") not in SUM_STRATEGIES):
                errors.add("calculating_strategy", MSG_INCLUSION)
            invoice["calculating_strategy"] = dict(strategy)
        if "oid_unique" in values:
            invoice["oid_unique"] = values["oid_unique"]
        if invoice.get("oid_unique") == "yes" and invoice.get("oid") not in (None, ""):
            taken = any(other["oid"] == invoice["oid"] and other["id"] != invoice.get("id")
                        for other in account.invoices.values())
            if taken:
                errors.add("oid", MSG_TAKEN)

    def _check_payment_term(self, invoice, errors):
        kind = invoice.get("payment_to_kind")
        if kind in (None, ""):
            return  # [I] payment_to alone is honoured (the README's first example sends it so)
        if kind == "off":
            invoice["payment_to"] = None
        elif kind == "other_date":
            if not invoice.get("payment_to"):
                errors.add("payment_to", MSG_BLANK)
        elif as_int(kind) is not None:
            issued = date.fromisoformat(invoice["issue_date"]) if not errors.get("issue_date") else self._today()
            invoice["payment_to"] = (issued + timedelta(days=as_int(kind))).isoformat()
        else:
            errors.add("payment_to_kind", MSG_INCLUSION)

    def _merged_positions(self, current, changes, errors, fresh):
        """README "Aktualizacja pozycji": ``id`` edits, ``_destroy`` deletes, no ``id`` appends."""
        positions = [] if fresh else copy.deepcopy(current)
        for change in changes if isinstance(changes, list) else []:
            if not isinstance(change, dict):
                errors.add("positions", MSG_INCLUSION)
                continue
            existing = next((p for p in positions if change.get("id") and p["id"] == as_int(change["id"])), None)
            if existing is not None and truthy(change.get("_destroy")):
                positions.remove(existing)
                continue
            position = existing if existing is not None else {"id": self._next_id("position")}
            position.update({name: change[name] for name in POSITION_FIELDS if name in change})
            for side in ("correction_before_attributes", "correction_after_attributes"):
                if side in change:
                    position[side] = copy.deepcopy(change[side])
            if existing is None:
                positions.append(position)
        for position in positions:
            self._check_position(position, errors)
        if not positions:
            errors.add("positions", MSG_POSITIONS)
        return positions

    @staticmethod
    def _check_position(position, errors):
        if not str(position.get("name") or "").strip() and not position.get("product_id"):
            errors.add("positions.name", MSG_BLANK)
        if tax_rate(position.get("tax", 23)) is None:
            errors.add("positions.tax", MSG_INCLUSION)
        for name in ("quantity", "price_net", "price_gross", "total_price_net", "total_price_gross",
                     "discount_percent", "discount"):
            if position.get(name) not in (None, ""):
                try:
                    to_decimal(position[name])
                except ValueError:
                    errors.add(f"positions.{name}", MSG_NOT_NUMBER)
        if all(position.get(name) in (None, "") for name in
               ("price_net", "price_gross", "total_price_net", "total_price_gross")):
            errors.add("positions.price_net", MSG_BLANK)

    def _check_correction(self, account, invoice, errors):
        original = account.invoices.get(as_int(invoice.get("invoice_id")))
        if original is None:
            errors.add("invoice_id", MSG_MISSING if invoice.get("invoice_id") not in (None, "") else MSG_BLANK)
        for position in invoice["positions"]:
            before = position.get("correction_before_attributes")
            after = position.get("correction_after_attributes")
            if (position.get("kind") != "correction" or not isinstance(before, dict) or not isinstance(after, dict)
                    or before.get("kind") != "correction_before" or after.get("kind") != "correction_after"):
                errors.add("positions", MSG_CORRECTION_POSITION)
        if original is not None and account.ksef:
            for name in LOCKED_ON_CORRECTION:
                if _comparable(invoice.get(name)) != _comparable(original.get(name)):
                    errors.add(name, MSG_UNCHANGEABLE)
        if original is not None:
            self._settle_ksef(account, original)
            invoice["gov_corrected_invoice_number"] = invoice.get("gov_corrected_invoice_number") or original["gov_id"]

    def _check_ksef(self, account, invoice, errors):
        """KSeF's own rules: a 422 with validate_invoices_for_gov on, gov_error_messages when off."""
        if not account.ksef or invoice["kind"] not in KSEF_KINDS:
            return
        problems = ksef_problems(invoice)
        if account.validate_for_gov:
            for name, messages in problems.items():
                for message in messages:
                    errors.add(name, message)
        elif problems:
            invoice["gov_error_messages"] = [
                f"{GOV_LABELS.get(name, name)} {message}" for name, messages in problems.items() for message in messages
            ]

    # ================================================================ money

    def _totals(self, account, invoice):
        show_discount = truthy(invoice.get("show_discount"))
        discount_kind = invoice.get("discount_kind") or account.discount_setting
        amounts = [position_amounts(p, show_discount, discount_kind) for p in invoice["positions"]]
        strategy = (invoice.get("calculating_strategy") or {}).get("sum", "sum")
        if strategy == "sum":
            net = sum((a.net for a in amounts), Decimal(0))
            vat = sum((a.vat for a in amounts), Decimal(0))
            return Totals(net, vat, net + vat, amounts)
        by_rate = {}
        for amount in amounts:
            by_rate.setdefault(amount.rate, []).append(amount)
        net = vat = Decimal(0)
        for rate, group in by_rate.items():
            if strategy == "keep_net":
                rate_net = sum((a.net for a in group), Decimal(0))
                rate_vat = cents(rate_net * rate / 100)
            else:  # keep_gross
                rate_gross = sum((a.gross for a in group), Decimal(0))
                rate_vat = cents(rate_gross * rate / (100 + rate))
                rate_net = rate_gross - rate_vat
            net, vat = net + rate_net, vat + rate_vat
        return Totals(net, vat, net + vat, amounts)

    def _paid(self, account, invoice):
        return sum((p["allocations"].get(invoice["id"], Decimal(0)) for p in account.payments.values() if p["paid"]),
                   Decimal(0))

    def _refresh_payment_status(self, account, invoice):
        if invoice["status"] in ("cancelled", "rejected") or invoice.get("manual_status"):
            return
        total = abs(self._totals(account, invoice).gross)
        paid = abs(self._paid(account, invoice))
        if paid and paid >= total:
            dates = [p["paid_date"] for p in account.payments.values() if invoice["id"] in p["allocations"]]
            invoice.update(status="paid", paid_date=max(dates))
        else:
            invoice.update(status="partial" if paid else ("sent" if invoice.get("was_sent") else "issued"),
                           paid_date=None)

    # ================================================================ KSeF

    def _sent_automatically(self, account, invoice):
        """KSeF "Konfiguracja automatycznej wysyłki": ``buyer_company`` decides."""
        mode, company = account.auto_send, truthy(invoice["buyer_company"])
        if mode == "all":
            return True
        if mode == "all_companies":
            return company
        if mode == "pl_companies":
            return company and str(invoice.get("buyer_country") or "PL").upper() in ("PL", "")
        return False

    def _submit_to_ksef(self, account, invoice):
        prefix = account.ksef_prefix
        if not account.ksef:
            invoice["gov_status"] = "not_connected"
            return
        if invoice["kind"] not in KSEF_KINDS:
            invoice["gov_status"] = f"{prefix}not_applicable"
            return
        if invoice.get("gov_error_messages") and not account.validate_for_gov:
            invoice["gov_status"] = f"{prefix}send_error"
            return
        outcome = account.ksef_outcomes.pop(0) if account.ksef_outcomes else ("ok", None)
        invoice.update(gov_status=f"{prefix}processing", gov_submitted_at=self.clock(), gov_outcome=outcome,
                       gov_send_date=self._timestamp(), gov_error_messages=None)

    def _settle_ksef(self, account, invoice):
        """A submission ends ``ksef_delay`` (scaled) seconds after it started."""
        prefix = account.ksef_prefix
        if invoice.get("gov_status") != f"{prefix}processing":
            return
        if self.clock() < invoice["gov_submitted_at"] + self.scaled(self.ksef_delay):
            return
        outcome, messages = invoice["gov_outcome"]
        invoice["gov_status"] = f"{prefix}{outcome}"
        if outcome == "ok":
            self._number_in_ksef(account, invoice)
        else:
            defaults = DEFAULT_SEND_ERROR if outcome == "send_error" else DEFAULT_SERVER_ERROR
            invoice["gov_error_messages"] = list(messages or defaults)

    def _number_in_ksef(self, account, invoice):
        nip = re.sub(r"\D", "", str(invoice.get("seller_tax_no") or ""))[-10:] or "0000000000"
        gov_id = f"{nip}-{self._today():%Y%m%d}-{secrets.token_hex(6).upper()}"
        host = "ksef-demo.mf.gov.pl" if account.demo else "ksef.mf.gov.pl"
        sell_date = str(invoice["sell_date"])[:10]
        invoice.update(
            gov_id=gov_id, gov_verification_link=f"https://{host}/web/verify/{gov_id}/{secrets.token_urlsafe(9)}",
            gov_sell_date=f"{sell_date}T00:00:00.000+01:00" if len(sell_date) == 10 else None,
        )
        invoice["gov_files"] = {
            "gov": self._store_file(ksef_invoice_xml(invoice, self._totals(account, invoice))),
            "gov_upo": self._store_file(upo_xml(gov_id, self._timestamp())),
        }

    def _ksef_locked(self, account, invoice):
        """Production KSeF locks an invoice once sent (KSeF "Tryb produkcyjny"); DEMO never does."""
        return account.ksef and not account.demo and invoice.get("gov_status") in ("ok", "processing")

    def _store_file(self, content):
        token = secrets.token_urlsafe(18)
        self._files[token] = content
        return token

    def _attachment(self, request, account, payload):
        invoice = account.invoices.get(self._id_param(request))
        if invoice is None:
            return not_found()
        self._settle_ksef(account, invoice)
        token = invoice["gov_files"].get(request.query.get("kind"))
        if token is None:
            return error_response(404, "Brak pliku dla tej faktury")
        return redirect_response(f"{self.url}{FILES_PREFIX}{token}.xml")

    def _download_file(self, request):
        token = request.path[len(FILES_PREFIX):].removesuffix(".xml")
        with self._lock:
            content = self._files.get(token)
        if content is None:
            return html_response(404, "Not Found")
        return text_response(200, content, "text/xml; charset=utf-8")

    # ================================================================ rendering invoices

    def _render_invoice(self, account, invoice, *, positions=False, only=None, extra=(), full_corrections=False,
                        everything=False):
        self._settle_ksef(account, invoice)
        totals = self._totals(account, invoice)
        paid = self._paid(account, invoice)
        rendered = {name: copy.deepcopy(invoice.get(name)) for name in INVOICE_FIELDS}
        rendered.update(
            id=invoice["id"], status=invoice["status"], paid=ruby_decimal(paid), paid_date=invoice.get("paid_date"),
            price_net=ruby_decimal(totals.net), price_tax=ruby_decimal(totals.vat),
            price_gross=ruby_decimal(totals.gross), buyer_company=bool(invoice["buyer_company"]),
            show_discount=truthy(invoice.get("show_discount")), token=invoice["token"],
            view_url=f"{self.account_url(account.name)}/invoice/{invoice['token']}",
            created_at=invoice["created_at"], updated_at=invoice["updated_at"],
            gov_status=invoice["gov_status"], gov_id=invoice["gov_id"], gov_send_date=invoice["gov_send_date"],
            gov_sell_date=invoice["gov_sell_date"],
        )
        on_request = {
            "gov_error_messages": invoice["gov_error_messages"],
            "gov_verification_link": invoice["gov_verification_link"], "gov_link": invoice["gov_link"],
            "connected_payments": [self._render_payment(account, p) for p in self._payments_of(account, invoice)],
            "cancel_reason": invoice["cancel_reason"],
        }
        if positions or everything:
            rendered["positions"] = [
                self._render_position(invoice, p, a, full_corrections or everything)
                for p, a in zip(invoice["positions"], totals.positions)
            ]
        if everything:
            rendered.update(on_request)
            return rendered
        if only:
            available = {**rendered, **on_request}
            return {name: available[name] for name in only if name in available}
        rendered.update({name: on_request[name] for name in extra if name in on_request})
        return rendered

    @staticmethod
    def _render_position(invoice, position, amounts, with_sides):
        rendered = {name: copy.deepcopy(position.get(name)) for name in POSITION_FIELDS}
        quantity = to_decimal(position.get("quantity") or 1)
        rendered.update(
            id=position["id"], invoice_id=invoice.get("id"), kind=position.get("kind") or "normal",
            quantity=ruby_decimal(quantity), tax=tax_label(position.get("tax", 23)),
            total_price_net=ruby_decimal(amounts.net), total_price_gross=ruby_decimal(amounts.gross),
            tax_amount=ruby_decimal(amounts.vat),
        )
        for name in ("price_net", "price_gross", "discount_percent", "discount"):
            if position.get(name) not in (None, ""):
                rendered[name] = ruby_decimal(to_decimal(position[name]))
        if with_sides:
            for side in ("correction_before_attributes", "correction_after_attributes"):
                if side in position:
                    rendered[side] = copy.deepcopy(position[side])
        return rendered

    # ================================================================ payments

    def _payments_of(self, account, invoice):
        return [p for _id, p in sorted(account.payments.items()) if invoice["id"] in p["allocations"]]

    def _new_payment(self, account, values, current=None):
        errors = Errors()
        name = values.get("name", (current or {}).get("name"))
        if not str(name or "").strip():
            errors.add("name", MSG_BLANK)
        try:
            price = cents(to_decimal(values.get("price", (current or {}).get("price"))))
        except ValueError:
            errors.add("price", MSG_NOT_NUMBER)
            price = None
        invoice_ids = values.get("invoice_ids")
        if invoice_ids is None:
            single = values.get("invoice_id", None if current is None else "keep")
            invoice_ids = (list(current["allocations"]) if single == "keep"
                           else ([] if single in (None, "") else [single]))
        invoices = [account.invoices.get(as_int(invoice_id)) for invoice_id in invoice_ids]
        if any(invoice is None for invoice in invoices):
            errors.add("invoice_id", MSG_MISSING)
        if values.get("paid_date") not in (None, ""):
            try:
                parse_date(values["paid_date"])
            except ValueError:
                errors.add("paid_date", MSG_NOT_DATE)
        if errors:
            return None, errors
        now = self._timestamp()
        payment = current if current is not None else {
            "id": self._next_id("payment"), "created_at": now, "paid": True, "kind": "api",
            "paid_date": self._today().isoformat(), "currency": (invoices[0]["currency"] if invoices else "PLN"),
            "description": "", "client_id": invoices[0]["client_id"] if invoices else None,
        }
        payment.update({key: values[key] for key in PAYMENT_FIELDS if key in values})
        payment.update(name=name, price=price, updated_at=now, paid=truthy(payment["paid"]),
                       allocations=self._allocate(account, invoices, price, payment))
        account.payments[payment["id"]] = payment
        for invoice in {id(i): i for i in invoices}.values():
            self._refresh_payment_status(account, invoice)
        return payment, None

    def _allocate(self, account, invoices, price, payment):
        """README: with ``invoice_ids`` the invoices are settled in their order until the money runs out."""
        if len(invoices) == 1:
            return {invoices[0]["id"]: price}
        allocations, left = {}, price
        for invoice in invoices:
            others = sum((p["allocations"].get(invoice["id"], Decimal(0)) for p in account.payments.values()
                          if p["paid"] and p is not payment), Decimal(0))
            due = max(abs(self._totals(account, invoice).gross) - abs(others), Decimal(0))
            allocations[invoice["id"]] = min(due, left)
            left -= allocations[invoice["id"]]
        return allocations

    def _render_payment(self, account, payment):
        rendered = {key: payment.get(key) for key in ("id", *PAYMENT_FIELDS, "created_at", "updated_at")}
        invoice_ids = list(payment["allocations"])
        rendered.update(price=ruby_decimal(payment["price"]), invoice_id=invoice_ids[0] if invoice_ids else None,
                        invoice_ids=invoice_ids)
        return rendered

    def _list_payments(self, request, account, payload):
        payments = [account.payments[key] for key in sorted(account.payments)]
        rendered = []
        for payment in self._page(request, payments):
            entry = self._render_payment(account, payment)
            if request.query.get("include") == "invoices":
                entry["invoices"] = [self._render_invoice(account, account.invoices[i]) for i in payment["allocations"]
                                     if i in account.invoices]
            rendered.append(entry)
        return json_response(200, rendered)

    def _get_payment(self, request, account, payload):
        payment = account.payments.get(self._id_param(request))
        if payment is None:
            return not_found()
        return json_response(200, self._render_payment(account, payment))

    def _create_payment(self, request, account, payload):
        values = payload.get("banking_payment") if isinstance(payload.get("banking_payment"), dict) else {}
        payment, errors = self._new_payment(account, values)
        if errors:
            return invalid(errors)
        return json_response(201, self._render_payment(account, payment))

    def _update_payment(self, request, account, payload):
        payment = account.payments.get(self._id_param(request))
        if payment is None:
            return not_found()
        values = payload.get("banking_payment") if isinstance(payload.get("banking_payment"), dict) else {}
        before = [account.invoices[i] for i in payment["allocations"] if i in account.invoices]
        payment, errors = self._new_payment(account, values, current=payment)
        if errors:
            return invalid(errors)
        for invoice in before:
            self._refresh_payment_status(account, invoice)
        return json_response(200, self._render_payment(account, payment))

    def _delete_payment(self, request, account, payload):
        payment = account.payments.pop(self._id_param(request), None)
        if payment is None:
            return not_found()
        for invoice_id in payment["allocations"]:
            if invoice_id in account.invoices:
                self._refresh_payment_status(account, account.invoices[invoice_id])
        return success("Płatność została usunięta")

    # ================================================================ control endpoints

    def _register_control_routes(self):
        add = self.control.add
        add("POST", "/_sandbox/accounts", self._control_add_account)
        add("POST", "/_sandbox/ksef_outcome", self._control_ksef_outcome)
        add("POST", "/_sandbox/ui_payment", self._control_ui_payment)
        add("POST", "/_sandbox/settings", self._control_settings)

    def _control_add_account(self, request, payload):
        payload = dict(payload)
        return json_response(201, self.add_account(payload.pop("name"), payload.pop("token"), **payload))

    def _control_ksef_outcome(self, request, payload):
        self.force_ksef_outcome(payload["name"], payload["outcome"], payload.get("messages"))
        return json_response(200, {})

    def _control_ui_payment(self, request, payload):
        paid_date = parse_date(payload["paid_date"]) if payload.get("paid_date") else None
        return json_response(201, self.pay_in_ui(payload["name"], payload["invoice_id"], payload["amount"], paid_date))

    def _control_settings(self, request, payload):
        if "ksef_delay" in payload:
            self.ksef_delay = float(payload["ksef_delay"])
        if "rate_limit" in payload:
            self.set_rate_limit(**payload["rate_limit"])
        return json_response(200, {"ksef_delay": self.ksef_delay,
                                   "rate_limit": {"quota": self.rate_quota, "window": self.rate_window}})


# --------------------------------------------------------------------------- module helpers


def position_amounts(position, show_discount, discount_kind):
    """One position's net, VAT and gross (see the module docstring for the [I] rounding)."""
    rate = tax_rate(position.get("tax", 23)) or Decimal(0)
    quantity = to_decimal(position.get("quantity") or 1)
    value = lambda name: to_decimal(position[name]) if position.get(name) not in (None, "") else None  # noqa: E731
    if value("price_net") is not None:
        net = discounted_net(quantity, value("price_net"), rate, value("discount_percent") or Decimal(0),
                             value("discount") or Decimal(0), discount_kind if show_discount else None)
    elif value("total_price_net") is not None:
        net = cents(value("total_price_net"))
    else:
        gross = cents(quantity * value("price_gross")) if value("price_gross") is not None \
            else cents(value("total_price_gross") or 0)
        vat = cents(gross * rate / (100 + rate))
        return PositionAmounts(gross - vat, vat, gross, rate)
    vat = cents(net * rate / 100)
    return PositionAmounts(net, vat, net + vat, rate)


def discounted_net(quantity, price, rate, percent, amount, discount_kind):
    """The position's net once its discount is applied, or without it when not honoured (note 10)."""
    if discount_kind == "percent_total" and percent:
        return cents(quantity * price * (1 - percent / 100))
    if discount_kind == "percent_unit" and percent:
        return cents(quantity * cents(price * (1 - percent / 100)))
    if discount_kind == "percent_unit_gross" and percent:
        gross_unit = cents(cents(price * (100 + rate) / 100) * (1 - percent / 100))
        gross = cents(quantity * gross_unit)
        return gross - cents(gross * rate / (100 + rate))
    if discount_kind == "amount" and amount:
        return cents(quantity * price) - cents(amount)
    return cents(quantity * price)


def ksef_problems(invoice):
    """What KSeF refuses in ``invoice`` (KSeF "Zmiany w API", "Ograniczenia długości pól")."""
    problems = Errors()
    kind = invoice.get("buyer_tax_no_kind") or ""
    tax_no = bare_tax_no(invoice.get("buyer_tax_no"))
    if kind not in TAX_NO_KINDS:
        problems.add("buyer_tax_no_kind", MSG_INCLUSION)
    elif truthy(invoice.get("buyer_company")) and kind != "empty" and not tax_no:
        problems.add("buyer_tax_no", MSG_BLANK)
    elif kind == "empty" and tax_no:
        problems.add("buyer_tax_no", MSG_FORMAT)
    elif tax_no and kind in TAX_NO_PATTERNS and not re.fullmatch(TAX_NO_PATTERNS[kind], tax_no):
        problems.add("buyer_tax_no", MSG_FORMAT)
    for name, limit in KSEF_LIMITS.items():
        if name == "correction_reason" and invoice.get("kind") != "correction":
            continue
        if len(str(invoice.get(name) or "")) > limit:
            problems.add(name, MSG_TOO_LONG.format(limit=limit))
    taxes = {tax_label(p.get("tax", 23)) for p in invoice["positions"] if tax_rate(p.get("tax", 23)) is not None}
    if "zw" in taxes and not str(invoice.get("exempt_tax_kind") or "").strip():
        problems.add("exempt_tax_kind", MSG_BLANK)
    if "np" in taxes and not str(invoice.get("np_tax_kind") or "").strip():
        problems.add("np_tax_kind", MSG_BLANK)
    if any(len(str(p.get("name") or "")) > POSITION_NAME_LIMIT for p in invoice["positions"]):
        problems.add("positions.name", MSG_TOO_LONG.format(limit=POSITION_NAME_LIMIT))
    return problems


def _tax_no_kind_from_prefix(tax_no):
    """KSeF "Uwagi": an empty kind is set from the number's country prefix (EU: nip_ue, else other)."""
    prefix = bare_tax_no(tax_no)[:2]
    if not prefix.isalpha() or prefix == "PL":
        return ""
    return "nip_ue" if prefix in EU_COUNTRIES else "other"


def _comparable(value):
    if isinstance(value, bool) or str(value).lower() in ("true", "false", "1", "0"):
        return truthy(value)
    return bare_tax_no(value) if value not in (None, "") else ""


def _asked_to_send(request, payload):
    """KSeF "Utworzenie faktury i wysłanie do KSeF w jednym kroku": in the body or the query."""
    return truthy(payload.get("gov_save_and_send")) or truthy(request.query.get("gov_save_and_send"))


def _day(value):
    """A stored date; a sale month ("2026-03", README ``sell_date``) counts as its first day."""
    value = str(value)[:10]
    return date.fromisoformat(value if len(value) == 10 else f"{value}-01")


def _field_list(value):
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def ksef_invoice_xml(invoice, totals):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">\n'
        f"  <Podmiot1><NIP>{_xml(invoice.get('seller_tax_no'))}</NIP></Podmiot1>\n"
        f"  <Podmiot2><NIP>{_xml(invoice.get('buyer_tax_no'))}</NIP></Podmiot2>\n"
        f"  <Fa><P_2>{_xml(invoice['number'])}</P_2><P_15>{totals.gross}</P_15></Fa>\n"
        "</Faktura>\n"
    )


def upo_xml(gov_id, timestamp):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Potwierdzenie><NumerKSeFDokumentu>{_xml(gov_id)}</NumerKSeFDokumentu>"
        f"<DataPrzyjecia>{_xml(timestamp)}</DataPrzyjecia></Potwierdzenie>\n"
    )


def _xml(value):
    return str(value or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


DEMO_ACCOUNT = "demo-firma"
DEMO_TOKEN = "demo-api-token"


def seed_demo(sandbox):
    """A Polish account with two departments and KSeF on; returns what a script needs to connect."""
    sandbox.add_account(DEMO_ACCOUNT, DEMO_TOKEN, departments=[
        {"name": "Demo Firma Sp. z o.o.", "shortcut": "Centrala", "tax_no": "5252445767",
         "street": "ul. Przykładowa 10", "post_code": "00-001", "city": "Warszawa"},
        {"name": "Demo Firma Sp. z o.o. Oddział Kraków", "shortcut": "Kraków", "tax_no": "5252445767",
         "street": "ul. Floriańska 3", "post_code": "31-019", "city": "Kraków"},
    ], ksef=True)
    return {"account": DEMO_ACCOUNT, "account_url": sandbox.account_url(DEMO_ACCOUNT), "api_token": DEMO_TOKEN}
