"""SmartBill Cloud REST API (https://api.smartbill.ro): the engine client.

Sources: the vendor's OpenAPI spec and Postman collection (``tests/fixtures/smartbill/``) and
the notes on where they contradict each other (``smartbill-spec-notes.md``, "note N" below).
Wire facts this module relies on:

* preemptive HTTP Basic ``email:token``; the company's CIF travels as ``companyVatCode`` in
  every body and as ``cif`` in every query; 401 means a wrong e-mail or token, or a CIF that
  does not belong to the login (the status table), while ``/tax`` and ``/series`` list a
  foreign or unknown CIF as 400 messages (note 17): both are ``AuthError``;
* errors are ``{"errorText": …}`` under 400, sometimes under 200 (note 14 and the third-party
  reports), or an XML ``<Fault><errorText>…`` document; 404/410 mean "refused by SmartBill's
  internal rules", not "missing": a missing document is the text "Factura … nu a fost gasita";
* 30 calls in 10 s, then the login is blocked for 10 minutes with HTTP 403;
  ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` (a unix time) come with every answer;
* there is no idempotency key and no way to list invoices: documents are known by series and
  zero-padded number (``"0025"``, kept verbatim), and exactly-once rests on the series'
  ``nextNumber`` before and after a create (``prepare_create`` / ``find_document``);
* the customer travels inside every document (``client``); payments name it again and must
  match the invoice's client, currency and language (the ``/payment`` error table);
* query parameters are spelled ``seriesname`` as in every Postman URL and the pdf and
  paymentstatus docs, not ``seriesName`` as in the shared parameter (note 9);
* VAT is computed per product: ``TVA = Price * taxPercentage`` ("Folosirea cotelor TVA"), and
  a fixed-value discount is a product of its own at the rate of the line it follows
  ("Aplicarea unui discount"), so it carries its own VAT: see ``ARITHMETIC``.
"""
import json
import re
import time
import unicodedata
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from xml.etree import ElementTree

from .arithmetic import VatPerLine, listed_line_and_adjustment
from .base import (
    CREDENTIAL_API_TOKEN,
    CUSTOMERS_EMBEDDED,
    Capabilities,
    EngineClient,
    RateLimitState,
    TaxAuthority,
)
from .dialect import Dialect
from .document import (
    NUMBERING_DOCUMENTS,
    NUMBERING_RECEIPTS,
    PAYMENT_BANK,
    PAYMENT_CARD,
    PAYMENT_CASH,
    REMOTE_OPEN,
    REMOTE_PAID,
    REMOTE_PARTIALLY_PAID,
    AccountInfo,
    EngineVatRate,
    NumberingOption,
    ReferenceData,
    RemoteRef,
    RemoteStatus,
)
from .errors import AuthError, EngineError, MaybeCreated, NotFound, OutcomeUnknown, RateLimited, Rejected, TransientError
from .transport import EXPECT_BYTES, HttpTransport

DEFAULT_BASE_URL = "https://ws.smartbill.ro/SBORO/api"
ENGINE_LABEL = "SmartBill"
API_DOMAINS = ("smartbill.ro",)
BLOCK_SECONDS = 600.0  # the block after more than 30 calls in 10 s
CENT = Decimal("0.01")

# "precision" (2, 3 or 4, "valori suportate") is the number of decimals SmartBill keeps of a
# unit price. A price with more decimals than that would be rounded by SmartBill and its line
# would no longer be Odoo's, so the client rounds it to the most SmartBill keeps and lets the
# adjustment line carry the rest; the document's precision is raised to what its prices need.
MAX_PRICE_DECIMALS = 4
DEFAULT_UNIT = "buc"
ROUNDING_CODE = "ROTUNJIRE"  # the product code of rounding lines, for companies that use codes

# SmartBill's document languages ("language", default RO): RO, EN and DE appear in the spec;
# the rest are the other languages SmartBill Cloud predefines [I]. Others: the document is Romanian.
LANGUAGES = {"ro": "RO", "en": "EN", "de": "DE", "fr": "FR", "it": "IT", "es": "ES", "hu": "HU"}
LABELS = {
    "RO": {"reference": "Referinta Odoo", "corrects": "Corectie la factura", "discount": "Discount",
           "rounding": "Rotunjire", "receipt": "Contravaloare factura"},
    "EN": {"reference": "Odoo reference", "corrects": "Correction of invoice", "discount": "Discount",
           "rounding": "Rounding", "receipt": "Payment of invoice"},
}

# How the payment came -> the ``/payment`` ``type`` (one of the ten values of its table).
PAYMENT_TYPES = {PAYMENT_BANK: "Ordin plata", PAYMENT_CASH: "Chitanta", PAYMENT_CARD: "Card"}
RECEIPT_TYPE = "Chitanta"

# The spec's wrapping roots (note 14): the JSON answers are flat, but read a wrapped one too.
ANSWER_ROOTS = ("sbcResponse", "sbcTaxes", "sbcSeries", "sbcInvoicePaymentStatusResponse", "Response",
                "Fault", "fault")

