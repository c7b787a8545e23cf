"""A local SmartBill Cloud REST API server, faithful enough that our real client code is what gets tested.

"Spec" is the vendor's OpenAPI file (``tests/fixtures/smartbill/smartbill-openapi.json``), its
sections named in parentheses; "Postman" is the vendor's collection beside it; "note N" is
``smartbill-spec-notes.md``, where the two contradict each other.

Faithful:
  - paths under ``/SBORO/api``; preemptive HTTP Basic ``email:token`` (Autentificare); a wrong
    login -> 401 with the servlet container's page "HTTP Status 401 - Unauthorized" (the spec's
    ``errorResponseVizualizarePdfFactura``); the CIF in ``cif`` (queries) or ``companyVatCode``
    (bodies), and the two 400 texts of ``/tax`` for a CIF of another login or of no company;
  - 30 calls in 10 s per login, the 31st answered 403 and the login blocked 10 minutes; every
    answer carries ``X-RateLimit-Limit: 30``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``
    (a unix time) (Prezentare generala; both windows times ``time_scale``);
  - answers are flat JSON ``{errorText, message, number, series, …}`` as the JSON examples are
    (note 14); errors are 400 with ``errorText`` and the spec's Romanian texts of each method's
    "Mesaje de eroare 400" table; ``inject_xml_fault`` serves the spec's XML ``<Fault>`` instead;
  - ``/tax`` and ``/series?type=f|p|c`` (Configurari): per-series numbering, invoice and proforma
    ``nextNumber`` zero-padded strings ("0117"), receipt ``nextNumber`` a number (13), exactly the
    spec's ``serieFactura`` / ``serieChitanta`` examples (note 10); a wrong ``type`` refused;
  - ``POST /invoice``: the body validated with jsonschema against the inner schema
    ``definitions.factura1.properties.invoice`` (note 1), each product against
    ``dateProdusGeneral1|2`` and each discount (``isDiscount``) against
    ``dateDiscountGeneralValoric|Procentual`` (note 2), ``code`` required only when the company
    uses product codes (note 3, "Folosirea cod produs"); then the error table: issueDate,
    quantity and price required (notes 3, 5), the series (default: the first invoice series),
    currency and language known, at most 400 lines, no discount-only document, the VAT pair
    ``taxName`` + ``taxPercentage`` configured in the account ("Folosirea cotelor TVA"), a
    percentage discount only over one VAT rate, a value discount over several rates only with
    its own rate ("Aplicarea unui discount"), VAT on collection refused to non-VAT payers,
    products priced in another currency only with the account preference and only on RON
    documents, warehouses with ``useStock``, invoices from a proforma (``add_estimate``), a
    payment at issue (``paymentSeries`` only for a receipt, as Postman's "Ordin plata" example
    has it against the schema, note 4), drafts without a number, the plan's document quota;
    the answer's ``number`` a zero-padded string;
  - amounts ("Folosirea cotelor TVA"): each product's value is quantity x price, its VAT
    ``value * taxPercentage`` (``isTaxIncluded`` false) or ``value - value / (1 + rate)``
    (true); a discount is a line of its own, fixed (``discountValue``, negative) or a percentage
    of the lines it follows (``numberOfItems``), at their VAT rate;
  - ``/invoice/reverse``: a full storno in the same series; refused for an invoice already
    reversed, for a storno or a document with negative lines, for a date before the original's
    (the method's table), answered in ``exempluRaspunsFacturaStorno``'s shape (``documentId``
    a string; -1 in errors, note 13); ``/invoice/cancel`` (refused while a storno of it stands,
    or after the company's VAT status changed) and ``/invoice/restore`` (a storno only after its
    original); ``DELETE /invoice`` only for the last invoice of its series;
  - ``/invoice/pdf`` only for ``Accept: application/octet-stream`` (note 18): a real PDF naming
    series and number; ``/invoice/paymentstatus``: ``invoiceTotalAmount``, ``paidAmount``,
    ``unpaidAmount``, without ``paid`` as in the documented ``…InterogareFactura2`` (note 12);
  - ``POST /payment`` (Incasari): the ten types, ``Chitanta`` numbered in a receipt series
    (the account's default one when none is named, note 6) and always cash, the client,
    currency and language of the payment equal to the invoice's, a cancelled invoice refused,
    ``useInvoiceDetails`` with exactly one invoice and its whole total (notes 7 and 8:
    ``invoicesList`` as the schemas' array or as Postman's single object); fiscal receipts
    (``Bon``) only with a cash register; ``DELETE /payment/v2`` by invoice or by payment data;
    ``DELETE /payment/chitanta`` only for the last receipt of its series;
  - query spellings ``seriesname`` and ``seriesName``, ``cif`` and ``companyVatCode`` (note 9).

Inferred [I] (not in vendor material; chosen to be plausible and easy to test):
  - the rate limit counts per login (e-mail), in fixed 10-second windows from the window's first
    call; during a block ``X-RateLimit-Reset`` is the block's end; unauthenticated calls do not
    count; the 403 body is ``{"errorText": …}``; with ``time_scale`` < 1 the reset carries
    milliseconds;
  - CIFs compare without their ``RO`` prefix; a login without API access (``api_access=False``)
    is answered 401 like a wrong token;
  - unknown tax pairs and a series of another document type are refused under HTTP 200 (the
    ``errorText``-under-200 the third-party clients report); other refusals under 400; schema
    type errors read "Valoarea campului … nu este valida.";
  - ``precision`` is the number of decimals kept of unit prices (rounded half up; 2 to 4);
    values, VAT and totals are rounded half up to cents; a positive ``discountValue`` is refused;
  - ``paymentstatus`` amounts are in the document's currency; a payment's value is applied to
    its invoices in the listed order, each up to what it still owes, the rest to the last one;
    cancelling an invoice detaches its payments; ``DELETE /payment/v2`` by invoice narrows by
    ``paymentDate`` / ``paymentValue`` when given, and deletes the first match;
  - deleting the last invoice or receipt of a series gives its number back to the series;
  - a storno copies the original's lines with negated quantities (discounts negated), is issued
    today unless ``issueDate`` says otherwise, and mentions the original;
  - reference exchange rates when a product in another currency carries no ``exchangeRate``
    (``REFERENCE_RATES``); the currencies and languages an account offers;
  - the PDF's layout; a request body in XML is answered 415 (the sandbox speaks JSON only).
"""
import base64
import copy
import json
import math
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from xml.sax.saxutils import escape

from .http import Response, SandboxServer, html_response, json_response
from .pdf import text_pdf

try:
    from zoneinfo import ZoneInfo

    BUCHAREST_TIME = ZoneInfo("Europe/Bucharest")
except Exception:  # no tz database on this machine
    BUCHAREST_TIME = timezone.utc

API = "/SBORO/api"
SPEC_PATH = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "smartbill" / "smartbill-openapi.json"
RATE_LIMIT = 30
RATE_WINDOW = 10.0
BLOCK_SECONDS = 600.0
MAX_LINES = 400
CENT = Decimal("0.01")
SERIES_TYPES = ("f", "p", "c")
PAYMENT_TYPES = ("Alta incasare", "Bilet ordin", "Card", "Card online", "CEC", "Chitanta", "Extras de cont",
                 "Mandat postal", "Ordin plata", "Ramburs")
RECEIPT = "Chitanta"
FISCAL_RECEIPT = "Bon"
DELETABLE_PAYMENT_TYPES = ("Card", "CEC", "Bilet ordin", "Ordin plata", "Mandat postal", "Alta incasare")
CURRENCIES = frozenset("RON EUR USD GBP CHF HUF PLN CZK BGN MDL SEK NOK DKK JPY CAD AUD".split())
LANGUAGES = ("RO", "EN", "DE", "FR", "IT", "ES", "HU")
REFERENCE_RATES = {"EUR": Decimal("4.9700"), "USD": Decimal("4.6000"), "GBP": Decimal("5.8000")}

