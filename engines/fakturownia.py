"""Fakturownia (https://github.com/fakturownia/API, README.md and KSeF.md): the engine client.

Wire facts this module relies on (the vendor's documentation, unless marked [I]):

* an account lives on its own subdomain, ``https://{name}.fakturownia.pl`` (the same API on
  invoiceocean.com, vosfactures.fr and bitfactura.com); the credential is the account link
  and an API token, either plain or with the account as prefix (``TOKEN/name``);
* the token never travels in a header: ``api_token`` in the query for GET and DELETE, in the
  JSON body next to the resource wrapper for POST, PUT and PATCH (doc note 1: several README
  examples put it in the query of a POST; the body is the documented rule and what we do);
* clients carry our ``external_id`` and can be filtered by it, by ``tax_no`` and by ``email``;
  there is no REGON filter;
* ``oid`` with ``oid_unique: "yes"`` makes Fakturownia refuse a second invoice with the same
  OID: that is the duplicate guard; the refusal's shape is undocumented [I];
* validation errors are HTTP 422 ``{"code": "error", "message": {field: ["- message"]}}`` in
  Polish; some refusals come under HTTP 200 as ``{"status": "error", "message": …}``;
* discounts are silently ignored unless ``show_discount`` is on and the discount kind matches
  (doc note 10): we send ``discount_kind: percent_total`` with each position's
  ``discount_percent``, and pin ``calculating_strategy`` (see ``ARITHMETIC``);
* KSeF: ``gov_save_and_send`` submits on create; ``gov_status``/``gov_id``/… are asked for
  explicitly (doc note 12); the XML and the UPO are attachments once ``gov_status`` is ok,
  behind a 302 to the file; a KSeF invoice is neither edited, deleted nor cancelled: a
  correction to zero is the way;
* decimals come back Ruby-style ("123.0"): they are parsed, never compared as text;
* the rate limit is not documented.
"""
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit, urlunsplit