# Romanian counties as Odoo stores them in res.country.state (ISO 3166-2:RO codes, base data
# ``res.country.state.csv``) -> the county names SmartBill expects: the official names of
# ISO 3166-2:RO without diacritics, as SmartBill's own examples write them ("Sibiu",
# "Bucuresti" in the ANAF conditions of ``POST /invoice``).
COUNTIES = {
    "AB": "Alba", "AG": "Arges", "AR": "Arad", "B": "Bucuresti", "BC": "Bacau", "BH": "Bihor",
    "BN": "Bistrita-Nasaud", "BR": "Braila", "BT": "Botosani", "BV": "Brasov", "BZ": "Buzau",
    "CJ": "Cluj", "CL": "Calarasi", "CS": "Caras-Severin", "CT": "Constanta", "CV": "Covasna",
    "DB": "Dambovita", "DJ": "Dolj", "GJ": "Gorj", "GL": "Galati", "GR": "Giurgiu", "HD": "Hunedoara",
    "HR": "Harghita", "IF": "Ilfov", "IL": "Ialomita", "IS": "Iasi", "MH": "Mehedinti", "MM": "Maramures",
    "MS": "Mures", "NT": "Neamt", "OT": "Olt", "PH": "Prahova", "SB": "Sibiu", "SJ": "Salaj",
    "SM": "Satu Mare", "SV": "Suceava", "TL": "Tulcea", "TM": "Timis", "TR": "Teleorman", "VL": "Valcea",
    "VN": "Vrancea", "VS": "Vaslui",
}
BUCHAREST = "Bucuresti"
BUCHAREST_NAMES = {"bucuresti", "bucharest", "municipiul bucuresti"}
SECTOR_IN_TEXT = re.compile(r"\bsector(?:ul)?\s*([1-6])\b", re.IGNORECASE)
BUCHAREST_POSTCODE = re.compile(r"^0([1-6])\d{4}$")  # the second digit of a Bucharest post code is the sector


# -- arithmetic ------------------------------------------------------------------


def listed_line_at_price_precision(line):
    """The line at its list price (to the decimals SmartBill keeps), then the adjustment to the
    net Odoo booked: a discount, the cent of Odoo's global rounding, or a price's extra decimals."""
    price = line.unit_price.quantize(Decimal(1).scaleb(-MAX_PRICE_DECIMALS), rounding=ROUND_HALF_UP)
    return listed_line_and_adjustment(replace(line, unit_price=price) if price != line.unit_price else line)


# "Folosirea cotelor TVA": with isTaxIncluded false, "TVA = Price * taxPercentage" for every
# product, and a fixed-value discount (discountType 1) is a product of its own whose VAT follows
# the line it applies to: every wire line carries its own VAT, rounded to cents (the rounding
# mode is not documented; half up is Romanian commercial rounding and Odoo's). The wire lines
# ``invoice_products`` sends are exactly these parts; the project's sandbox computes the same.
ARITHMETIC = VatPerLine(split=listed_line_at_price_precision)


# -- the dialect -----------------------------------------------------------------

CIF_NOT_OF_LOGIN = re.compile(r"Firma la care incercati sa va conectati", re.IGNORECASE)
CIF_MISSING = re.compile(r"^(Cif|Ciful firmei|CIF-ul firmei)\b.*trebuie specificat", re.IGNORECASE)
NO_RIGHTS = re.compile(r"^Nu aveti dreptul", re.IGNORECASE)
PLAN_EXHAUSTED = re.compile(r"numarul maxim de documente permis", re.IGNORECASE)
DOCUMENT_MISSING = re.compile(
    r"^(Factura|Chitanta)\b.*\bnu a fost gasita|^Nu au fost gasite incasari", re.IGNORECASE
)
NOT_LAST_IN_SERIES = re.compile(r"nu este ultimul din serie", re.IGNORECASE)

# Refusals that concern the whole connection, not one document: AuthError stops the batch.
ACCOUNT_REFUSALS = (
    (CIF_NOT_OF_LOGIN, "invalid_credentials",
     "SmartBill does not open this company for this login ({quoted}): the CIF in the engine settings is "
     "mistyped, or belongs to a company the SmartBill e-mail has no access to. Enter the company's CIF "
     "exactly as in SmartBill (Configurare › Date firmă)."),
    (CIF_MISSING, "invalid_credentials",
     "SmartBill needs the company's CIF ({quoted}): enter it in the engine settings, exactly as in "
     "SmartBill (Configurare › Date firmă)."),
    (NO_RIGHTS, "forbidden",
     "The SmartBill user of this connection lacks a right ({quoted}). Ask the SmartBill account "
     "administrator to grant it (SmartBill › Utilizatori)."),
    (PLAN_EXHAUSTED, "account_blocked",
     "The SmartBill subscription has issued all the documents it allows in its 30-day period ({quoted}). "
     "Extend the subscription in SmartBill; sending resumes then."),
)

# What to do about SmartBill's most frequent refusals, for the accountant.
ADVICE = (
    (re.compile(r"^Seria\b.*nu a fost gasita|^Serie inexistenta", re.IGNORECASE),
     "The series does not exist in SmartBill (Configurare › Serii documente): choose an existing "
     "series in the engine settings."),
    (re.compile(r"cota tva|Cota\b.*nu a fost gasita", re.IGNORECASE),
     "Map the Odoo tax to one of the VAT rates SmartBill lists (reload them in the engine settings), "
     "or add the rate in SmartBill (Configurare › Cote TVA)."),
    (re.compile(r"nu are codul specificat", re.IGNORECASE),
     "This SmartBill company uses product codes: give every product an internal reference and turn "
     "product codes on in the engine settings."),
    (re.compile(r"perioada inchisa", re.IGNORECASE),
     "The date falls in a period closed in SmartBill: reopen the period there or change the date."),
    (re.compile(r"nu corespunde cu", re.IGNORECASE),
     "SmartBill records a payment only with its invoice's own customer, currency and language: give the "
     "payment those of the invoice."),
    (re.compile(r"^Limba nu a fost gasita", re.IGNORECASE),
     "The document language is not set up in SmartBill (Configurare › Limbi): choose another language."),
    (re.compile(r"^Moneda nu a fost gasita", re.IGNORECASE),
     "SmartBill does not know this currency: check the invoice currency."),
    (re.compile(r"^Client invalid", re.IGNORECASE),
     "Check the customer's name on the invoice."),
    (re.compile(r"stornari|storno|stornata", re.IGNORECASE),
     "Check the invoice and its storno invoices in SmartBill."),
    (re.compile(r"neplatitor tva|platitor tva", re.IGNORECASE),
     "SmartBill no longer changes documents issued under the company's other VAT status: issue a "
     "credit note instead."),
    (NOT_LAST_IN_SERIES,
     "SmartBill deletes only the last document of a series; a later one exists."),
)