MSG_CIF_MISSING = "Ciful firmei trebuie specificat!"
MSG_CIF_MISSING_BODY = "CIF-ul firmei ('companyVatCode') trebuie specificat"
MSG_CIF_OTHER_LOGIN = "Firma la care incercati sa va conectati nu este disponibila pentru acest utilizator."
MSG_CIF_UNKNOWN = ("Firma la care incercati sa va conectati nu mai este disponibila in Cloud. Verificati ciful "
                   "companiei.")
MSG_SERIES_NOT_FOUND = "Seria nu a fost gasita! Folositi o serie creata in contul de cloud."
MSG_DATE_FORMAT = "Data documentului trebuie sa fie de forma yyyy-MM-dd."
MSG_INVOICE_NOT_FOUND = "Factura nu a fost gasita!"
MSG_QUOTA = ("Pentru acest pachet s-a emis numarul maxim de documente permis. Pentru a putea continua, "
             "va rugam sa comandati prelungirea abonamentului.")
MSG_RATE_LIMITED = "Ati depasit limita de 30 de apeluri in 10 secunde. Accesul este blocat 10 minute."  # [I]


# --------------------------------------------------------------------------- values


def cents(value):
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def to_decimal(value):
    if isinstance(value, bool) or value is None:
        raise ValueError(value)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation as error:
        raise ValueError(value) from error
    if not result.is_finite():
        raise ValueError(value)
    return result


def truthy(value):
    """The spec's booleans: true/false or 1/0 (Formate standard)."""
    return value in (True, 1, "1", "true", "True")


def json_number(value):
    """A JSON number for an amount: 121 or 121.5."""
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def bare_cif(value):
    text = re.sub(r"\s", "", str(value or "")).upper()
    return text[2:] if text.startswith("RO") else text


def plain_data(value):
    """A deep copy with Decimals as strings and dates as ISO text, for ``state()``."""
    if isinstance(value, dict):
        return {key: plain_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    return copy.deepcopy(value)


class Refusal(Exception):
    """A request SmartBill refuses: ``errorText`` under ``status``."""

    def __init__(self, text, status=400, **extra):
        super().__init__(text)
        self.text, self.status, self.extra = text, status, extra


# --------------------------------------------------------------------------- the vendor's schemas

_SCHEMAS = {}
_SCHEMAS_LOCK = threading.Lock()


def schemas():
    """Draft-4 validators built once from the vendor's spec (see the notes in the docstring)."""
    with _SCHEMAS_LOCK:
        if not _SCHEMAS:
            _SCHEMAS.update(_build_schemas(json.loads(SPEC_PATH.read_text(encoding="utf-8"))))
        return _SCHEMAS


def _build_schemas(spec):
    from jsonschema import Draft4Validator  # a test dependency, like the sandbox itself

    definitions = spec["definitions"]

    def validator(schema):
        return Draft4Validator({**schema, "definitions": definitions})

    def without_code(name):
        schema = copy.deepcopy(definitions[name])
        schema["required"] = [item for item in schema["required"] if item != "code"]
        return schema

    invoice = copy.deepcopy(definitions["factura1"]["properties"]["invoice"])
    invoice["properties"]["products"] = {"type": "array"}  # each item is checked on its own (note 2)
    # dateIncasare requires paymentSeries for every type; Postman's "Ordin plata" omits it, and only a
    # receipt has a series (note 4): followed, Postman and the prose.
    payment_at_issue = copy.deepcopy(definitions["dateIncasare"])
    payment_at_issue["required"] = [item for item in payment_at_issue["required"] if item != "paymentSeries"]
    invoice["properties"]["payment"] = payment_at_issue
    payment_schemas = {
        name: copy.deepcopy(definitions[name]["properties"]["payment"])
        for name in ("exempluEmitereIncasareFaraDateleDinFactura", "exempluEmitereIncasareCuChitanta",
                     "exempluEmitereIncasareCuDateleDinFactura", "exempluEmitereBonFiscalCuDiscount")
    }
    for schema in payment_schemas.values():
        if "invoicesList" in schema["properties"]:
            schema["properties"]["invoicesList"] = {"type": "array",
                                                    "items": {"$ref": "#/definitions/exempluInvoicesList"}}
        if "products" in schema["properties"]:
            schema["properties"]["products"] = {"type": "array"}
    # The Bon table says "number" is allocated when absent; the schema requires it (followed: the table).
    bon = payment_schemas["exempluEmitereBonFiscalCuDiscount"]
    bon["required"] = [item for item in bon["required"] if item != "number"]
    return {
        "invoice": validator(invoice),
        # "code" only when the company uses product codes (note 3): checked with the table's own text.
        "product": validator({"anyOf": [without_code("dateProdusGeneral1"), without_code("dateProdusGeneral2")]}),
        "discount": validator({"anyOf": [definitions["dateDiscountGeneralValoric"],
                                         definitions["dateDiscountGeneralProcentual"]]}),
        "reverse": validator(definitions["exempluFacturaStorno"]),
        "payment": validator(payment_schemas["exempluEmitereIncasareFaraDateleDinFactura"]),
        "receipt": validator(payment_schemas["exempluEmitereIncasareCuChitanta"]),
        "payment_from_invoice": validator(payment_schemas["exempluEmitereIncasareCuDateleDinFactura"]),
        "fiscal_receipt": validator(payment_schemas["exempluEmitereBonFiscalCuDiscount"]),
    }


def schema_refusal(validator_name, data, where=""):
    """The first schema error as SmartBill's 400, in its words where its table has them."""
    validator = schemas()[validator_name]
    error = next(iter(sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))), None)
    if error is None:
        return None
    if error.validator == "anyOf" and error.context:
        error = min(error.context, key=lambda e: (len(list(e.absolute_path)), e.validator != "required"))
    if error.validator == "required":
        missing = re.search(r"'(\w+)' is a required property", error.message).group(1)
        if where in ("product", "discount"):
            return Refusal(f"{missing} trebuie specificat pentru fiecare produs")
        if list(error.absolute_path) == ["client"]:
            return Refusal("client trebuie specificat")
        if missing == "companyVatCode":
            return Refusal(MSG_CIF_MISSING_BODY)
        return Refusal(f"{missing} trebuie specificat")
    path = ".".join(str(part) for part in error.absolute_path) or where
    return Refusal(f"Valoarea campului '{path}' nu este valida.")


# --------------------------------------------------------------------------- state records


@dataclass
class Series:
    name: str
    type: str  # f (invoices), p (proformas), c (receipts)
    next_number: int = 1
    width: int = 4

    def text(self, value):
        return str(value).zfill(self.width)


@dataclass
class Account:
    cif: str
    email: str
    token: str
    name: str
    vat_payer: bool
    taxes: list  # [{"name": str, "percentage": Decimal}]
    series: dict  # name -> Series
    uses_product_codes: bool = False
    api_access: bool = True
    document_quota: int | None = None
    warehouses: tuple = ()
    reference_currency_prices: bool = False
    cash_register: bool = False
    languages: tuple = LANGUAGES
    invoices: dict = field(default_factory=dict)  # (series, number) -> invoice
    estimates: dict = field(default_factory=dict)  # (series, number) -> estimate
    payments: list = field(default_factory=list)
    fiscal_receipts: list = field(default_factory=list)
    documents_issued: int = 0


@dataclass
class Login:
    """The rate-limit state of one SmartBill login."""

    email: str
    window_started: float | None = None
    window_used: int = 0
    blocked_until: float = 0.0
    call_times: list = field(default_factory=list)


# --------------------------------------------------------------------------- amounts


def item_amounts(item, vat_payer):
    """``(value, vat)`` of one stored line: its value before VAT and its VAT, both in cents."""
    rate = item["rate"] if vat_payer else Decimal(0)
    amount = item["amount"] if item["kind"] == "discount" else cents(item["quantity"] * item["price"])
    if item["tax_included"] and vat_payer:
        vat = cents(amount * rate / (100 + rate))
        return amount - vat, vat
    return amount, cents(amount * rate / 100)