from .arithmetic import VatPerLine, WirePart
from .base import CREDENTIAL_API_TOKEN, CUSTOMERS_SEPARATE, Capabilities, EngineClient, TaxAuthority
from .dialect import Dialect, flatten_field_errors
from .document import (
    AUTHORITY_ACCEPTED,
    AUTHORITY_FAILED,
    AUTHORITY_NOT_APPLICABLE,
    AUTHORITY_PENDING,
    AUTHORITY_REJECTED,
    PAYMENT_BANK,
    PAYMENT_CARD,
    PAYMENT_CASH,
    REMOTE_CANCELLED,
    REMOTE_OPEN,
    REMOTE_PAID,
    REMOTE_PARTIALLY_PAID,
    REMOTE_REJECTED,
    REMOTE_SENT,
    TAX_EXEMPT,
    TAX_NOT_SUBJECT,
    TAX_REVERSE_CHARGE,
    TAX_ZERO,
    AccountInfo,
    AuthorityDocument,
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

ENGINE_LABEL = "Fakturownia"
DEFAULT_DOMAIN = "fakturownia.pl"
DEFAULT_BASE_URL = f"https://app.{DEFAULT_DOMAIN}"
# The vendor's own domains (engine-apis.md §3.1): fakturownia.pl and invoiceocean.com are in the
# vendor's docs, bitfactura.com in its docs index; vosfactures.fr is the French brand of the same
# platform [I]. The account link must be on one of them, or the token goes to a stranger.
API_DOMAINS = (DEFAULT_DOMAIN, "invoiceocean.com", "vosfactures.fr", "bitfactura.com")
# Hosts of a vendor domain that name no account: the prefixed token says which one (KSeF.md's
# examples call https://app.fakturownia.pl).
GENERIC_HOSTS = ("", "app", "www")
_ACCOUNT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# Not documented anywhere, and no client library of the vendor handles a 429. Our choice, well
# below what services of this kind allow (Fakturoid documents 400 a minute): 30 calls in 10 s,
# of which the throttle spends 27. An invoice costs about four calls (customer, create, status,
# PDF), so an account still sends some 40 invoices a minute.
CALL_LIMIT = (30, 10)

# KSeF field limits (KSeF.md, "Ograniczenia długości pól"). The Odoo side checks them before any
# call; the payload functions below refuse rather than send a value over them.
KSEF_PHONE_MAX_LENGTH = 16  # buyer_phone (and the client card's phone it is copied from)
KSEF_POSITION_NAME_MAX_LENGTH = 256  # positions[].name
KSEF_DESCRIPTION_MAX_LENGTH = 256  # description (converted to descriptions[].content under KSeF)
KSEF_CORRECTION_REASON_MAX_LENGTH = 256  # correction_reason

# The rounding we pin on every document (README, "calculating_strategy"): each position computed
# from its net unit price on its own (``position: default``, ``invoice_form_price_kind: net``), and
# the document summing its positions (``sum: sum``): the VAT is the sum of the positions' VAT.
CALCULATING_STRATEGY = {"position": "default", "sum": "sum", "invoice_form_price_kind": "net"}
# README "Wartości pól": percent_total takes the percentage off the position's total price, as
# Odoo does (price × (1 − discount) × quantity, rounded once); percent_unit would round the
# discounted unit price first.
DISCOUNT_KIND = "percent_total"

# How many invoices of one issue date find_document reads at most, 100 a page (the maximum).
FIND_PAGE_SIZE = 100
FIND_PAGES = 10

EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
POLAND = "PL"

# Fakturownia ``status`` -> the neutral status (document.REMOTE_STATUSES). ``cancelled`` is what
# the sandbox answers for a cancelled invoice [I]: the README lists no such status.
STATUSES = {
    "issued": REMOTE_OPEN,
    "sent": REMOTE_SENT,
    "partial": REMOTE_PARTIALLY_PAID,
    "paid": REMOTE_PAID,
    "rejected": REMOTE_REJECTED,
    "cancelled": REMOTE_CANCELLED,
}
# KSeF.md "Możliwe statusy": ``gov_status`` -> document.AUTHORITY_*; ``demo_*`` the same in DEMO.
AUTHORITY_STATUSES = {
    "processing": AUTHORITY_PENDING,
    "ok": AUTHORITY_ACCEPTED,
    "send_error": AUTHORITY_REJECTED,
    "server_error": AUTHORITY_FAILED,
    "not_applicable": AUTHORITY_NOT_APPLICABLE,
    "not_connected": AUTHORITY_NOT_APPLICABLE,
}
DEMO_PREFIX = "demo_"
# Doc note 12: what document_status() asks for on top of the invoice's default fields.
STATUS_FIELDS = (
    "gov_status", "gov_id", "gov_error_messages", "gov_verification_link", "gov_link", "connected_payments",
)

PAYMENT_TYPES = {PAYMENT_BANK: "transfer", PAYMENT_CASH: "cash", PAYMENT_CARD: "card"}
# ISO 639-1 (Odoo's language code) -> the README's ``lang`` values; others: the account default.
LANGUAGES = {
    "pl": "pl", "en": "en", "de": "de", "fr": "fr", "cs": "cz", "ru": "ru", "es": "es", "it": "it",
    "nl": "nl", "hr": "hr", "ar": "ar", "sk": "sk", "sl": "sl", "el": "el", "et": "et", "zh": "cn",
    "hu": "hu", "tr": "tr", "fa": "fa",
}
ROUNDING_LABEL = "Zaokrąglenie"

TOKEN_ADVICE = (
    "Copy the API token again from Fakturownia (Settings › Account settings › Integration › "
    "API authorisation code) into the engine settings."
)


# -- the account link ----------------------------------------------------------


def token_prefix(api_token):
    """The account a prefixed token names (``TOKEN/name`` -> ``name``), or ``""``."""
    _token, _sep, prefix = (api_token or "").strip().rpartition("/")
    return prefix.strip().lower() if _sep else ""


def account_link(account_url, api_token=""):
    """The account's root URL from the link a person typed and the API token.

    ``firma``, ``firma.fakturownia.pl``, ``https://firma.fakturownia.pl/invoices/`` all give
    ``https://firma.fakturownia.pl``; the vendor's generic hosts (``app.fakturownia.pl``) or no
    link at all take the account from a prefixed token. An address off the vendor's domains
    (the local sandbox, a test host an administrator allowed) is the account's root as it is.
    Raises ``AuthError`` when the account cannot be told, or link and token disagree.
    """
    prefix = token_prefix(api_token)
    text = (account_url or "").strip()
    if not text:
        return _vendor_url(_named_account("", prefix), DEFAULT_DOMAIN)
    if "://" not in text:
        if "." not in text and "/" not in text:
            return _vendor_url(_named_account(text.lower(), prefix), DEFAULT_DOMAIN)
        text = f"https://{text}"
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    domain = next((d for d in API_DOMAINS if host == d or host.endswith(f".{d}")), None)
    if domain is None:
        return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    return _vendor_url(_named_account(host[: -len(domain)].rstrip("."), prefix), domain)


def stored_account_link(typed):
    """The account link as an engine keeps it, before the API token is known.

    What names an account becomes its root (``account_link``); a generic host of the vendor,
    or nothing, stays that host (``https://app.fakturownia.pl``), for a prefixed token to name
    the account at each call. Raises ``AuthError`` for what cannot be an account name.
    """
    text = (typed or "").strip()
    if "://" not in text and "." not in text and "/" not in text:
        text = f"{text}.{DEFAULT_DOMAIN}" if text else DEFAULT_DOMAIN
    host = (urlsplit(text if "://" in text else f"https://{text}").hostname or "").lower()
    domain = next((d for d in API_DOMAINS if host == d or host.endswith(f".{d}")), None)
    if domain is not None and host[: -len(domain)].rstrip(".") in GENERIC_HOSTS:
        return _vendor_url("app", domain)
    return account_link(text)


def account_name(url):
    """The account's name in its root URL: the subdomain, or the sandbox's last path segment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if any(host.endswith(f".{domain}") for domain in API_DOMAINS):
        return host.split(".")[0]
    return parts.path.rstrip("/").rpartition("/")[2] or host


def _named_account(name, prefix):
    if name in GENERIC_HOSTS:
        if not prefix:
            raise AuthError(
                "The Fakturownia account is not known: give the account link (e.g. "
                "https://yourcompany.fakturownia.pl, or just yourcompany) in the engine settings, "
                "or an API token with the account prefix (TOKEN/yourcompany)."
            )
        name = prefix
    elif prefix and prefix != name:
        raise AuthError(
            f"The API token belongs to the Fakturownia account “{prefix}” but the account link names "
            f"“{name}”. Correct the account link, or use the API token of “{name}”."
        )
    if not _ACCOUNT_NAME.match(name):
        raise AuthError(
            f"“{name}” is not a Fakturownia account name (letters, digits and dashes). Correct the "
            "account link in the engine settings: it is the address you sign in to Fakturownia at."
        )
    return name


def _vendor_url(name, domain):
    return f"https://{name}.{domain}"


# -- the dialect ---------------------------------------------------------------


class FakturowniaDialect(Dialect):
    """Fakturownia's ``{"code": "error", "message": …}`` bodies, its 200 refusals, its 401 and 404."""

    label = ENGINE_LABEL
    summary_keys = ("message", "error")

    def field_errors(self, body):
        """``{"message": {field: ["- msg"]}}`` as ``{field: ["msg"]}``; a text message under ``base``.

        The leading "- " of each message is the web form's list dash, not part of it.
        """
        if not isinstance(body, dict):
            return {}
        message = body.get("message") if body.get("message") is not None else body.get("errors")
        if isinstance(message, dict):
            return {
                field: [text[2:] if text.startswith("- ") else text for text in texts]
                for field, texts in flatten_field_errors(message).items()
            }
        if isinstance(message, list) and message:
            return {"base": [str(text) for text in message]}
        if isinstance(message, str) and message.strip():
            return {"base": [message.strip()]}
        return {}

    def error_under_success(self, status, data):
        """KSeF.md: "Status HTTP wiadomości to 200. Należy sprawdzić treść wiadomości zwrotnej"."""
        if isinstance(data, dict) and "error" in (data.get("status"), data.get("code")):
            return self.rejected(status, data, "")
        return None

    def client_error(self, status, body, detail):
        if status == 401:
            # [I] the wrong-token answer is not documented (doc note 11); any 401 means the token.
            return AuthError(
                f"Fakturownia refused the API token (HTTP 401{': ' + detail if detail else ''}): the API "
                f"token is wrong, or was generated anew in Fakturownia. {TOKEN_ADVICE}",
                reason="invalid_credentials",
                status=status,
                details=body,
            )
        if status == 404 and not isinstance(body, (dict, list)):
            # [I] Records that do not exist answer JSON; a page that is not JSON means the request
            # never reached an account: there is no Fakturownia account at this address.
            return AuthError(
                "Fakturownia has no account at this address (HTTP 404): the account name is wrong. "
                "Correct the account link in the engine settings: it is the address you sign in "
                "to Fakturownia at (https://yourcompany.fakturownia.pl).",
                reason="invalid_credentials",
                status=status,
                details=body,
            )
        return None


# -- the arithmetic ----------------------------------------------------------------


def wire_rate(tax):
    """The VAT percent Fakturownia computes a position's VAT with: none for zw, np and oo."""
    if tax.kind in (TAX_EXEMPT, TAX_NOT_SUBJECT, TAX_REVERSE_CHARGE, TAX_ZERO):
        return Decimal(0)
    return Decimal(tax.rate)


def position_parts(line):
    """The positions one neutral line becomes: itself with its percentage discount, and, only
    where Odoo's global rounding moved the line's booked net by a cent, a rounding position.

    The first part's unit price is the discounted one: ``percent_total`` gives the position the
    net ``round(quantity × price × (1 − discount), 2)``, which is this part's ``net``. The parts
    add up to ``line.subtotal`` in every case.
    """
    rate = wire_rate(line.tax)
    discounted = line.unit_price * (1 - Decimal(line.discount_percent) / 100)
    listed = WirePart(line.quantity, discounted, rate)
    difference = line.subtotal - listed.net
    if not difference:
        return (listed,)
    return listed, WirePart(Decimal(1), difference, rate, is_adjustment=True)


# ``calculating_strategy`` position "default" + sum "sum": each position's net rounded to cents,
# its VAT rounded to cents, the document sums them. The sandbox computes the same.
ARITHMETIC = VatPerLine(split=position_parts)


# -- the engine client ---------------------------------------------------------


class FakturowniaClient(EngineClient):
    """``EngineClient`` for one Fakturownia account (``https://{name}.fakturownia.pl``)."""

    engine_type = "fakturownia"
    capabilities = Capabilities(
        label=ENGINE_LABEL,
        default_base_url=DEFAULT_BASE_URL,
        api_domains=API_DOMAINS,
        credential=CREDENTIAL_API_TOKEN,
        reads_back_documents=True,  # invoices by oid
        customers=CUSTOMERS_SEPARATE,  # clients, with our external_id
        async_pdf=False,  # invoices/{id}.pdf answers the PDF at once
        reads_back_payments=True,  # the invoice's connected_payments
        # on creation (send_to_ksef) or by the account's own automatic KSeF sending
        tax_authority=TaxAuthority(system="KSeF", recipient="KSeF", country_code="PL"),
        reports_authority_status=True,  # gov_status, gov_id, gov_error_messages
        call_limit=CALL_LIMIT,
        arithmetic=ARITHMETIC,  # what Fakturownia computes from the positions invoice_payload() sends
        numbering_label="Department",
        cancels_documents=True,  # invoices/cancel.json
        authority_blocks_cancel=True,  # a KSeF invoice is corrected to zero instead
    )

    def __init__(self, account_url, api_token, *, user_agent, on_exchange=None, throttle=None,
                 timeout=(5, 30), send_to_ksef=False):
        self._api_token = (api_token or "").strip()
        self.send_to_ksef = send_to_ksef
        try:
            self.account_url = account_link(account_url, self._api_token)
            self._link_problem = None
        except AuthError as problem:
            # Told on the first call, like every other refusal of the credentials.
            self.account_url, self._link_problem = DEFAULT_BASE_URL, problem
        self._transport = HttpTransport(
            self.account_url,
            dialect=FakturowniaDialect(),
            user_agent=user_agent,
            timeout=timeout,
            on_exchange=on_exchange,
            throttle=throttle,
        )
        self._departments = None  # check() reads them; reference_data() uses that answer once

    # -- account ---------------------------------------------------------

    def check(self):
        """Test the link and token by reading the departments (Settings › Company details)."""
        self._departments = self._list_departments("check")
        default = _default_department(self._departments)
        return AccountInfo(
            name=(default or {}).get("name") or self._account_name(),
            country=(default or {}).get("country") or "",
            details={"account": self._account_name(), "departments": len(self._departments)},
        )

    def reference_data(self):
        departments, self._departments = self._departments, None
        if departments is None:
            departments = self._list_departments("reference_data")
        default = _default_department(departments)
        return ReferenceData(
            numberings=tuple(
                NumberingOption(
                    id=str(department["id"]),
                    name=department_label(department),
                    is_default=department is default,
                )
                for department in departments
            )
        )

    def _list_departments(self, operation):
        return self._call(operation, "GET", "departments.json").data or []

    def _account_name(self):
        return token_prefix(self._api_token) or account_name(self.account_url)

    # -- customers -------------------------------------------------------

    def upsert_customer(self, party, remote_id=None, *, match=True):
        payload = client_payload(party)  # refuses what KSeF would refuse, before any call
        if remote_id:
            try:
                return self._update_client(remote_id, payload)
            except NotFound:
                pass  # deleted in Fakturownia: find it again or create it
        existing = self.find_customer(party) if match else self.customer_by_key(party.key)
        if existing:
            return self._update_client(existing.id, payload)
        data = self._call("create_customer", "POST", "clients.json", json={"client": payload}).data
        return str(data["id"])

    def customer_by_key(self, key):
        if not key:
            return None
        clients = self._call("find_customer", "GET", "clients.json", params={"external_id": key}).data or []
        matches = [client for client in clients if str(client.get("external_id") or "") == key]
        return self._candidate(matches[0], matched_on="key") if matches else None

    def search_customers(self, field, value):
        if field == "vat_no":
            # The bare number: a tax_no stored with or without its country prefix contains it.
            params = {"tax_no": _without_country_prefix(value)}
        elif field == "email":
            params = {"email": value}
        else:
            return []  # no REGON filter (README "Wyszukiwanie klientów")
        clients = self._call("search_customers", "GET", "clients.json", params=params).data or []
        return [self._candidate(client) for client in clients]

    def _update_client(self, client_id, payload):
        data = self._call(
            "update_customer", "PUT", f"clients/{path_id(client_id)}.json", json={"client": payload}
        ).data
        return str(data["id"]) if isinstance(data, dict) and data.get("id") else str(client_id)

    def _candidate(self, client, matched_on=""):
        return customer_candidate(client, f"{self.account_url}/clients/{client['id']}", matched_on)

    # -- documents -------------------------------------------------------

    def prepare_create(self, document):
        return {"oid": document.key}

    def create_document(self, document, customer_id):
        payload = invoice_payload(document, customer_id, send_to_ksef=self.send_to_ksef)
        try:
            data = self._call("create_document", "POST", "invoices.json", json=payload, is_create=True).data
        except Rejected as error:
            if "oid" in error.field_errors:
                # Created before (a lost answer, a second worker): the one with our oid is ours.
                found = self.find_document(document, self.prepare_create(document))
                if found:
                    return found
            if "client_id" in error.field_errors:
                raise CustomerGone(
                    error.message, field_errors=error.field_errors, status=error.status, details=error.details
                ) from None
            raise
        return self._remote_ref(data)

    def find_document(self, document, marker):
        """The invoice carrying ``document.key`` as its oid, among those of its issue date.

        The issue-date filter is documented (``period=more``); ``oid=`` is not [I], so it only
        narrows the answer when honoured: every oid is compared exactly here.
        """
        key = (marker or {}).get("oid") or document.key
        day = document.issue_date.isoformat()
        params = {"period": "more", "date_from": day, "date_to": day, "search_date_type": "issue_date",
                  "oid": key, "order": "oid", "per_page": FIND_PAGE_SIZE}
        matches = []
        for page in range(1, FIND_PAGES + 1):
            invoices = self._call("find_document", "GET", "invoices.json", params={**params, "page": page}).data or []
            matches += [invoice for invoice in invoices if str(invoice.get("oid") or "") == key]
            if len(invoices) < FIND_PAGE_SIZE:
                break
        else:
            raise OutcomeUnknown(
                f"Fakturownia lists more than {FIND_PAGE_SIZE * FIND_PAGES} documents issued on {day}, "
                f"too many to tell whether {document.reference or key} is among them. Look for the "
                f"order number {key} in Fakturownia and link the document to the Odoo one, or confirm "
                "that none exists."
            )
        if len(matches) > 1:
            numbers = ", ".join(sorted(invoice.get("number") or f"id {invoice['id']}" for invoice in matches))
            raise OutcomeUnknown(
                f"Fakturownia holds several documents for {document.reference or key} ({numbers}). Keep "
                "one: correct or delete the others in Fakturownia, then link the right one to the Odoo "
                "document."
            )
        return self._remote_ref(matches[0]) if matches else None

    def get_document(self, remote_id):
        return self._remote_ref(self._invoice("get_document", remote_id))

    def fetch_pdf(self, ref):
        response = self._call(
            "fetch_pdf", "GET", f"invoices/{path_id(ref.id)}.pdf",
            headers={"Accept": "application/pdf"}, expect=EXPECT_BYTES,
        )
        if not response.content.startswith(b"%PDF"):
            raise TransientError(
                f"Fakturownia sent something other than a PDF for {ref.number or ref.id}. "
                "It is fetched again later."
            )
        return response.content

    def document_status(self, ref):
        data = self._invoice(
            "document_status", ref.id, params={"additional_fields[invoice]": ",".join(STATUS_FIELDS)}
        )
        return remote_status(data)

    def cancel_document(self, ref, reason=""):
        payload = {"cancel_invoice_id": wire_id(ref.id), "cancel_reason": reason}
        try:
            self._call("cancel_document", "POST", "invoices/cancel.json", json=payload)
        except Rejected as error:
            refusal = "; ".join(text for texts in error.field_errors.values() for text in texts)
            raise Rejected(
                f"Fakturownia refused to cancel {ref.number or ref.id}"
                f"{': ' + refusal if refusal else ''}. An invoice sent to KSeF can be neither deleted "
                "nor cancelled: issue a credit note for the whole invoice (a correction to zero) instead.",
                field_errors=error.field_errors,
                status=error.status,
                details=error.details,
            ) from None

    def _invoice(self, operation, invoice_id, params=None):
        return self._call(operation, "GET", f"invoices/{path_id(invoice_id)}.json", params=params).data

    def _remote_ref(self, data):
        return remote_ref(data, self.account_url)

    # -- KSeF ------------------------------------------------------------

    def resubmit_to_authority(self, ref):
        """KSeF.md "Sposób 1": ``GET /invoices/{id}.json?send_to_ksef=yes``."""
        self._invoice("resubmit_to_authority", ref.id, params={"send_to_ksef": "yes"})

    def authority_documents(self, ref):
        """The KSeF invoice XML and the UPO receipt, or ``()`` until both can be downloaded.

        KSeF.md: both are attachments once ``gov_status`` is ok, within an hour for batch
        sending; each answers a 302 to the file, or 404 while it does not exist.
        """
        data = self._invoice("authority_status", ref.id, params={"fields[invoice]": "id,gov_status,gov_id"})
        status = str(data.get("gov_status") or "")
        if status.removeprefix(DEMO_PREFIX) != "ok":
            return ()
        files = []
        for kind, name in (("gov", "KSeF"), ("gov_upo", "UPO")):
            content = self._attachment(ref.id, kind)
            if content is None:
                return ()
            files.append(AuthorityDocument(name=f"{name} {data.get('gov_id') or ref.number}.xml", content=content))
        return tuple(files)

    def _attachment(self, invoice_id, kind):
        try:
            response = self._call(
                "authority_documents", "GET", f"invoices/{path_id(invoice_id)}/attachment",
                params={"kind": kind}, headers={"Accept": "*/*"}, expect=EXPECT_BYTES, follow_redirects=True,
            )
        except NotFound:
            return None
        except AuthError as error:
            if error.status != 404:
                raise
            return None  # the account answered a moment ago: a 404 page here is a missing file
        return response.content or None

    # -- payments ----------------------------------------------------------

    def record_payment(self, ref, payment):
        payload = {"banking_payment": payment_payload(ref, payment)}
        # A lost answer may hide a stored payment: it surfaces as MaybeCreated and the caller
        # looks for it in ``document_status(ref).payments``.
        data = self._call("record_payment", "POST", "banking/payments.json", json=payload, is_create=True).data
        return str(data["id"])

    def delete_payment(self, ref, remote_payment_id):
        # Doc note 5: reading one payment is singular (banking/payment/{id}), deleting is plural.
        try:
            self._call(
                "delete_payment", "DELETE", f"banking/payments/{path_id(remote_payment_id)}.json",
                expect=EXPECT_NONE,
            )
        except NotFound:
            pass  # already gone: that is what we wanted

    # -- plumbing ----------------------------------------------------------

    def _call(self, operation, method, path, *, params=None, json=None, **kwargs):
        """One API call with the token where the README puts it: the query for GET and DELETE,
        the JSON body beside the resource for POST, PUT and PATCH; never a header."""
        if self._link_problem:
            raise self._link_problem
        if method in ("GET", "DELETE"):
            params = {**(params or {}), "api_token": self._api_token}
        else:
            json = {"api_token": self._api_token, **(json or {})}
        return self._transport.request(operation, method, path, params=params, json=json, **kwargs)


# -- payloads (pure functions, easy to test) -----------------------------------


def client_payload(party):
    """The Fakturownia client for ``party``, every field present (empty when unknown)."""
    _refuse(party_limit_problems(party))
    tax_no, tax_no_kind = tax_identity(party)
    payload = {
        "name": party.name,
        "tax_no": tax_no,
        "tax_no_kind": tax_no_kind,
        "register_number": party.registration_no,
        "company": bool(party.is_company),
        "street": street(party),
        "post_code": party.zip,
        "city": party.city,
        "country": (party.country_code or "").upper(),
        "email": party.email,
        "phone": party.phone,
        "external_id": party.key,
    }
    if not party.is_company:
        payload.update(person_names(party.name))
    return payload


def street(party):
    return ", ".join(part for part in (party.street, party.street2) if part)


def person_names(name):
    """``first_name``/``last_name`` of a private person (README: ``company: false`` + ``last_name``)."""
    first, _sep, last = (name or "").strip().rpartition(" ")
    return {"first_name": first.strip(), "last_name": last.strip()}


def tax_identity(party):
    """``(tax_no, tax_no_kind)`` as KSeF accepts them (doc note 3).

    A Polish NIP travels as its ten digits with the empty kind; an EU VAT number keeps its
    country prefix as ``nip_ue``; any other number is ``other``; none at all is ``empty``.
    """
    number = re.sub(r"[^0-9A-Za-z]", "", party.vat_no or "").upper()
    if not number:
        return "", "empty"
    country = _tax_country(number, party.country_code)
    if country == POLAND:
        return _without_country_prefix(number), ""
    if country in EU_COUNTRIES:
        return number if number[:2].isalpha() else f"{country}{number}", "nip_ue"
    return number, "other"


def _tax_country(number, country_code):
    prefix = number[:2]
    if prefix.isalpha() and (prefix in EU_COUNTRIES or prefix == "EL"):
        return "GR" if prefix == "EL" else prefix
    return (country_code or "").upper() or POLAND


def _without_country_prefix(number):
    number = re.sub(r"[^0-9A-Za-z]", "", number or "").upper()
    return number[2:] if number[:2].isalpha() and number[2:3].isdigit() else number


def customer_candidate(client, url="", matched_on=""):
    return CustomerCandidate(
        id=str(client["id"]),
        name=client.get("name") or " ".join(
            part for part in (client.get("first_name"), client.get("last_name")) if part
        ),
        registration_no=client.get("register_number") or "",
        vat_no=candidate_vat_no(client),
        email=client.get("email") or "",
        key=str(client.get("external_id") or ""),
        url=url,
        matched_on=matched_on,
    )


def candidate_vat_no(client):
    """The client's tax number with its country prefix, as Odoo writes a VAT number.

    A NIP is kept in Fakturownia as bare digits, often with dashes ("525-244-57-67"); the
    client's country (Poland when empty) gives the prefix the comparison needs.
    """
    number = re.sub(r"[^0-9A-Za-z]", "", client.get("tax_no") or "").upper()
    if not number or number[:2].isalpha() or client.get("tax_no_kind") == "other":
        return number
    return f"{(client.get('country') or POLAND).upper()}{number}"


def invoice_payload(document, customer_id, *, send_to_ksef=False):
    """``{"invoice": {…}}`` (plus ``gov_save_and_send``) for an invoice or a correction."""
    _refuse(document_limit_problems(document))
    invoice = {
        "kind": "correction" if document.is_credit_note else "vat",
        "issue_date": document.issue_date.isoformat(),
        "sell_date": document.taxable_supply_date.isoformat(),
        # Doc note 9: payment_to is honoured with payment_to_kind "other_date" (one example omits it).
        "payment_to_kind": "other_date",
        "payment_to": document.due_date.isoformat(),
        "payment_type": PAYMENT_TYPES.get(document.payment_method, "transfer"),
        "currency": document.currency,
        "client_id": wire_id(customer_id),
        "oid": document.key,
        "oid_unique": "yes",
        "calculating_strategy": dict(CALCULATING_STRATEGY),
        **buyer_fields(document.customer),
        **tax_basis_fields(document),
    }
    if document.is_credit_note:
        invoice.update(correction_fields(document))
    else:
        invoice["positions"] = invoice_positions(document)
    if _any_discount(document):
        invoice.update(show_discount=True, discount_kind=DISCOUNT_KIND)
    invoice.update(exchange_fields(document))
    optional = {
        "lang": fakturownia_language(document.language),
        "department_id": wire_id(document.numbering) if document.numbering else None,
        "description": document.note,
        "internal_note": f"Odoo: {document.reference}" if document.reference else None,
    }
    invoice.update({key: value for key, value in optional.items() if value})
    payload = {"invoice": invoice}
    if send_to_ksef:
        payload["gov_save_and_send"] = True
    return payload


def buyer_fields(party):
    """The buyer's identity as KSeF needs it. ``client_id`` data override them (KSeF.md), yet
    ``buyer_company`` decides KSeF's automatic sending, so it is always sent (doc note 2)."""
    tax_no, tax_no_kind = tax_identity(party)
    fields = {
        "buyer_company": bool(party.is_company),
        "buyer_name": party.name,
        "buyer_tax_no": tax_no,
        "buyer_tax_no_kind": tax_no_kind,
        "buyer_country": (party.country_code or "").upper(),
        "buyer_street": street(party),
        "buyer_post_code": party.zip,
        "buyer_city": party.city,
    }
    if not party.is_company:
        names = person_names(party.name)
        fields.update(buyer_first_name=names["first_name"], buyer_last_name=names["last_name"])
    return fields


# KSeF.md "Pola warunkowe": the legal basis a document with such positions must state.
TAX_BASES = (
    (TAX_EXEMPT, "exempt_tax_kind", "the legal basis of the exemption",
     "e.g. “Zwolnienie ze względu na rodzaj prowadzonej działalności (art. 43 ust 1 ustawy o VAT)”"),
    (TAX_NOT_SUBJECT, "np_tax_kind", "why the supply is not subject to Polish VAT",
     "“export_service” or “export_service_eu”"),
)


def tax_basis_fields(document):
    """``exempt_tax_kind`` / ``np_tax_kind`` from the tax mapping's engine code (required by KSeF
    for zw and np positions), and ``reverse_charge`` where the README asks for it."""
    lines = tuple(document.lines) + tuple(document.original_lines)
    fields = {}
    for kind, field, what, example in TAX_BASES:
        taxed = [line for line in lines if line.tax.kind == kind]
        if not taxed:
            continue
        missing = [line for line in taxed if not line.tax.engine_code.strip()]
        if missing:
            raise Rejected(
                f"KSeF needs {what} for the tax “{missing[0].tax.label or missing[0].name}”: set its "
                f"Fakturownia code in the tax mapping ({example}), then send again.",
                field_errors={field: ["missing"]},
            )
        codes = sorted({line.tax.engine_code.strip() for line in taxed})
        if len(codes) > 1:
            raise Rejected(
                f"A Fakturownia document states one {field} for all its positions, and this one has "
                f"{len(codes)} ({', '.join(codes)}). Split the lines over separate invoices.",
                field_errors={field: codes},
            )
        fields[field] = codes[0]
    buyer_is_polish = (document.customer.country_code or POLAND).upper() == POLAND
    if fields.get("np_tax_kind") == "export_service_eu" or (
        buyer_is_polish and any(line.tax.kind == TAX_REVERSE_CHARGE for line in lines)
    ):
        # README: export_service_eu goes with reverse_charge; for a Polish buyer it keeps "oo".
        fields["reverse_charge"] = True
    return fields


def exchange_fields(document):
    """The totals converted into the company currency at Odoo's own rate.

    README: ``exchange_currency`` is the currency the sum and the VAT are converted into, at
    ``exchange_currency_rate`` when ``exchange_kind`` is "own": here the company's currency,
    ``document.exchange_rate`` company-currency units per one document-currency unit.
    """
    if document.currency == document.company_currency or not document.exchange_rate:
        return {}
    return {
        "exchange_currency": document.company_currency,
        "exchange_kind": "own",
        "exchange_currency_rate": decimal_str(document.exchange_rate),
    }


def invoice_positions(document):
    """Each line as ``ARITHMETIC`` splits it: the position, then its rounding position if any."""
    positions = []
    for line in document.lines:
        for part in ARITHMETIC.split(line):
            positions.append(rounding_position(line, part) if part.is_adjustment else listed_position(line))
    return positions


def listed_position(line, quantity=None, unit_price=None):
    position = {
        "name": line.name,
        "quantity": decimal_str(line.quantity if quantity is None else quantity),
        "price_net": decimal_str(line.unit_price if unit_price is None else unit_price),
        "tax": tax_code(line.tax),
    }
    if line.discount_percent:
        position["discount_percent"] = decimal_str(line.discount_percent)
    if line.unit_name:
        position["quantity_unit"] = line.unit_name
    return position


def rounding_position(line, part):
    name = f"{ROUNDING_LABEL} \u2013 {line.name}"
    if len(name) > KSEF_POSITION_NAME_MAX_LENGTH:
        name = name[: KSEF_POSITION_NAME_MAX_LENGTH - 1] + "\u2026"
    return {
        "name": name,
        "quantity": decimal_str(part.quantity),
        "price_net": decimal_str(part.unit_price),
        "tax": tax_code(line.tax),
    }


def tax_code(tax):
    """``tax`` of a position: the rate as a number, or zw / np / oo (README "positions")."""
    codes = {TAX_EXEMPT: "zw", TAX_NOT_SUBJECT: "np", TAX_REVERSE_CHARGE: "oo"}
    if tax.kind in codes:
        return codes[tax.kind]
    return json_number(wire_rate(tax))  # the README's "tax": 23


# -- corrections ------------------------------------------------------------------


@dataclass(frozen=True)
class CorrectedLine:
    """A credited line, the invoice line it corrects, and how: fewer units or a lower price."""

    credit: object  # the credit note's Line (positive amounts)
    original: object  # the corrected invoice's Line
    lowers_price: bool

    def change(self):
        """``(quantity, unit price)`` of the correction position: the credited part, negative."""
        if self.lowers_price:
            return self.original.quantity, -self.credit.unit_price
        return -self.credit.quantity, self.credit.unit_price

    def after(self):
        """``(quantity, unit price)`` of the invoice line once corrected."""
        if self.lowers_price:
            return self.original.quantity, self.original.unit_price - self.credit.unit_price
        return self.original.quantity - self.credit.quantity, self.original.unit_price


def correction_fields(document):
    """``kind: correction`` fields (README "Dodanie nowej faktury korygującej").

    Each position states the change, with the invoice line before and after it. Both README
    examples share this shape (doc note 4); the after-name stays the line's own, as in the
    first one: crediting a line does not rename it.
    """
    original_id = _original_id(document)
    positions = []
    for corrected in corrected_lines(document):
        positions.append(correction_position(corrected))
        for part in ARITHMETIC.split(corrected.credit)[1:]:
            positions.append(rounding_correction(corrected.credit, part))
    return {
        "invoice_id": original_id,
        "from_invoice_id": original_id,
        "correction_reason": document.correction_reason or f"Korekta {document.original_reference}".strip(),
        "positions": positions,
    }


def corrected_lines(document):
    """Pair each credited line with the invoice line of the same name (in order), and tell how
    it changes it; refuse in words what a before/after correction cannot state."""
    unused = list(document.original_lines)
    if not unused:
        raise Rejected(
            f"The credit note {document.reference} does not list the lines of "
            f"{document.original_reference or 'the invoice'} it corrects, which a Fakturownia "
            "correction states before and after the change. Create the credit note from the invoice "
            "(Add Credit Note), then send again.",
            field_errors={"positions": ["the corrected invoice lines are missing"]},
        )
    pairs = []
    for credit in document.lines:
        original = next((line for line in unused if line.name.strip() == credit.name.strip()), None)
        if original is None:
            raise _uncorrectable(document, credit, "names no line of the invoice")
        unused.remove(original)
        pairs.append(CorrectedLine(credit, original, _lowers_price(document, credit, original)))
    return pairs


def _lowers_price(document, credit, original):
    if wire_rate(credit.tax) != wire_rate(original.tax) or tax_code(credit.tax) != tax_code(original.tax):
        raise _uncorrectable(document, credit, "has another VAT rate than the invoice line")
    if credit.discount_percent != original.discount_percent:
        raise _uncorrectable(document, credit, "has another discount than the invoice line")
    if credit.unit_price == original.unit_price and credit.quantity <= original.quantity:
        return False
    if credit.quantity == original.quantity and credit.unit_price <= original.unit_price:
        return True
    raise _uncorrectable(
        document, credit, "changes both the quantity and the unit price of the invoice line, or credits more than it"
    )


def _uncorrectable(document, credit, why):
    return Rejected(
        f"The credit note line “{credit.name}” {why} in {document.original_reference or 'the invoice'}. A "
        "Fakturownia correction states each invoice line before and after the change: credit fewer "
        "units at the invoiced price, or the same units at a lower price, keeping the line's name, "
        "VAT and discount. Adjust the credit note, then send again.",
        field_errors={"positions": [credit.name]},
    )


def correction_position(corrected):
    quantity, unit_price = corrected.change()
    after_quantity, after_price = corrected.after()
    original = corrected.original
    return {
        **listed_position(original, quantity, unit_price),
        "kind": "correction",
        "correction_before_attributes": {**listed_position(original), "kind": "correction_before"},
        "correction_after_attributes": {
            **listed_position(original, after_quantity, after_price), "kind": "correction_after",
        },
    }


def rounding_correction(line, part):
    """The cent Odoo's global rounding put on a credited line, as a position of its own."""
    change = {**rounding_position(line, part), "quantity": decimal_str(-part.quantity)}
    return {
        **change,
        "kind": "correction",
        "correction_before_attributes": {**change, "quantity": "0", "price_net": "0", "kind": "correction_before"},
        "correction_after_attributes": {**change, "kind": "correction_after"},
    }


def _original_id(document):
    if document.original and document.original.id:
        return wire_id(document.original.id)
    raise Rejected(
        f"The credit note {document.reference} corrects {document.original_reference or 'an invoice'} "
        "that was not sent to Fakturownia. Send the original invoice first (or link it to its "
        "Fakturownia invoice), then this credit note.",
        field_errors={"invoice_id": ["the corrected invoice is not in Fakturownia"]},
    )


# -- KSeF limits ------------------------------------------------------------------


def party_limit_problems(party):
    """What in ``party`` KSeF would refuse, in words; empty when nothing."""
    if len(party.phone or "") > KSEF_PHONE_MAX_LENGTH:
        return [
            f"The phone number of {party.name} has {len(party.phone)} characters; KSeF accepts at most "
            f"{KSEF_PHONE_MAX_LENGTH}. Shorten it on the contact."
        ]
    return []


def document_limit_problems(document):
    """What in ``document`` KSeF would refuse for its length, in words; empty when nothing."""
    problems = party_limit_problems(document.customer)
    for line in document.lines:
        if len(line.name) > KSEF_POSITION_NAME_MAX_LENGTH:
            problems.append(
                f"The line “{line.name[:40]}…” has a description of {len(line.name)} characters; KSeF "
                f"accepts at most {KSEF_POSITION_NAME_MAX_LENGTH}. Shorten it."
            )
    texts = [(document.note, "note on the invoice", KSEF_DESCRIPTION_MAX_LENGTH)]
    if document.is_credit_note:
        texts.append((document.correction_reason, "reason of the credit note", KSEF_CORRECTION_REASON_MAX_LENGTH))
    for text, what, limit in texts:
        if len(text or "") > limit:
            problems.append(f"The {what} has {len(text)} characters; KSeF accepts at most {limit}. Shorten it.")
    return problems


def _refuse(problems):
    if problems:
        raise Rejected(" ".join(problems), field_errors={"ksef": problems})


# -- reading answers ----------------------------------------------------------------


def remote_ref(data, account_url):
    return RemoteRef(
        id=str(data["id"]),
        number=data.get("number") or "",
        url=f"{account_url}/invoices/{data['id']}",
        total=parse_decimal(data.get("price_gross")),
        status=_status(data),
    )


def remote_status(data):
    status = _status(data)
    total = parse_decimal(data.get("price_gross"))
    paid_amount = parse_decimal(data.get("paid")) or Decimal(0)
    gov_status = str(data.get("gov_status") or "")
    return RemoteStatus(
        status=status,
        paid=status == REMOTE_PAID,
        cancelled=status == REMOTE_CANCELLED,
        paid_on=_date_or_none(data.get("paid_date")),
        total=total,
        paid_amount=paid_amount,
        remaining=None if total is None else total - paid_amount,
        payments=tuple(remote_payment(payment) for payment in data.get("connected_payments") or ()),
        authority_status=AUTHORITY_STATUSES.get(gov_status.removeprefix(DEMO_PREFIX), AUTHORITY_NOT_APPLICABLE),
        authority_number=data.get("gov_id") or "",
        authority_link=data.get("gov_verification_link") or "",
        authority_messages=tuple(str(message) for message in data.get("gov_error_messages") or ()),
        authority_demo=gov_status.startswith(DEMO_PREFIX),
    )


def remote_payment(payment):
    return RemotePayment(
        id=str(payment["id"]),
        amount=parse_decimal(payment.get("price")) or Decimal(0),
        paid_on=_date_or_none(payment.get("paid_date")),
    )


def _status(data):
    if data.get("cancelled") is True:
        return REMOTE_CANCELLED
    return STATUSES.get(data.get("status"), "")


def payment_payload(ref, payment):
    """``banking_payment`` (README "Dodanie nowej płatności"), settling one invoice."""
    return {
        "name": payment.reference or f"Odoo {payment.key}",
        "price": decimal_str(payment.amount),
        "invoice_id": wire_id(ref.id),
        "paid": True,
        "kind": "api",
        "paid_date": payment.paid_on.isoformat(),
        "currency": payment.currency,
        "description": f"Odoo {payment.key}",
    }


def department_label(department):
    name = department.get("name") or str(department["id"])
    shortcut = department.get("shortcut") or ""
    return f"{name} ({shortcut})" if shortcut and shortcut != name else name


def _default_department(departments):
    """The department flagged ``default`` [I: the flag's name is not documented], else the first."""
    return next((d for d in departments if d.get("default")), departments[0] if departments else None)


def fakturownia_language(language):
    if not language:
        return ""
    code = language.replace("-", "_")
    if code.lower() == "en_gb":
        return "en-GB"
    return LANGUAGES.get(code.split("_")[0].lower(), "")


def parse_decimal(value):
    """A number as Fakturownia writes it ("123.0", "59,00", 12.5), or ``None``."""
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        return None


def _any_discount(document):
    return any(line.discount_percent for line in tuple(document.lines) + tuple(document.original_lines))


def _date_or_none(value):
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None