class SmartBillDialect(Dialect):
    """``errorText`` bodies (also under 200 and as XML ``<Fault>``), 401, the 403 block, ``X-RateLimit-*``."""

    label = ENGINE_LABEL
    default_retry_after = BLOCK_SECONDS
    summary_keys = ("errorText", "message")

    def __init__(self, label=None):
        super().__init__(label)
        self.block_ends_at = None  # X-RateLimit-Reset of the answer being read

    def decode_other(self, content, content_type):
        return read_xml(content)

    def error_under_success(self, status, data):
        text = error_text(data)
        return self.refusal(status, unwrap(data), text) if text else None

    def client_error(self, status, body, detail):
        if status == 401:
            return AuthError(
                "SmartBill refused the login (HTTP 401): the e-mail or the API token is wrong, the "
                "CIF does not belong to this SmartBill login, or the SmartBill subscription does not "
                "include API access (it comes with Facturare Platinum). Check the e-mail, the token "
                "(SmartBill › Contul meu › Integrări › API) and the CIF in the engine settings.",
                reason="invalid_credentials",
                status=status,
                details=body,
            )
        if status == 403:
            return self.blocked(status, body)
        text = error_text(body)
        if text:
            return self.refusal(status, unwrap(body), text)
        if status in (404, 410):
            return self.rejected(status, body, detail or "the call breaks one of SmartBill's rules")
        return None

    def blocked(self, status, body):
        """The 403 block: every call of the login is refused until X-RateLimit-Reset, or 10 minutes."""
        retry_after = BLOCK_SECONDS
        if self.block_ends_at is not None:
            retry_after = max(self.block_ends_at - time.time(), 1.0)
        return RateLimited(
            "SmartBill blocked this login for 10 minutes because it received more than 30 calls in "
            f"10 seconds. Sending resumes automatically in {retry_after:.0f} seconds; nothing to do.",
            retry_after=retry_after,
            status=status,
            details=body,
        )

    def refusal(self, status, body, text):
        """The error for one of SmartBill's ``errorText`` messages, whatever the HTTP status."""
        quoted = f"“{text.strip()}”"
        for pattern, reason, message in ACCOUNT_REFUSALS:
            if pattern.search(text):
                return AuthError(message.format(quoted=quoted), reason=reason, status=status, details=body)
        if DOCUMENT_MISSING.search(text):
            return NotFound(
                f"SmartBill does not have this document ({quoted}); it may have been deleted in SmartBill.",
                status=status,
                details=body,
            )
        return Rejected(
            f"SmartBill refused the data (HTTP {status}): {quoted}. {advice(text)}",
            status=status,
            details=body,
        )

    def rate_limit_state(self, headers, previous):
        limit, remaining = _int(headers.get("X-RateLimit-Limit")), _int(headers.get("X-RateLimit-Remaining"))
        reset_at = _float(headers.get("X-RateLimit-Reset"))
        # The transport reads the headers before it interprets the answer: a 403 then knows
        # when its block ends.
        self.block_ends_at = reset_at
        if limit is None and remaining is None and reset_at is None:
            return None
        return RateLimitState(
            limit=limit if limit is not None else (previous.limit if previous else None),
            remaining=remaining,
            reset_after=max(reset_at - time.time(), 0.0) if reset_at is not None else None,
        )


def advice(text):
    for pattern, words in ADVICE:
        if pattern.search(text):
            return words
    return "Correct it in Odoo, then send again."


def unwrap(data):
    """The answer itself, also when it comes inside one of the spec's roots (``sbcResponse``…)."""
    if isinstance(data, dict) and len(data) == 1:
        (root, inner), = data.items()
        if root in ANSWER_ROOTS and isinstance(inner, dict):
            return inner
    return data


def error_text(data):
    data = unwrap(data)
    if isinstance(data, dict) and isinstance(data.get("errorText"), str):
        return data["errorText"].strip()
    return ""


def read_xml(content):
    """An XML answer (``<Fault><errorText>…``) as the dict of its leaf elements, or None."""
    head = content[:512].lstrip().lower()
    if not head.startswith(b"<") or b"<html" in head or b"<!doctype" in head:
        return None
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError:
        return None
    return {_local_name(element.tag): (element.text or "").strip() for element in root if len(element) == 0}


def _local_name(tag):
    return tag.rsplit("}", 1)[-1]


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# -- the engine client -------------------------------------------------------------