def document_totals(items, vat_payer):
    untaxed = vat = Decimal(0)
    for item in items:
        value, item_vat = item_amounts(item, vat_payer)
        untaxed, vat = untaxed + value, vat + item_vat
    return untaxed, vat, untaxed + vat


# --------------------------------------------------------------------------- the sandbox


class SmartBillSandbox(SandboxServer):
    """SmartBill Cloud REST API from memory. See the module docstring for what is faithful."""

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
        """Forget accounts, documents, faults, the request log and the rate-limit windows."""
        super().reset()
        with self._lock:
            self._forget_everything()

    def add_account(self, cif, email, token, *, name="Firma Demo SRL", taxes=(("Normala", 21), ("Redusa", 11),
                    ("SDD", 0)), series=(("FCT", "f", 1), ("CHT", "c", 1)), vat_payer=True,
                    uses_product_codes=False, api_access=True, document_quota=None, warehouses=(),
                    reference_currency_prices=False, cash_register=False):
        """One company of one login. ``taxes``: ``(name, percentage)``; ``series``: ``(name, type,
        next number[, width])``. Returns the account as ``state()`` shows it."""
        with self._lock:
            if bare_cif(cif) in self._accounts:
                raise ValueError(f"account {cif!r} exists")
            account = Account(
                cif=cif, email=email, token=token, name=name, vat_payer=vat_payer,
                taxes=[{"name": tax_name, "percentage": Decimal(str(percentage))} for tax_name, percentage in taxes],
                series={entry[0]: Series(*entry) for entry in series},
                uses_product_codes=uses_product_codes, api_access=api_access, document_quota=document_quota,
                warehouses=tuple(warehouses), reference_currency_prices=reference_currency_prices,
                cash_register=cash_register,
            )
            self._accounts[bare_cif(cif)] = account
            return self._account_state(account)

    def add_estimate(self, cif, series, number, client, products):
        """A proforma as if issued in SmartBill, for ``useEstimateDetails`` invoices."""
        with self._lock:
            account = self._account(cif)
            self._accounts_series(account, series, "p")
            account.estimates[(series, number)] = {"client": copy.deepcopy(client), "products": copy.deepcopy(products)}

    def state(self, slug):
        """The company ``slug`` (its CIF) as stored: series, invoices, payments, receipts, calls."""
        with self._lock:
            account = self._account(slug)
            payments = [self._payment_state(payment) for payment in account.payments]
            return plain_data({
                "account": self._account_state(account),
                "series": {name: {"type": entry.type, "nextNumber": entry.text(entry.next_number)}
                           for name, entry in account.series.items()},
                "invoices": [self._invoice_state(account, invoice) for invoice in account.invoices.values()],
                "payments": payments,
                "receipts": [payment for payment in payments if payment["type"] == RECEIPT],
                "fiscal_receipts": account.fiscal_receipts,
                "calls": list(self._logins[account.email].call_times) if account.email in self._logins else [],
            })

    def edit_invoice_total(self, cif, series, number, total):
        """A person changes the invoice in SmartBill's own screens: its total becomes ``total``."""
        with self._lock:
            invoice = self._account(cif).invoices[(series, number)]
            invoice["total"] = Decimal(str(total))

    def pay_in_smartbill(self, cif, series, number, value, payment_type="Ordin plata", issue_date=None):
        """A payment recorded by a person in SmartBill, not through the API."""
        with self._lock:
            account = self._account(cif)
            invoice = account.invoices[(series, number)]
            payment = self._new_payment(account, {
                "type": payment_type, "value": Decimal(str(value)), "currency": invoice["currency"],
                "issueDate": issue_date or self._today().isoformat(), "client": invoice["client"],
                "language": invoice["language"], "isCash": payment_type == RECEIPT, "text": "", "observation": "",
                "origin": "smartbill",
            }, [invoice])
            return self._payment_state(payment)

    def issue_in_smartbill(self, cif, series, value=Decimal("100"), client_name="Client din SmartBill"):
        """An invoice a person issues in SmartBill's own screens (one line at the first VAT rate)."""
        with self._lock:
            account = self._account(cif)
            tax = account.taxes[0] if account.taxes else {"name": "", "percentage": Decimal(0)}
            item = {"kind": "product", "name": "Servicii", "quantity": Decimal(1), "price": Decimal(str(value)),
                    "rate": tax["percentage"], "tax_name": tax["name"], "tax_included": False, "unit": "buc",
                    "code": "", "is_service": True}
            invoice = self._new_invoice(account, account.series[series], {"name": client_name}, [item],
                                        {"issueDate": self._today().isoformat()})
            return self._invoice_state(account, invoice)

    def set_next_number(self, cif, series, next_number):
        """A person sets the series' next number in SmartBill (Configurare › Serii documente)."""
        with self._lock:
            self._account(cif).series[series].next_number = int(next_number)

    def set_vat_payer(self, cif, vat_payer):
        """The company's VAT status changes; documents issued before can no longer be edited."""
        with self._lock:
            self._account(cif).vat_payer = bool(vat_payer)

    def inject_xml_fault(self, error_text, status=400, *, method=None, path=None, times=1):
        """Answer the next matching request with the spec's XML ``<Fault>`` (note 14)."""
        body = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f'<Fault xmlns="https://ws.smartbill.ro/SBORO/api/invoice"><errorText>{escape(error_text)}'
            "</errorText><message/><number/></Fault>"
        )
        with self._lock:
            self._xml_faults.append({"method": method, "path": path, "times": times, "status": status, "body": body})

    # ================================================================ bookkeeping

    def _forget_everything(self):
        self._accounts = {}  # bare CIF -> Account
        self._logins = {}  # email -> Login
        self._xml_faults = []
        self._document_ids = iter(range(274119, 10**9))
        self._payment_ids = iter(range(1384, 10**9))

    def _account(self, cif):
        return self._accounts[bare_cif(cif)]

    @staticmethod
    def _accounts_series(account, name, series_type):
        entry = account.series.get(name)
        if entry is None or entry.type != series_type:
            raise KeyError(f"{name!r} is not a series of type {series_type!r}")
        return entry

    def _now(self):
        return datetime.fromtimestamp(self.clock(), BUCHAREST_TIME)

    def _today(self):
        return self._now().date()

    @staticmethod
    def _account_state(account):
        return {
            "cif": account.cif, "email": account.email, "name": account.name, "vat_payer": account.vat_payer,
            "taxes": account.taxes, "uses_product_codes": account.uses_product_codes,
            "documents_issued": account.documents_issued,
        }

    def _invoice_state(self, account, invoice):
        state = {key: value for key, value in invoice.items() if key not in ("items",)}
        state["products"] = invoice["items"]
        state["paid"] = self._paid(account, invoice)
        state["id"] = f"{invoice['series']}{invoice['number']}"
        return state

    @staticmethod
    def _payment_state(payment):
        return dict(payment)

    # ================================================================ routes

    def _register_api_routes(self):
        routes = [
            ("GET", "/tax", self._taxes),
            ("GET", "/series", self._series),
            ("POST", "/invoice", self._create_invoice),
            ("DELETE", "/invoice", self._delete_invoice),
            ("POST", "/invoice/reverse", self._reverse_invoice),
            ("PUT", "/invoice/cancel", self._cancel_invoice),
            ("PUT", "/invoice/restore", self._restore_invoice),
            ("GET", "/invoice/pdf", self._invoice_pdf),
            ("GET", "/invoice/paymentstatus", self._payment_status),
            ("POST", "/payment", self._create_payment),
            ("DELETE", "/payment/v2", self._delete_payment),
            ("DELETE", "/payment/chitanta", self._delete_receipt),
        ]
        for method, path, handler in routes:
            self.router.add(method, API + path, handler)

    # ================================================================ the request pipeline

    def dispatch(self, request):
        with self._lock:
            xml_fault = self._take_xml_fault(request)
            route, params = self.router.match(request.method, request.path)
            login, refusal = self._authenticate(request)
            if refusal is not None:
                refusal.headers.update(self._rate_headers(RATE_LIMIT, self.clock() + self.scaled(RATE_WINDOW)))
                return refusal
            allowed, headers = self._count_call(login)
            if not allowed:
                response = self._blocked_response()
            elif xml_fault is not None:
                response = Response(xml_fault["status"], xml_fault["body"].encode("utf-8"),
                                    {"Content-Type": "application/xml; charset=utf-8"})
            elif route is None or route == "method_not_allowed":
                response = self._no_route(request, route)
            else:
                request.params = params
                response = self._call(route.handler, request, login)
            response.headers.update(headers)
            return response

    def _take_xml_fault(self, request):
        for fault in self._xml_faults:
            if fault["method"] and fault["method"].upper() != request.method:
                continue
            if fault["path"] and not re.search(fault["path"], request.path):
                continue
            fault["times"] -= 1
            if fault["times"] <= 0:
                self._xml_faults.remove(fault)
            return fault
        return None

    @staticmethod
    def _no_route(request, route):
        if route == "method_not_allowed":
            return html_response(405, "HTTP Status 405 - Method Not Allowed", f"{request.method} {request.path}")
        return html_response(404, "HTTP Status 404 - Not Found", request.path)

    def _authenticate(self, request):
        credentials = request.basic_auth()
        if credentials:
            email, token = credentials
            for account in self._accounts.values():
                if account.email == email and account.token == token and account.api_access:
                    return self._logins.setdefault(email, Login(email)), None
        return None, html_response(401, "HTTP Status 401 - Unauthorized",
                                   "This request requires HTTP authentication.")

    def _call(self, handler, request, login):
        try:
            payload = self._payload(request)
            account = self._company(request, payload, login)
            return handler(request, account, payload)
        except Refusal as refusal:
            return self._refusal_response(refusal)

    @staticmethod
    def _payload(request):
        if request.method not in ("POST", "PUT") or not request.body.strip():
            return {}
        if request.content_type != "application/json":
            raise Refusal("Sandbox-ul SmartBill accepta doar continut JSON.", status=415)  # [I]
        try:
            payload = request.json()
        except (ValueError, UnicodeDecodeError):
            raise Refusal("Continutul apelului nu este un JSON valid.") from None  # [I]
        if not isinstance(payload, dict):
            raise Refusal("Continutul apelului nu este un JSON valid.")
        return payload

    def _company(self, request, payload, login):
        """The account of the CIF the call names, if the login may use it."""
        cif = request.query.get("cif") or request.query.get("companyVatCode")
        if request.method == "POST":
            cif = payload.get("companyVatCode")
        if not cif:
            raise Refusal(MSG_CIF_MISSING_BODY if request.method == "POST" else MSG_CIF_MISSING)
        account = self._accounts.get(bare_cif(cif))
        if account is None:
            raise Refusal(MSG_CIF_UNKNOWN)
        if account.email != login.email:
            raise Refusal(MSG_CIF_OTHER_LOGIN)
        return account

    @staticmethod
    def _refusal_response(refusal):
        body = {"errorText": refusal.text, "message": "", "number": "", "series": ""}
        body.update(refusal.extra)
        return json_response(refusal.status, body)

    @staticmethod
    def _answer(**values):
        return json_response(200, {"errorText": "", "message": "", "number": "", "series": "", **values})

    # ---- rate limit

    def _count_call(self, login):
        now, window = self.clock(), self.scaled(RATE_WINDOW)
        if login.blocked_until > now:
            return False, self._rate_headers(0, login.blocked_until)
        if login.window_started is None or now - login.window_started >= window:
            login.window_started, login.window_used = now, 0
        if login.window_used >= RATE_LIMIT:
            login.blocked_until = now + self.scaled(BLOCK_SECONDS)
            return False, self._rate_headers(0, login.blocked_until)
        login.window_used += 1
        login.call_times.append(now)
        return True, self._rate_headers(RATE_LIMIT - login.window_used, login.window_started + window)

    def _rate_headers(self, remaining, reset_at):
        reset = f"{reset_at:.3f}" if self.time_scale < 1 else str(math.ceil(reset_at))
        return {"X-RateLimit-Limit": str(RATE_LIMIT), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": reset}

    def _blocked_response(self):
        return json_response(403, {"errorText": MSG_RATE_LIMITED, "message": "", "number": "", "series": ""})

    def rate_limited_response(self, request, reset_seconds):
        headers = self._rate_headers(0, self.clock() + float(reset_seconds))
        response = self._blocked_response()
        response.headers.update(headers)
        return response

    # ================================================================ configuration

    def _taxes(self, request, account, payload):
        taxes = [{"name": tax["name"], "percentage": json_number(tax["percentage"])} for tax in account.taxes]
        return self._answer(taxes=taxes)

    def _series(self, request, account, payload):
        wanted = request.query.get("type")
        if wanted and wanted not in SERIES_TYPES:
            raise Refusal(f"Tipul documentului nu poate fi {wanted}! Parametrul type poate lua valorile: 'f' pentru "
                          "factura, 'p' pentru proforma si 'c' pentru chitanta.")
        listed = [
            {"name": entry.name, "nextNumber": self._listed_next_number(entry), "type": entry.type}
            for entry in account.series.values() if not wanted or entry.type == wanted
        ]
        return self._answer(list=listed)

    @staticmethod
    def _listed_next_number(entry):
        """serieFactura and serieProforma show "0117", serieChitanta the number 13 (note 10)."""
        return entry.next_number if entry.type == "c" else entry.text(entry.next_number)

    # ================================================================ invoices

    def _create_invoice(self, request, account, payload):
        refusal = schema_refusal("invoice", payload)
        if refusal:
            raise refusal
        self._check_dates(payload)
        if truthy(payload.get("useEstimateDetails")):
            payload = self._from_estimate(account, payload)
        client = self._invoice_client(payload)
        series = self._invoice_series(account, payload.get("seriesName"))
        header = self._invoice_header(account, payload)
        items = self._items(account, payload.get("products"), header)
        self._check_payment_tax(account, payload)
        payment = self._payment_at_issue(account, payload.get("payment"))
        self._check_quota(account)
        if truthy(payload.get("isDraft")):
            return self._answer(url="")  # a draft gets its number when a person finalises it in SmartBill
        invoice = self._new_invoice(account, series, client, items, header)
        invoice.update(emailed=truthy(payload.get("sendEmail")), useIntraCif=truthy(payload.get("useIntraCif")),
                       useStock=truthy(payload.get("useStock")))
        if payment:
            self._new_payment(account, dict(payment, client=client, currency=invoice["currency"],
                                            language=invoice["language"], issueDate=invoice["issueDate"]), [invoice])
        url = ""
        if payload.get("paymentUrl"):
            url = (f"{self.url}/plata/{invoice['documentId']}" if payload["paymentUrl"] == "Generate URL"
                   else str(payload["paymentUrl"]))
        return self._answer(number=invoice["number"], series=invoice["series"], url=url)

    @staticmethod
    def _check_dates(payload):
        if not payload.get("issueDate"):
            raise Refusal("issueDate trebuie specificat")  # the error table; the parameter table says optional (note 5)
        for name in ("issueDate", "dueDate", "deliveryDate", "paymentDate"):
            value = payload.get(name)
            if value and not _is_iso_date(value):
                raise Refusal(MSG_DATE_FORMAT)

    def _from_estimate(self, account, payload):
        estimate = payload.get("estimate") or {}
        found = account.estimates.get((estimate.get("seriesName"), estimate.get("number")))
        if found is None:
            raise Refusal(f"Factura proforma {estimate.get('seriesName', '')}{estimate.get('number', '')} "
                          "nu a fost gasita!")
        if not found["products"]:
            raise Refusal("Proforma nu contine produse!")
        payload = dict(payload, client=found["client"], products=found["products"])
        if truthy(estimate.get("useStock")):
            payload["useStock"] = True
        return payload

    @staticmethod
    def _invoice_client(payload):
        client = payload.get("client")
        if not isinstance(client, dict):
            raise Refusal("client trebuie specificat")
        if not str(client.get("name") or "").strip():
            raise Refusal("Client invalid!")
        return copy.deepcopy(client)

    @staticmethod
    def _invoice_series(account, name):
        if not name:
            name = next((entry.name for entry in account.series.values() if entry.type == "f"), None)
        entry = account.series.get(name)
        if entry is None:
            raise Refusal(MSG_SERIES_NOT_FOUND)
        if entry.type != "f":
            raise Refusal(MSG_SERIES_NOT_FOUND, status=200)  # [I] refused under HTTP 200
        return entry

    def _invoice_header(self, account, payload):
        currency, language = currency_and_language(account, payload)
        try:
            exchange_rate = to_decimal(payload["exchangeRate"]) if payload.get("exchangeRate") is not None \
                else REFERENCE_RATES.get(currency, Decimal(1))
        except ValueError:
            raise Refusal("Valoarea campului 'exchangeRate' nu este valida.") from None
        precision = payload.get("precision")
        precision = 2 if precision is None else min(max(int(precision), 2), 4)  # "limited to 4"
        return {
            "issueDate": payload["issueDate"], "dueDate": payload.get("dueDate") or "",
            "deliveryDate": payload.get("deliveryDate") or "", "currency": currency, "exchangeRate": exchange_rate,
            "language": language, "precision": precision, "mentions": payload.get("mentions") or "",
            "observations": payload.get("observations") or "", "useStock": truthy(payload.get("useStock")),
        }

    def _check_payment_tax(self, account, payload):
        if not truthy(payload.get("usePaymentTax")):
            return
        if not account.vat_payer:
            raise Refusal("O firma neplatitoare de tva nu poate folosi tva la incasare!")
        for name in ("paymentBase", "colectedTax", "paymentTotal"):
            if payload.get(name) is None:
                raise Refusal(f"{name} trebuie specificat")

    @staticmethod
    def _check_quota(account):
        if account.document_quota is not None and account.documents_issued >= account.document_quota:
            raise Refusal(MSG_QUOTA)

    # ---- lines

    def _items(self, account, products, header):
        if not products:
            raise Refusal("Factura nu contine produse!")
        if len(products) > MAX_LINES:
            raise Refusal(f"Numarul maxim acceptat de {MAX_LINES} intrari pe document a fost depasit.")
        if any(not isinstance(product, dict) for product in products):
            raise Refusal("Valoarea campului 'products' nu este valida.")
        if all(truthy(product.get("isDiscount")) for product in products):
            raise Refusal("Nu poti sa emiti un document care contine doar un discount. Trebuie sa ai si produse / "
                          "servicii adaugate.")
        items = []
        for product in products:
            if truthy(product.get("isDiscount")):
                items.append(self._discount(account, product, items, header))
            else:
                items.append(self._product(account, product, header))
        return items

    def _product(self, account, product, header):
        refusal = schema_refusal("product", product, "product")
        if refusal:
            raise refusal
        name = product["name"]
        if account.uses_product_codes and not str(product.get("code") or "").strip():
            raise Refusal(f"Produsul {name} nu are codul specificat.")
        for required in ("quantity", "price"):
            if product.get(required) is None:
                raise Refusal(f"{required} trebuie specificat pentru fiecare produs")
        self._check_warehouse(account, product, header)
        tax = self._tax(account, product)
        price = self._price_in_document_currency(account, product, header)
        precision = Decimal(1).scaleb(-header["precision"])
        return {
            "kind": "product", "name": name, "code": product.get("code") or "",
            "quantity": to_decimal(product["quantity"]), "price": price.quantize(precision, rounding=ROUND_HALF_UP),
            "rate": tax["percentage"], "tax_name": tax["name"], "tax_included": truthy(product.get("isTaxIncluded")),
            "unit": product["measuringUnitName"], "is_service": truthy(product.get("isService")),
        }

    def _price_in_document_currency(self, account, product, header):
        price, currency = to_decimal(product["price"]), product["currency"]
        if currency == header["currency"]:
            return price
        if header["currency"] != "RON":
            raise Refusal(f"Nu puteti emite documente in {header['currency']} cu moneda de referinta a produselor "
                          f"in {currency} !")
        if not account.reference_currency_prices:
            raise Refusal("Aveti produse care au pretul in alta moneda decat cea a facturii.")
        if currency not in CURRENCIES:
            raise Refusal("Moneda nu a fost gasita pe server!")
        rate = product.get("exchangeRate")
        return price * (to_decimal(rate) if rate is not None else REFERENCE_RATES.get(currency, Decimal(1)))

    @staticmethod
    def _check_warehouse(account, product, header):
        if not header["useStock"] or truthy(product.get("isService")):
            return
        if not account.warehouses:
            raise Refusal("Modulul stoc nu este activ!")
        warehouse = product.get("warehouseName")
        if not warehouse:
            raise Refusal(f"Gestiunea predatoare nu este setata pentru produsul {product['name']}.")
        if warehouse not in account.warehouses:
            raise Refusal(f"Gestiunea predatoare {warehouse} a produsului {product['name']} nu a fost gasita.")

    def _tax(self, account, product, *, required=True):
        """The account's VAT rate the product names ("Folosirea cotelor TVA")."""
        if not account.vat_payer:
            return {"name": "", "percentage": Decimal(0)}
        name, percentage = product.get("taxName"), product.get("taxPercentage")
        if name is None and percentage is None:
            if not required:
                return None
            raise Refusal(f"Trebuie sa setezi o cota tva pentru produsul {product['name']}.")
        if name is None and to_decimal(percentage) == 0:
            name = "TVA Inclus"  # "se va considera o cota TVA de 0% TVA Inclus"
        wanted = None if percentage is None else to_decimal(percentage)
        for tax in account.taxes:
            if (name is None or tax["name"] == name) and (wanted is None or tax["percentage"] == wanted):
                return tax
        raise Refusal(f"Cota tva a produsului {product['name']} nu a fost gasita pe server!", status=200)

    def _discount(self, account, product, items, header):
        """A discount line: a fixed (negative) value or a percentage of the ``numberOfItems`` lines before it."""
        refusal = schema_refusal("discount", product, "discount")
        if refusal:
            raise refusal
        count = product.get("numberOfItems") or 1
        if count > len(items):
            raise Refusal(f"Discountul {product['name']} se aplica pe mai multe produse decat exista pe "
                          "document.")  # [I]
        covered = items[-count:]
        discount_type = product.get("discountType", 2)
        discount_type = discount_type if discount_type in (1, 2) else 1  # "any other value counts as 1"
        tax_included = truthy(product.get("isTaxIncluded"))
        rates = {item["rate"] for item in covered}
        if len(rates) == 1:
            tax = {"name": covered[0]["tax_name"], "percentage": covered[0]["rate"]}
        elif discount_type == 2:
            raise Refusal("Discountul procentual poate fi aplicat pe mai multe produse doar daca acestea au aceeasi "
                          "cota TVA.")  # [I] wording; the spec says an error is returned
        else:
            tax = self._tax(account, product, required=False)
            if tax is None:
                raise Refusal("La aplicarea unui discount pentru produse cu cote tva diferite, trebuie sa specifici si "
                              "cota tva a discountului.")
        if discount_type == 1:
            if product.get("discountValue") is None:
                raise Refusal("discountValue trebuie specificat pentru fiecare produs de tip discount")
            amount = cents(to_decimal(product["discountValue"]))
            if amount > 0:
                raise Refusal("Valoarea discountului trebuie sa fie negativa.")  # [I]
        else:
            if product.get("discountPercentage") is None:
                raise Refusal("discountPercentage trebuie specificat pentru fiecare produs de tip discount")
            base = Decimal(0)
            for item in covered:
                value, vat = item_amounts(item, account.vat_payer)
                base += value + vat if tax_included else value
            amount = -cents(base * to_decimal(product["discountPercentage"]) / 100)
        return {
            "kind": "discount", "name": product["name"], "amount": amount, "rate": tax["percentage"],
            "tax_name": tax["name"], "tax_included": tax_included, "unit": product["measuringUnitName"],
            "number_of_items": count,
        }

    # ---- the invoice itself

    def _new_invoice(self, account, series, client, items, header, **extra):
        header = {**INVOICE_DEFAULTS, **header}
        number = series.text(series.next_number)
        series.next_number += 1
        account.documents_issued += 1
        untaxed, vat, total = document_totals(items, account.vat_payer)
        invoice = {
            "series": series.name, "number": number, "documentId": next(self._document_ids), "client": client,
            **header, "items": items, "vat_payer": account.vat_payer, "untaxed": untaxed, "vat": vat, "total": total,
            "cancelled": False, "storno_of": None, "stornos": [], "emailed": False,
        }
        invoice.update(extra)
        account.invoices[(series.name, number)] = invoice
        return invoice

    def _invoice_from_query(self, request, account, missing=("Seria facturii trebuie specificata!",
                                                              "Numarul facturii trebuie specificat!")):
        series = request.query.get("seriesname") or request.query.get("seriesName")
        return self._find_invoice(account, series, request.query.get("number"), missing)

    @staticmethod
    def _find_invoice(account, series, number, missing):
        """The invoice ``series`` + ``number``; ``missing`` are the method's texts for an absent series, number."""
        for value, message in zip((series, number), missing):
            if not value:
                raise Refusal(message)
        invoice = account.invoices.get((series, number))
        if invoice is None:
            raise Refusal(f"Factura cu seria si numarul {series}{number} nu a fost gasita!")
        return invoice

    @staticmethod
    def _check_vat_status(account, invoice, verb):
        if invoice["vat_payer"] != account.vat_payer:
            status = "platitor tva" if invoice["vat_payer"] else "neplatitor tva"
            raise Refusal(f"Documentul a fost emis ca {status}. Nu se poate {verb}.")

    def _reverse_invoice(self, request, account, payload):
        refusal = schema_refusal("reverse", payload)
        if refusal:
            raise Refusal(refusal.text, **STORNO_ERROR_FIELDS)
        series, number = payload.get("seriesName"), payload.get("number")
        if not series:
            raise Refusal("Seria facturii trebuie specificata in parametrul 'seriesName'!", **STORNO_ERROR_FIELDS)
        if not number:
            raise Refusal("Numarul facturii trebuie specificat in parametrul 'number'!", **STORNO_ERROR_FIELDS)
        original = account.invoices.get((series, number))
        if original is None:
            raise Refusal(f"Factura cu seria si numarul {series}{number} nu a fost gasita!", **STORNO_ERROR_FIELDS)
        if original["storno_of"] or any(_is_negative(item) for item in original["items"]):
            raise Refusal(f"Factura {series}{number} este de tip storno. Nu se poate storna.", **STORNO_ERROR_FIELDS)
        if any(not account.invoices[key]["cancelled"] for key in map(tuple, original["stornos"])):
            raise Refusal("Factura este deja stornata.", **STORNO_ERROR_FIELDS)
        issue_date = payload.get("issueDate") or self._today().isoformat()
        if not _is_iso_date(issue_date):
            raise Refusal(MSG_DATE_FORMAT, **STORNO_ERROR_FIELDS)
        if issue_date < original["issueDate"]:
            raise Refusal("Data emiterii facturii storno nu poate fi anterioara datei emiterii facturii stornate.",
                          **STORNO_ERROR_FIELDS)
        self._check_quota(account)
        header = {key: original[key] for key in ("currency", "exchangeRate", "language", "precision", "dueDate",
                                                  "deliveryDate", "observations", "useStock")}
        header.update(issueDate=issue_date, mentions=f"Storno la factura {series}{number}")
        storno = self._new_invoice(account, account.series[series], copy.deepcopy(original["client"]),
                                   [_negated(item) for item in original["items"]], header,
                                   storno_of=[series, number])
        original["stornos"].append([storno["series"], storno["number"]])
        document_id = str(storno["documentId"])
        return self._answer(
            number=storno["number"], series=storno["series"], url="",
            documentUrl=f"{self.url}/documente/editare/factura/{document_id}/", documentId=document_id,
            documentViewUrl=f"{self.url}/documente/extern/pf/factura/{document_id}",
        )

    def _cancel_invoice(self, request, account, payload):
        invoice = self._invoice_from_query(request, account)
        self._check_vat_status(account, invoice, "anula")
        standing = [f"{s}{n}" for s, n in invoice["stornos"] if not account.invoices[(s, n)]["cancelled"]]
        if standing:
            raise Refusal(f"Pentru factura {invoice['series']}{invoice['number']} exista deja stornari care incarca "
                          f"stocul. Trebuie sa anulati intai facturile storno ({', '.join(standing)}).")
        invoice["cancelled"] = True
        self._detach_payments(account, invoice)
        return self._answer(message=f"Factura cu seria si numarul {invoice['series']}{invoice['number']} a fost "
                                    "anulata cu succes.")

    def _restore_invoice(self, request, account, payload):
        invoice = self._invoice_from_query(request, account)
        self._check_vat_status(account, invoice, "restaura")
        if invoice["storno_of"] and account.invoices[tuple(invoice["storno_of"])]["cancelled"]:
            original = "".join(invoice["storno_of"])
            raise Refusal(f"Eroare restaurare factura storno {invoice['series']}{invoice['number']}. Trebuie initial "
                          f"sa restaurezi facturile stornate de aceasta ({original}).")
        invoice["cancelled"] = False
        return self._answer(message=f"Factura cu seria si numarul {invoice['series']}{invoice['number']} a fost "
                                    "restaurata cu succes.")

    def _delete_invoice(self, request, account, payload):
        invoice = self._invoice_from_query(request, account,
                                           ("Seriesname trebuie specificat.", "Number trebuie specificat."))
        self._check_vat_status(account, invoice, "sterge")
        series = account.series[invoice["series"]]
        if int(invoice["number"]) != series.next_number - 1:
            raise Refusal(f"Documentul cu seria si numarul {invoice['series']} {invoice['number']} nu este ultimul "
                          "din serie!")
        self._detach_payments(account, invoice)
        del account.invoices[(invoice["series"], invoice["number"])]
        series.next_number -= 1
        if invoice["storno_of"]:
            original = account.invoices.get(tuple(invoice["storno_of"]))
            if original:
                original["stornos"].remove([invoice["series"], invoice["number"]])
        return self._answer(message=f"Factura cu seria si numarul {invoice['series']}{invoice['number']} a fost "
                                    "stearsa cu succes.")

    def _invoice_pdf(self, request, account, payload):
        accept = (request.headers.get("Accept") or "").lower()
        if "application/octet-stream" not in accept:
            raise Refusal("Pentru a primi PDF-ul facturii trimiteti headerul Accept: application/octet-stream.")  # [I]
        invoice = self._invoice_from_query(request, account)
        identity = f"{invoice['series']}{invoice['number']}"
        title = "FACTURA STORNO" if invoice["storno_of"] else "FACTURA"
        lines = [
            f"{title} {identity}", f"Seria {invoice['series']} nr. {invoice['number']}", account.name,
            f"CIF {account.cif}", f"Client: {invoice['client'].get('name', '')} {invoice['client'].get('vatCode', '')}",
            f"Data emiterii: {invoice['issueDate']}",
            f"Total de plata: {invoice['total']} {invoice['currency']}",
            *[line for line in str(invoice["mentions"]).splitlines() if line.strip()],
        ]
        if invoice["cancelled"]:
            lines.append("ANULATA")
        headers = {"Content-Type": "application/octet-stream",
                   "Content-Disposition": f'attachment; filename="{identity}.pdf"'}
        return Response(200, text_pdf(lines), headers)

    def _payment_status(self, request, account, payload):
        try:
            invoice = self._invoice_from_query(request, account)
        except Refusal as refusal:
            if "nu a fost gasita" in refusal.text:
                raise Refusal(MSG_INVOICE_NOT_FOUND) from None
            raise
        paid = self._paid(account, invoice)
        # The documented answer (successResponseInterogareFactura2) has no "paid" (note 12).
        return self._answer(invoiceTotalAmount=json_number(invoice["total"]), paidAmount=json_number(paid),
                            unpaidAmount=json_number(invoice["total"] - paid))

    # ================================================================ payments

    def _create_payment(self, request, account, payload):
        payload = dict(payload)
        if isinstance(payload.get("invoicesList"), dict):
            payload["invoicesList"] = [payload["invoicesList"]]  # Postman's single object (note 8)
        payment_type = payload.get("type")
        if payment_type == FISCAL_RECEIPT:
            return self._fiscal_receipt(account, payload)
        from_invoice = truthy(payload.get("useInvoiceDetails"))
        refusal = schema_refusal("payment_from_invoice" if from_invoice else
                                 "receipt" if payment_type == RECEIPT else "payment", payload)
        if refusal:
            raise refusal
        if not payment_type:
            raise Refusal("Tipul incasarii trebuie specificat.")
        payment_type = next((known for known in PAYMENT_TYPES if known.lower() == payment_type.lower()), None)
        if payment_type is None:
            raise Refusal("Tipul incasarii nu a fost gasit!")
        if not payload.get("issueDate"):
            raise Refusal("issueDate trebuie specificat")
        if not _is_iso_date(payload["issueDate"]):
            raise Refusal(MSG_DATE_FORMAT)
        invoices = self._paid_invoices(account, payload, from_invoice)
        values = self._payment_values(account, payload, invoices, from_invoice)
        values["type"] = payment_type
        series = self._receipt_series(account, payload) if payment_type == RECEIPT else None
        if truthy(payload.get("isDraft")):
            return self._answer()
        payment = self._new_payment(account, values, invoices, series=series)
        return self._answer(number=payment["number"], series=payment["series"])

    def _paid_invoices(self, account, payload, from_invoice):
        listed = payload.get("invoicesList") or []
        if from_invoice and len(listed) != 1:
            if not listed:
                raise Refusal("Pentru emiterea unei incasari cu datele de pe factura trebuie specificate seria si "
                              "numarul facturii.")
            raise Refusal("Trebuie specificata doar o factura!")
        invoices = []
        for entry in listed:
            invoice = account.invoices.get((entry.get("seriesName"), entry.get("number")))
            if invoice is None:
                raise Refusal(MSG_INVOICE_NOT_FOUND)
            if invoice["cancelled"]:
                identity = f"{invoice['series']}{invoice['number']}"
                raise Refusal(f"Factura {identity} este anulata, nu o puteti incasa. Restaurati intai factura sau "
                              "emiteti incasarea independent de factura.")
            invoices.append(invoice)
        return invoices

    def _payment_values(self, account, payload, invoices, from_invoice):
        if from_invoice:
            invoice = invoices[0]
            return {"value": invoice["total"] - self._paid(account, invoice), "currency": invoice["currency"],
                    "language": invoice["language"], "client": invoice["client"], "issueDate": payload["issueDate"],
                    "isCash": truthy(payload.get("isCash")), "observation": payload.get("observation") or "",
                    "text": "", "origin": "api"}
        if payload.get("value") is None:
            raise Refusal("Valoarea incasarii trebuie specificata.")
        client = payload.get("client")
        if not isinstance(client, dict) or not str(client.get("name") or "").strip():
            raise Refusal("Client invalid!")
        currency, language = currency_and_language(account, payload)
        for invoice in invoices:
            identity = f"{invoice['series']}{invoice['number']}"
            if not _same_client(invoice["client"], client):
                raise Refusal(f"Clientul facturii {identity} nu corespunde cu clientul incasarii!")
            if invoice["currency"] != currency:
                raise Refusal(f"Moneda facturii {identity} nu corespunde cu moneda incasarii!")
            if invoice["language"] != language:
                raise Refusal(f"Limba facturii {identity} nu corespunde cu limba incasarii!")
        return {"value": to_decimal(payload["value"]), "currency": currency, "language": language,
                "client": copy.deepcopy(client), "issueDate": payload["issueDate"],
                "isCash": payload.get("type") == RECEIPT or truthy(payload.get("isCash")),
                "text": payload.get("text") or "", "observation": payload.get("observation") or "", "origin": "api"}

    @staticmethod
    def _receipt_series(account, payload):
        name = payload.get("seriesName")
        if not name:  # "se va folosi seria implicita" (note 6)
            name = next((entry.name for entry in account.series.values() if entry.type == "c"), None)
        entry = account.series.get(name)
        if entry is None:
            raise Refusal(MSG_SERIES_NOT_FOUND)
        if entry.type != "c":
            raise Refusal("Seria nu poate fi folosita la chitante.")
        return entry

    def _payment_at_issue(self, account, payment):
        """The invoice's own ``payment`` section (Date incasare): checked before anything is stored."""
        if not payment:
            return None
        if payment.get("value") is None:
            raise Refusal("value trebuie specificat pentru incasare")
        if not payment.get("type"):
            raise Refusal("type trebuie specificat pentru incasare")
        known = PAYMENT_TYPES + (FISCAL_RECEIPT,)
        payment_type = next((name for name in known if name.lower() == str(payment["type"]).lower()), None)
        if payment_type is None:
            raise Refusal("Tipul incasarii nu a fost gasit!")
        series = None
        if payment_type == RECEIPT:
            series = account.series.get(payment.get("paymentSeries"))
            if series is None or series.type != "c":
                raise Refusal("Seria incasarii nu a fost gasita pe server.")
        return {"type": payment_type, "value": to_decimal(payment["value"]), "series_entry": series,
                "isCash": payment_type == RECEIPT or truthy(payment.get("isCash")), "text": "", "observation": "",
                "origin": "api"}

    def _new_payment(self, account, values, invoices, series=None):
        values = dict(values)
        series = series or values.pop("series_entry", None)
        values.pop("series_entry", None)
        receipt_number = ""
        if series is not None:
            receipt_number = series.text(series.next_number)
            series.next_number += 1
        left, parts = values["value"], []
        for position, invoice in enumerate(invoices):
            owed = invoice["total"] - self._paid(account, invoice)
            share = left if position == len(invoices) - 1 else min(max(owed, Decimal(0)), left)
            parts.append({"series": invoice["series"], "number": invoice["number"], "amount": share})
            left -= share
        payment = {"id": next(self._payment_ids), "series": series.name if series else "", "number": receipt_number,
                   "invoices": parts, **values}
        account.payments.append(payment)
        return payment

    @staticmethod
    def _paid(account, invoice):
        return sum((part["amount"] for payment in account.payments for part in payment["invoices"]
                    if (part["series"], part["number"]) == (invoice["series"], invoice["number"])), Decimal(0))

    @staticmethod
    def _detach_payments(account, invoice):
        key = (invoice["series"], invoice["number"])
        for payment in account.payments:
            payment["invoices"] = [part for part in payment["invoices"] if (part["series"], part["number"]) != key]

    def _fiscal_receipt(self, account, payload):
        refusal = schema_refusal("fiscal_receipt", payload)
        if refusal:
            raise refusal
        if not account.cash_register:
            raise Refusal(f"Nu s-a gasit casa de marcat pentru userul {account.email}.")
        if (payload.get("currency") or "RON") != "RON":
            raise Refusal("Bonurile fiscale pot fi emise doar in Lei!")
        header = {"currency": "RON", "precision": 2, "useStock": truthy(payload.get("useStock"))}
        for product in payload.get("products") or ():
            if truthy(product.get("isDiscount")) and product.get("discountValue") is not None:
                raise Refusal("Discountul nu poate fi de tip valoric!")
        items = self._items(account, payload.get("products"), header)
        receipt_number = str(payload.get("number") or str(len(account.fiscal_receipts) + 1).zfill(4))
        receipt = {"id": next(self._payment_ids), "number": receipt_number, "value": to_decimal(payload["value"]),
                   "total": document_totals(items, account.vat_payer)[2], "issueDate": payload.get("issueDate")}
        account.fiscal_receipts.append(receipt)
        text = ""
        if truthy(payload.get("returnFiscalPrinterText")):
            text = base64.b64encode(f"BON FISCAL {receipt_number} TOTAL {receipt['total']}".encode()).decode()
        return self._answer(number=receipt_number, message=text, id=receipt["id"])

    def _delete_payment(self, request, account, payload):
        query = request.query
        payment_type = query.get("paymentType")
        if not payment_type:
            raise Refusal("Tipul incasarii (paymentType) trebuie specificat.")
        series, number_text = query.get("invoiceSeries"), query.get("invoiceNumber")
        date_text, value_text = query.get("paymentDate"), query.get("paymentValue")
        if series or number_text:
            invoice = self._find_invoice(account, series, number_text, (
                "Seria facturii (invoiceSeries) trebuie specificata pentru identificarea incasarii.",
                "Numarul facturii (invoiceNumber) trebuie specificat pentru identificarea incasarii.",
            ))
            if invoice["cancelled"]:
                raise Refusal(f"Factura cu seria si numarul {series}{number_text} este anulata si nu mai are incasari "
                              "atasate!")
            matches = [payment for payment in account.payments if any(
                (part["series"], part["number"]) == (series, number_text) for part in payment["invoices"])]
            message = f"Incasarea pentru factura {series}{number_text} a fost stearsa cu succes!"
        else:
            if not date_text:
                raise Refusal("Data incasarii (paymentDate) trebuie specificata")
            if not value_text:
                raise Refusal("Valoarea incasarii (paymentValue) trebuie specificata.")
            client_cif, client_name = query.get("clientCif"), query.get("clientName")
            if not client_cif and not client_name:
                raise Refusal("Ciful clientului incasarii (clientCif) trebuie specificat.")
            matches = [payment for payment in account.payments
                       if (bare_cif(payment["client"].get("vatCode")) == bare_cif(client_cif) if client_cif
                           else payment["client"].get("name") == client_name)]
            message = (f"Incasarea emisa catre clientul {client_name or ''} {client_cif or ''} in data de {date_text} "
                       f"cu valoare de {value_text} de tip {payment_type} a fost stearsa cu succes.")
        matches = [payment for payment in matches if payment["type"].lower() == payment_type.lower()
                   and payment["type"] in DELETABLE_PAYMENT_TYPES
                   and (not date_text or payment["issueDate"] == date_text)
                   and (not value_text or _same_amount(payment["value"], value_text))]
        if not matches:
            raise Refusal("Nu au fost gasite incasari conform datelor specificate.")
        account.payments.remove(matches[0])
        return self._answer(message=message)

    def _delete_receipt(self, request, account, payload):
        series_name = request.query.get("seriesname") or request.query.get("seriesName")
        receipt_number = request.query.get("number")
        receipt = next((payment for payment in account.payments if payment["type"] == RECEIPT
                        and payment["series"] == series_name and payment["number"] == receipt_number), None)
        if receipt is None:
            raise Refusal("Chitanta nu a fost gasita.")
        series = account.series[series_name]
        if int(receipt_number) != series.next_number - 1:
            raise Refusal(f"Documentul cu seria si numarul {series_name} {receipt_number} nu este ultimul din serie!")
        account.payments.remove(receipt)
        series.next_number -= 1
        return self._answer(message=f"Chitanta cu seria si numarul {series_name}{receipt_number} a fost stearsa cu "
                                    "succes.")

    # ================================================================ control endpoints

    def _register_control_routes(self):
        add = self.control.add
        add("POST", "/_sandbox/accounts", self._control_add_account)
        add("POST", "/_sandbox/edit_total", self._control_edit_total)
        add("POST", "/_sandbox/pay_in_smartbill", self._control_pay)
        add("POST", "/_sandbox/issue_in_smartbill", self._control_issue)

    def _control_add_account(self, request, payload):
        payload = dict(payload)
        arguments = [payload.pop(name) for name in ("cif", "email", "token")]
        for name in ("taxes", "series"):
            if name in payload:
                payload[name] = [tuple(entry) for entry in payload[name]]
        return json_response(201, plain_data(self.add_account(*arguments, **payload)))

    def _control_edit_total(self, request, payload):
        self.edit_invoice_total(payload["cif"], payload["series"], payload["number"], payload["total"])
        return json_response(200, {})

    def _control_pay(self, request, payload):
        return json_response(201, plain_data(self.pay_in_smartbill(**payload)))

    def _control_issue(self, request, payload):
        return json_response(201, plain_data(self.issue_in_smartbill(**payload)))


# What an invoice holds when its request left it out (issue_in_smartbill sets only the date).
INVOICE_DEFAULTS = {"dueDate": "", "deliveryDate": "", "currency": "RON", "exchangeRate": Decimal(1), "language": "RO",
                    "precision": 2, "mentions": "", "observations": "", "useStock": False}

# The error answers of /invoice/reverse carry the storno answer's other fields (note 13).
STORNO_ERROR_FIELDS = {"url": "", "documentUrl": "", "documentId": -1, "documentViewUrl": ""}


# --------------------------------------------------------------------------- module helpers


def currency_and_language(account, payload):
    """A document's currency and language, defaults RON and RO, both known to the account."""
    currency = payload.get("currency") or "RON"
    if currency not in CURRENCIES:
        raise Refusal("Moneda nu a fost gasita pe server!")
    language = (payload.get("language") or "RO").upper()
    if language not in account.languages:
        raise Refusal("Limba nu a fost gasita pe server!")
    return currency, language


def _is_iso_date(value):
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_negative(item):
    return item["kind"] == "product" and item["quantity"] < 0


def _negated(item):
    negated = copy.deepcopy(item)
    if item["kind"] == "discount":
        negated["amount"] = -item["amount"]
    else:
        negated["quantity"] = -item["quantity"]
    return negated


def _same_client(invoice_client, payment_client):
    """The payment's client is the invoice's: the same CIF when the invoice has one, else the same name."""
    if bare_cif(invoice_client.get("vatCode")).strip("-"):
        return bare_cif(invoice_client.get("vatCode")) == bare_cif(payment_client.get("vatCode"))
    names = (str(client.get("name") or "").strip().lower() for client in (invoice_client, payment_client))
    return len(set(names)) == 1


def _same_amount(amount, text):
    try:
        return cents(amount) == cents(to_decimal(text))
    except ValueError:
        return False


DEMO_CIF = "RO40123456"
DEMO_EMAIL = "facturare@demo-odoo.ro"
DEMO_TOKEN = "demo-smartbill-api-token"


def seed_demo(sandbox):
    """A Romanian VAT payer with today's rates, an invoice, a credit and a receipt series."""
    sandbox.add_account(
        DEMO_CIF, DEMO_EMAIL, DEMO_TOKEN, name="Demo Odoo SRL",
        taxes=(("Normala", 21), ("Redusa", 11), ("SDD", 0), ("Taxare inversa", 0)),
        series=(("OD", "f", 1), ("ODC", "f", 1), ("CHT", "c", 1), ("PF", "p", 1)),
    )
    return {"cif": DEMO_CIF, "email": DEMO_EMAIL, "token": DEMO_TOKEN, "invoice_series": "OD",
            "credit_series": "ODC", "receipt_series": "CHT"}