class SmartBillClient(EngineClient):
    """``EngineClient`` for one SmartBill company (CIF) of one SmartBill login."""

    engine_type = "smartbill"
    capabilities = Capabilities(
        label=ENGINE_LABEL,
        default_base_url=DEFAULT_BASE_URL,
        api_domains=API_DOMAINS,
        credential=CREDENTIAL_API_TOKEN,
        reads_back_documents=False,  # only the PDF and the payment status of a known number
        customers=CUSTOMERS_EMBEDDED,  # the client travels inside each invoice and payment
        async_pdf=False,
        reads_back_payments=False,  # paymentstatus gives totals, not payments
        # SmartBill submits its invoices to ANAF from its own settings; the API says nothing of it
        tax_authority=TaxAuthority(system="RO e-Factura", recipient="ANAF", country_code="RO"),
        reports_authority_status=False,
        call_limit=(30, 10),  # documented: 30 calls in 10 s, then a 10-minute block (403)
        arithmetic=ARITHMETIC,
        numbering_label="Series",
        lists_vat_rates=True,  # GET /tax; each line carries one of them
        cancels_documents=True,  # PUT /invoice/cancel
    )

    def __init__(self, base_url, email, token, cif, *, user_agent, on_exchange=None, throttle=None,
                 timeout=(5, 30), use_product_codes=False, receipt_series="", precision=2):
        self.cif = (cif or "").strip()
        self.use_product_codes = use_product_codes
        self.receipt_series = (receipt_series or "").strip()
        self.precision = min(max(int(precision or 2), 2), MAX_PRICE_DECIMALS)
        self._auth = (email or "", token or "")
        self._taxes = None  # /tax as check() read it, for reference_data()
        # Each series' next number as this client's own creates left it: a run of creates reads
        # /series once, not once per invoice (one call in three at SmartBill's limit).
        self._next_numbers = {}
        self._transport = HttpTransport(
            base_url,
            dialect=SmartBillDialect(),
            user_agent=user_agent,
            timeout=timeout,
            on_exchange=on_exchange,
            throttle=throttle,
        )

    @property
    def rate_limit(self):
        return self._transport.rate_limit

    # -- account and reference data -------------------------------------------------

    def check(self):
        """Reads ``/tax``: it proves the login and the CIF, and ``reference_data()`` reuses it."""
        self._taxes = self._call("check", "GET", "tax").get("taxes") or []
        return AccountInfo(name=self.cif, currency="RON", country="RO", details={"cif": self.cif})

    def reference_data(self):
        taxes = self._taxes if self._taxes is not None else self._call("reference_data", "GET", "tax").get("taxes")
        series = self._series_list("reference_data")
        return ReferenceData(
            numberings=tuple(numbering_option(entry) for entry in series if entry.get("type") in SERIES_USAGES),
            vat_rates=tuple(
                EngineVatRate(name=str(tax["name"]), rate=Decimal(str(tax["percentage"])))
                for tax in taxes or () if tax.get("name") is not None and tax.get("percentage") is not None
            ),
        )

    def upsert_customer(self, party, remote_id=None, *, match=True):
        return None  # the customer travels inside each document (client_payload)

    # -- documents ---------------------------------------------------------------

    def prepare_create(self, document):
        """The series' next number, read from SmartBill unless this client's last create in it told.

        SmartBill numbers one series in order, so the number after the one it just gave is the next
        one, unless someone issues in the same series meanwhile: then a lost answer reads as
        "advanced by more than one" and goes to a person, never to a wrong document.
        """
        series = document_series(document)
        known = self._next_numbers.get(series)
        return {"series": series, "next_number": known or self._next_number(series, "prepare_create")}

    def create_document(self, document, customer_id):
        series = document_series(document)
        try:
            if document.is_credit_note and document.reverses_whole_original:
                ref = self._reverse(document)
            else:
                payload = invoice_payload(document, self.cif, use_product_codes=self.use_product_codes,
                                          precision=self.precision)
                data = self._call("create_document", "POST", "invoice", json=payload, is_create=True)
                ref = self._created(document, data, series)
        except EngineError:
            self._next_numbers.pop(series, None)  # what the series holds now is unknown
            raise
        if ref.number.isdigit():
            self._next_numbers[ref.series] = pad_like(ref.number, int(ref.number) + 1)
        return ref

    def _reverse(self, document):
        series, number = original_parts(document)
        payload = {
            "companyVatCode": self.cif,
            "seriesName": series,
            "number": number,
            "issueDate": document.issue_date.isoformat(),
        }
        data = self._call("create_document", "POST", "invoice/reverse", json=payload, is_create=True)
        if str(data.get("number") or "") == number:
            # The spec's example answers the original's own number: that cannot be the storno's.
            data = dict(data, number="")
        return self._created(document, data, series)

    def _created(self, document, data, series):
        number = str(data.get("number") or "")
        if not number:
            raise MaybeCreated(
                f"SmartBill accepted {document.reference} but did not say its number. It is looked up "
                f"in series {series} before any new attempt; nothing to do."
            )
        series = str(data.get("series") or series)
        sign = -1 if document.is_credit_note else 1
        return RemoteRef(
            id=f"{series}{number}",
            number=number,
            series=series,
            total=sign * ARITHMETIC.totals(document.lines).total,
            status=REMOTE_OPEN,
        )

    def find_document(self, document, marker):
        """Compare the series' ``nextNumber`` with the one ``prepare_create`` noted.

        Unchanged: nothing was created. Advanced by one and that invoice's total is the
        document's: it is ours. Anything else: a person decides.
        """
        series, before = (marker or {}).get("series"), (marker or {}).get("next_number")
        if not series or before in (None, ""):
            raise OutcomeUnknown(
                f"Odoo did not note SmartBill's next number before sending {document.reference}, so "
                "it cannot tell whether SmartBill issued it. Look for it in SmartBill: link it if it "
                "is there, or confirm that none exists."
            )
        self._next_numbers.pop(series, None)
        after = self._next_number(series, "find_document")
        first, last = int(before), int(after)
        if last == first:
            return None
        candidates = [series + pad_like(before, value) for value in range(first, last)] if last > first else []
        if last == first + 1:
            found = self._adopt(document, series, pad_like(before, first))
            if found:
                return found
        raise OutcomeUnknown(self._unknown_outcome(document, series, before, after, candidates))

    def _adopt(self, document, series, number):
        """The ``RemoteRef`` of invoice ``number`` if its total is the document's, else None."""
        try:
            status = self._payment_status(series, number, "find_document")
        except NotFound:
            return None
        if status.total is None or abs(status.total).quantize(CENT) != abs(document.amount_total).quantize(CENT):
            return None
        return RemoteRef(id=f"{series}{number}", number=number, series=series, total=status.total,
                         status=status.status)

    @staticmethod
    def _unknown_outcome(document, series, before, after, candidates):
        if not candidates:
            return (
                f"SmartBill's next number in series {series} went back from {before} to {after} since "
                f"{document.reference} was sent: a document was deleted there. Check series {series} in "
                "SmartBill: link the invoice if it is there, or confirm that none exists."
            )
        which = candidates[0] if len(candidates) == 1 else f"one of {', '.join(candidates)}"
        return (
            f"SmartBill issued {', '.join(candidates)} in series {series} since {document.reference} was "
            f"sent, and Odoo cannot tell whether {which} is {document.reference}. Open "
            f"{'it' if len(candidates) == 1 else 'them'} in SmartBill: if the mentions name "
            f"{document.reference} and the total is {document.amount_total} {document.currency}, link it "
            "to this document; otherwise confirm that none exists."
        )

    def get_document(self, remote_id):
        series, number = self._typed_reference(remote_id)
        status = self._payment_status(series, number, "get_document")
        return RemoteRef(id=f"{series}{number}", number=number, series=series, total=status.total,
                         status=status.status)

    def fetch_pdf(self, ref):
        series, number = ref_parts(ref)
        response = self._transport.request(
            "fetch_pdf",
            "GET",
            "invoice/pdf",
            params=self._query(seriesname=series, number=number),
            headers={"Accept": "application/octet-stream, application/json"},
            auth=self._auth,
            expect=EXPECT_BYTES,
        )
        content = response.content or b""
        if content.startswith(b"%PDF"):
            return content
        refusal = self._refusal_in(response.status, content)
        if refusal is not None:
            raise refusal
        raise TransientError(
            f"SmartBill sent something other than a PDF for {series}{number}. It is fetched again later."
        )

    def _refusal_in(self, status, content):
        """The error a non-PDF answer to a PDF request carries (JSON or XML ``errorText``), or None."""
        dialect = self._transport.dialect
        data = _json_or_none(content)
        if data is None:
            data = dialect.decode_other(content, "")
        return dialect.error_under_success(status, data) if data is not None else None

    def document_status(self, ref):
        series, number = ref_parts(ref)
        return self._payment_status(series, number, "document_status")

    def cancel_document(self, ref):
        series, number = ref_parts(ref)
        try:
            self._call("cancel_document", "PUT", "invoice/cancel", params={"seriesname": series, "number": number})
        except Rejected as error:
            raise refused(error, f"SmartBill did not cancel {series}{number}") from None

    # -- payments --------------------------------------------------------------

    def record_payment(self, ref, payment):
        series, number = ref_parts(ref)
        payload = payment_payload(self.cif, series, number, payment, receipt_series=self.receipt_series)
        data = self._call("record_payment", "POST", "payment", json=payload, is_create=True)
        if payload["type"] != RECEIPT_TYPE:
            return "|".join((payload["type"], series, number, payment.paid_on.isoformat(),
                             decimal_text(payment.amount)))
        if not data.get("number"):
            raise MaybeCreated(
                f"SmartBill accepted the cash receipt for {series}{number} but did not say its number. "
                "Check the receipts in SmartBill before recording it again."
            )
        return "|".join((RECEIPT_TYPE, str(data.get("series") or payload.get("seriesName") or ""),
                         str(data["number"])))

    def delete_payment(self, ref, remote_payment_id):
        path, params, what = payment_deletion(remote_payment_id)
        try:
            self._call("delete_payment", "DELETE", path, params=params)
        except NotFound:
            pass  # already gone: that is what we wanted
        except Rejected as error:
            raise refused(error, f"SmartBill did not delete {what}") from None

    # -- plumbing --------------------------------------------------------------

    def _call(self, operation, method, path, *, params=None, json=None, is_create=False):
        """One call with the login and the CIF; the answer's data, unwrapped."""
        response = self._transport.request(
            operation, method, path, params=self._query(**(params or {})), json=json, auth=self._auth,
            is_create=is_create,
        )
        data = unwrap(response.data)
        return data if isinstance(data, dict) else {}

    def _query(self, **params):
        return {"cif": self.cif, **params}

    def _series_list(self, operation, series_type=None):
        params = {"type": series_type} if series_type else None
        return [entry for entry in self._call(operation, "GET", "series", params=params).get("list") or ()
                if isinstance(entry, dict)]

    def _next_number(self, series, operation):
        """The ``nextNumber`` of invoice series ``series``, verbatim."""
        for entry in self._series_list(operation, "f"):
            if entry.get("name") == series:
                return entry.get("nextNumber")
        raise Rejected(
            f"SmartBill has no invoice series “{series}”. Choose one of the SmartBill series in the "
            "engine settings (reload them there), or create it in SmartBill (Configurare › Serii documente)."
        )

    def _payment_status(self, series, number, operation):
        data = self._call(operation, "GET", "invoice/paymentstatus",
                          params={"seriesname": series, "number": number})
        return remote_status(data)

    def _typed_reference(self, text):
        """Series and number from what a person copies off the SmartBill PDF: "FCT0025", "FCT 0025",
        "FCT-25"; the number is padded as the series pads it."""
        text = (text or "").strip()
        series_list = self._series_list("get_document")
        separated = re.fullmatch(r"(?P<series>.+?)[\s\-/#]+(?P<number>\d+)", text)
        if separated:
            series, number = separated.group("series"), separated.group("number")
        else:
            series, number = split_by_known_series(text, series_list) or split_series_number(text)
        for entry in series_list:
            if str(entry.get("name") or "").lower() == series.lower():
                return entry["name"], pad_like(entry.get("nextNumber"), int(number), minimum=number)
        return series, number


# -- payloads and answers (pure functions, easy to test) --------------------------------

SERIES_USAGES = {"f": NUMBERING_DOCUMENTS, "c": NUMBERING_RECEIPTS}


def numbering_option(entry):
    name, next_number = str(entry["name"]), entry.get("nextNumber")
    text = "" if next_number is None else str(next_number)
    return NumberingOption(id=name, name=name, usage=SERIES_USAGES[entry["type"]], next_number=text,
                           preview=f"{name}{text}")


def document_series(document):
    """The series the document is issued in: a full storno goes to its original's series.

    A credit note without the invoice it corrects is refused here, before any call.
    """
    if document.is_credit_note:
        original_series, _number = original_parts(document)
        if document.reverses_whole_original:
            return original_series
    if not document.numbering:
        raise Rejected(
            "No SmartBill series is chosen for this document. Choose the invoice series (and the "
            "series for credit notes) in the SmartBill engine settings, then send again."
        )
    return document.numbering


def original_parts(document):
    """Series and number of the invoice a credit note corrects."""
    if not document.original:
        raise Rejected(
            f"The credit note {document.reference} corrects {document.original_reference or 'an invoice'} "
            "that is not in SmartBill. Send the original invoice first (or link it to its SmartBill "
            "invoice), then this credit note."
        )
    return ref_parts(document.original)


def ref_parts(ref):
    """Series and number of a ``RemoteRef`` (its id is series + number when the series is unknown)."""
    if ref.series and ref.number:
        return ref.series, ref.number
    return split_series_number(ref.id)


def split_series_number(text):
    """("FCT", "0025") from "FCT0025": the digits at the end are the number."""
    found = re.fullmatch(r"(.*?\D)(\d+)", (text or "").strip())
    if not found:
        raise Rejected(
            f"“{text}” is not a SmartBill document number: type the series and the number as printed "
            "on the SmartBill PDF, e.g. FCT0025."
        )
    return found.group(1).strip(), found.group(2)


def split_by_known_series(text, series_list):
    """("FCT2026", "0025") for "FCT20260025" when FCT2026 is a series: the longest series that fits."""
    names = sorted((str(entry.get("name") or "") for entry in series_list), key=len, reverse=True)
    for name in names:
        rest = text[len(name):]
        if name and text.lower().startswith(name.lower()) and rest.isdigit():
            return name, rest
    return None


def pad_like(example, value, minimum=""):
    """``value`` zero-padded to the width of ``example`` ("0117" -> 4), at least that of ``minimum``."""
    width = len(example) if isinstance(example, str) and example.isdigit() else 4
    return str(value).zfill(max(width, len(minimum)))


def client_payload(party):
    """The ``client`` object, filled the way ANAF accepts it (``POST /invoice``'s conditions)."""
    romanian = is_romanian(party)
    cif, vat_payer, cif_from_registry = romanian_cif(party) if romanian and party.is_company else ("", False, False)
    client = {
        "name": party.name,
        "vatCode": client_vat_code(party),
        "isTaxPayer": vat_payer if romanian else bool(party.is_vat_payer and party.is_company),
        # The company registry holds the Reg. Com. number, unless Odoo keeps the CIF there.
        "regCom": party.registration_no if party.is_company and not cif_from_registry else "",
        "address": ", ".join(part.strip() for part in (party.street, party.street2) if part and part.strip()) or "-",
        "city": client_city(party),
        "county": county_name(party.state_code, party.state_name) if romanian else party.state_name,
        "country": "Romania" if romanian else party.country_code.upper(),
        "email": party.email,
        "saveToDb": True,
    }
    if party.phone:
        client["phone"] = party.phone
    return client


def client_vat_code(party):
    """The CIF (``RO`` + digits for a VAT payer), or an individual's CNP, or "-"."""
    vat = compact_id(party.vat_no)
    if not party.is_company:
        return vat if re.fullmatch(r"\d{13}", vat) else "-"
    if not is_romanian(party):
        return vat
    cif, vat_payer, _from_registry = romanian_cif(party)
    if not cif:
        return vat
    return f"RO{cif}" if vat_payer else cif


def is_romanian(party):
    return (party.country_code or "RO").upper() == "RO"


def compact_id(text):
    return re.sub(r"[\s.\-]", "", text or "").upper()


def romanian_cif(party):
    """A Romanian company's CIF as ``(digits, VAT payer, taken from the company registry)``.

    Odoo keeps it in the VAT field, ``RO`` first for a VAT payer (spec note 19: the prefix goes
    with ``isTaxPayer``); a company that pays no VAT may have it in the company registry instead,
    as Odoo's own RO e-Factura export (``l10n_ro_edi``) reads it. ``is_vat_payer`` False overrules
    a prefix in the VAT field. ``("", False, False)`` when neither holds a CIF.
    """
    for from_registry, text in ((False, party.vat_no), (True, party.registration_no)):
        compact = compact_id(text)
        digits = compact.removeprefix("RO")
        if digits.isdigit():
            prefixed = compact.startswith("RO")
            return digits, prefixed and (party.is_vat_payer or from_registry), from_registry
    return "", False, False


def valid_cif(digits):
    """Whether ``digits`` is a Romanian CIF (CUI) whose check digit matches (ANAF's key 753217532)."""
    if not (isinstance(digits, str) and digits.isdigit() and 2 <= len(digits) <= 10):
        return False
    body = digits[:-1].zfill(9)
    check = sum(int(digit) * int(weight) for digit, weight in zip(body, "753217532")) * 10 % 11
    return check % 10 == int(digits[-1])


def valid_cnp(digits):
    """Whether ``digits`` is a Romanian personal numeric code (CNP): a real birth date, a county
    code (01-48, 51, 52) and a matching check digit (key 279146358279)."""
    if not (isinstance(digits, str) and re.fullmatch(r"[1-9]\d{12}", digits)):
        return False
    century = {"1": 1900, "2": 1900, "3": 1800, "4": 1800, "5": 2000, "6": 2000}.get(digits[0], 1900)
    try:
        date(century + int(digits[1:3]), int(digits[3:5]), int(digits[5:7]))
    except ValueError:
        return False
    if not ("01" <= digits[7:9] <= "48" or digits[7:9] in ("51", "52")):
        return False
    check = sum(int(digit) * int(weight) for digit, weight in zip(digits, "279146358279")) % 11
    return (1 if check == 10 else check) == int(digits[-1])


def is_bucharest(party):
    return (party.state_code or "").upper() == "B" or plain(party.state_name) in BUCHAREST_NAMES


def client_city(party):
    """The city; in Bucharest the sector ("Sector 3"), from the address or the post code."""
    if is_bucharest(party):
        for text in (party.city, party.street2, party.street):
            found = SECTOR_IN_TEXT.search(text or "")
            if found:
                return f"Sector {found.group(1)}"
        found = BUCHAREST_POSTCODE.match((party.zip or "").strip())
        if found:
            return f"Sector {found.group(1)}"
    return (party.city or "").strip() or "-"


def county_name(state_code, state_name=""):
    """The county as SmartBill names it, from the state's code in Odoo ("CJ" -> "Cluj") or its name."""
    code = (state_code or "").upper().removeprefix("RO-")
    if code in COUNTIES:
        return COUNTIES[code]
    name = plain(state_name)
    if name in BUCHAREST_NAMES:
        return BUCHAREST
    for county in COUNTIES.values():
        if plain(county) == name:
            return county
    return (state_name or "").strip()


def plain(text):
    """Lower case, without diacritics, hyphens as spaces: "Caraș-Severin" -> "caras severin"."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(letters.replace("-", " ").lower().split())


def smartbill_language(language):
    return LANGUAGES.get((language or "").replace("-", "_").split("_")[0].lower(), "")


def labels(language_code):
    return LABELS.get(language_code, LABELS["RO"])


def invoice_payload(document, cif, *, use_product_codes=False, precision=2):
    """``POST /invoice``, flat on the wire as Postman sends it (note 1)."""
    language = smartbill_language(document.language)
    products = invoice_products(document, use_product_codes=use_product_codes, language=language)
    payload = {
        "companyVatCode": cif,
        "client": client_payload(document.customer),
        "isDraft": False,
        "issueDate": document.issue_date.isoformat(),  # always sent: the error table wants it (note 5)
        "seriesName": document.numbering,
        "currency": document.currency,
        "precision": max([precision, *(decimals(item["price"]) for item in products if "price" in item)]),
        "dueDate": document.due_date.isoformat(),
        "deliveryDate": document.taxable_supply_date.isoformat(),
        "mentions": mentions(document, language),
        "observations": f"Odoo {document.reference} ({document.key})",
        "products": products,
    }
    if language:
        payload["language"] = language
    if document.currency != document.company_currency and document.exchange_rate:
        payload["exchangeRate"] = wire_number(document.exchange_rate)  # RON per unit of the document currency
    return payload


def mentions(document, language=""):
    """What the PDF prints below the lines: the Odoo reference, and the corrected invoice."""
    words = labels(language)
    lines = []
    if document.is_credit_note and document.original:
        series, number = ref_parts(document.original)
        lines.append(f"{words['corrects']} {series}{number}")
    if document.reference:
        lines.append(f"{words['reference']}: {document.reference}")
    if document.note:
        lines.append(document.note)
    return "\n".join(lines)


def invoice_products(document, *, use_product_codes=False, language=""):
    """Each line as ``ARITHMETIC`` splits it: the listed line, then its adjustment.

    On an invoice, an adjustment that lowers the line is SmartBill's own fixed-value discount
    (``isDiscount``, a negative ``discountValue``, applying to the one line before it); any other
    adjustment (the cent Odoo's global rounding adds, or any adjustment on a credit note, whose
    lines are negative and which SmartBill's discounts are not documented for) is a line of its
    own. Credit notes negate every quantity.
    """
    sign = Decimal(-1) if document.is_credit_note else Decimal(1)
    words = labels(language)
    products = []
    for line in document.lines:
        for part in ARITHMETIC.split(line):
            if not part.is_adjustment:
                products.append(product_item(document, line, sign * part.quantity, part.unit_price,
                                             code=line.product_code if use_product_codes else ""))
            elif sign > 0 and part.unit_price < 0:
                products.append(discount_item(document, line, part.unit_price, words))
            else:
                label = words["discount"] if line.discount_percent else words["rounding"]
                product = product_item(document, line, sign, part.unit_price,
                                       code=ROUNDING_CODE if use_product_codes else "")
                product.update(name=f"{label} - {line.name}", isService=True)
                products.append(product)
    return products


def product_item(document, line, quantity, price, code=""):
    item = {
        "name": line.name,
        "measuringUnitName": line.unit_name or DEFAULT_UNIT,
        "currency": document.currency,
        "quantity": wire_number(quantity),
        "price": wire_number(price),
        "isTaxIncluded": False,
        **tax_fields(line),
        "isDiscount": False,
        "isService": bool(line.is_service),
        "saveToDb": False,
    }
    if code:
        item["code"] = code
    return item


def discount_item(document, line, value, words):
    """SmartBill's fixed-value discount on the line before it: Odoo's discount, or its rounding cent."""
    if line.discount_percent:
        name = f"{words['discount']} {decimal_text(line.discount_percent)}% - {line.name}"
    else:
        name = f"{words['rounding']} - {line.name}"
    return {
        "name": name,
        "isDiscount": True,
        "numberOfItems": 1,  # the line right before it
        "measuringUnitName": line.unit_name or DEFAULT_UNIT,
        "currency": document.currency,
        "isTaxIncluded": False,
        **tax_fields(line),
        "discountType": 1,
        "discountValue": wire_number(value),  # negative, as the spec wants it
    }


def tax_fields(line):
    """``taxName``/``taxPercentage`` exactly as ``/tax`` lists them (the mapping's engine_code)."""
    fields = {"taxPercentage": wire_number(line.tax.rate)}
    if line.tax.engine_code:
        fields["taxName"] = line.tax.engine_code
    return fields


def payment_payload(cif, series, number, payment, *, receipt_series=""):
    """``POST /payment`` for one invoice.

    ``invoicesList`` is an array: the schemas and the table's "list" say so; Postman's single
    object belongs to its ``useInvoiceDetails`` example only (note 8).
    """
    if payment.customer is None:
        raise Rejected(
            f"The payment {payment.reference or payment.key} names no customer; SmartBill records a "
            "payment only with the invoice's customer."
        )
    payment_type = PAYMENT_TYPES.get(payment.method, PAYMENT_TYPES[PAYMENT_BANK])
    language = smartbill_language(payment.language or payment.customer.language)
    payload = {
        "companyVatCode": cif,
        "client": client_payload(payment.customer),
        "issueDate": payment.paid_on.isoformat(),
        "currency": payment.currency,
        "value": wire_number(payment.amount),
        "type": payment_type,
        "isCash": payment_type == RECEIPT_TYPE,
        "isDraft": False,
        "useInvoiceDetails": False,
        "invoicesList": [{"seriesName": series, "number": number}],
    }
    if language:
        payload["language"] = language  # must be the invoice's ("Limba facturii x nu corespunde…")
    if payment_type == RECEIPT_TYPE:
        # The Chitanta section uses the account's default receipt series when none is named (note 6).
        if receipt_series:
            payload["seriesName"] = receipt_series
        payload["text"] = f"{labels(language)['receipt']} {series}{number}"
    if payment.reference:
        payload["observation"] = f"Odoo {payment.reference}"
    return payload


def payment_deletion(remote_payment_id):
    """``(path, query, what)`` that delete the payment ``record_payment`` returned this id for.

    Receipts: ``Chitanta|<receipt series>|<receipt number>``; other payments:
    ``<type>|<invoice series>|<invoice number>|<date>|<value>`` (``DELETE /payment/v2`` finds a
    payment by its invoice, narrowed by its date and value).
    """
    parts = (remote_payment_id or "").split("|")
    if parts[0] == RECEIPT_TYPE and len(parts) == 3:
        return "payment/chitanta", {"seriesname": parts[1], "number": parts[2]}, \
            f"the cash receipt {parts[1]}{parts[2]}"
    if len(parts) == 5:
        payment_type, series, number, paid_on, value = parts
        query = {"paymentType": payment_type, "invoiceSeries": series, "invoiceNumber": number,
                 "paymentDate": paid_on, "paymentValue": value}
        return "payment/v2", query, f"the payment of {value} on {series}{number}"
    raise Rejected(f"“{remote_payment_id}” is not a SmartBill payment this connection recorded; "
                   "delete the payment in SmartBill by hand.")


def remote_status(data):
    """``paymentstatus`` as ``RemoteStatus``; ``paid`` from the amounts when absent (note 12)."""
    total, paid_amount = _decimal(data.get("invoiceTotalAmount")), _decimal(data.get("paidAmount"))
    remaining = _decimal(data.get("unpaidAmount"))
    if remaining is None and total is not None and paid_amount is not None:
        remaining = total - paid_amount
    paid = data.get("paid")
    if not isinstance(paid, bool):
        paid = remaining is not None and total is not None and total != 0 and remaining == 0
    if paid:
        status = REMOTE_PAID
    elif paid_amount:
        status = REMOTE_PARTIALLY_PAID
    else:
        status = REMOTE_OPEN
    return RemoteStatus(status=status, paid=paid, total=total, paid_amount=paid_amount, remaining=remaining)


def refused(error, what):
    """``Rejected`` for a refused cancel or delete, with SmartBill's words and what to do."""
    text = error_text(error.details) or error.message
    return Rejected(f"{what}: “{text}”. {advice(text)}", status=error.status, details=error.details)


def wire_number(value):
    """A JSON number: ``21`` or ``12.5``, no float noise and no exponent."""
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(decimal_text(value))


def decimal_text(value):
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


def decimals(value):
    exponent = Decimal(str(value)).normalize().as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def _decimal(value):
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _json_or_none(content):
    try:
        return json.loads(content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
