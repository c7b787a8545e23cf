"""The engine-neutral document: what Odoo hands to an engine client.

Plain frozen dataclasses, no ``odoo`` import. The models layer builds them from
``account.move`` / ``res.partner``; each client maps them onto its own wire format
(Fakturoid subjects + invoices, SmartBill embedded client + /invoice, Fakturownia
clients + invoices). Money is ``Decimal`` in the document currency; every amount
is positive, ``Document.kind`` says whether it is an invoice or a credit note.
"""
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"

# Tax kinds the three engines distinguish (Fakturownia ``zw``/``np``/``oo``,
# Fakturoid ``transferred_tax_liability``, SmartBill tax names).
TAX_STANDARD = "standard"
TAX_ZERO = "zero"
TAX_EXEMPT = "exempt"
TAX_REVERSE_CHARGE = "reverse_charge"
TAX_NOT_SUBJECT = "not_subject"

# Where a sent document stands in the engine, whatever the engine calls it. Each client maps
# its wire statuses onto these (``RemoteRef.status``, ``RemoteStatus.status``); "" when it
# cannot tell. Engines without a status (SmartBill: only ``paymentstatus`` and cancel) derive
# one from what they know.
#   Fakturoid:   open, sent, overdue, paid, cancelled, uncollectible (the same words)
#   Fakturownia: issued -> open, sent, partial -> partially_paid, paid, rejected, and a
#                cancelled document (``/invoices/cancel``) -> cancelled
#   SmartBill:   unpaid -> open, paidAmount < total -> partially_paid, paid, cancel -> cancelled
REMOTE_OPEN = "open"
REMOTE_SENT = "sent"
REMOTE_OVERDUE = "overdue"
REMOTE_PARTIALLY_PAID = "partially_paid"
REMOTE_PAID = "paid"
REMOTE_CANCELLED = "cancelled"
REMOTE_UNCOLLECTIBLE = "uncollectible"
REMOTE_REJECTED = "rejected"
REMOTE_STATUSES = [
    (REMOTE_OPEN, "Open"),
    (REMOTE_SENT, "Sent to customer"),
    (REMOTE_OVERDUE, "Overdue"),
    (REMOTE_PARTIALLY_PAID, "Partially paid"),
    (REMOTE_PAID, "Paid"),
    (REMOTE_CANCELLED, "Cancelled"),
    (REMOTE_UNCOLLECTIBLE, "Uncollectible"),
    (REMOTE_REJECTED, "Rejected by the customer"),
]

# A tax authority's verdict on the document is a second, independent status: Fakturownia
# reports KSeF's (``gov_status``: processing -> pending, ok -> accepted, send_error and
# server_error -> rejected, not_applicable/not_connected -> not_applicable); SmartBill does
# not expose RO e-Factura's; Fakturoid has none. Carried by ``RemoteStatus.authority_status``.
AUTHORITY_PENDING = "pending"  # submitted, the authority has not answered yet
AUTHORITY_ACCEPTED = "accepted"  # final: the authority numbered it
AUTHORITY_REJECTED = "rejected"  # final until a person acts: the authority refused the content
AUTHORITY_FAILED = "failed"  # the submission failed on the way (KSeF server_error): submit again later
AUTHORITY_NOT_APPLICABLE = "not_applicable"  # final: not submitted (B2C, not connected, off)
AUTHORITY_STATUSES = [
    (AUTHORITY_PENDING, "Processing"),
    (AUTHORITY_ACCEPTED, "Accepted"),
    (AUTHORITY_REJECTED, "Rejected"),
    (AUTHORITY_FAILED, "Submission failed"),
    (AUTHORITY_NOT_APPLICABLE, "Not submitted"),
]

# How a payment was received, as the Odoo payment journal says (SmartBill's payment ``type``).
PAYMENT_BANK = "bank"
PAYMENT_CASH = "cash"
PAYMENT_CARD = "card"


@dataclass(frozen=True)
class Party:
    """A customer as the engine needs it."""

    key: str  # stable identity from Odoo: Fakturoid subject custom_id, Fakturownia external_id
    name: str
    is_company: bool = True
    email: str = ""
    phone: str = ""
    website: str = ""
    street: str = ""
    street2: str = ""
    city: str = ""
    zip: str = ""
    state_name: str = ""  # county (SmartBill), region
    state_code: str = ""  # the state's code in Odoo (RO counties: "CJ", "B" for Bucharest)
    country_code: str = ""  # ISO 3166-1 alpha-2
    registration_no: str = ""  # IČO (CZ/SK), REGON (PL), Reg. Com. (RO)
    vat_no: str = ""  # VAT id with country prefix: DIČ (CZ), IČ DPH (SK), NIP (PL), CIF (RO)
    local_vat_no: str = ""  # SK DIČ (the tax id without the SK prefix)
    is_vat_payer: bool = False
    language: str = ""  # ISO 639-1, e.g. "cs", "sk", "en"


@dataclass(frozen=True)
class CustomerCandidate:
    """A customer record the engine already holds that may be ``Party``'s.

    ``key`` is the identity another system gave it in the engine (Fakturoid ``custom_id``,
    Fakturownia ``external_id``), empty when none; ``matched_on`` names the ``Party`` field
    it matched on (``key``, ``registration_no``, ``vat_no`` or ``email``).
    """

    id: str
    name: str
    registration_no: str = ""
    vat_no: str = ""
    email: str = ""
    key: str = ""
    url: str = ""  # a page for humans
    matched_on: str = ""


@dataclass(frozen=True)
class TaxInfo:
    """The VAT treatment of one line, already resolved through the mapping."""

    rate: Decimal  # percent, e.g. Decimal("21")
    kind: str = TAX_STANDARD
    label: str = ""  # Odoo tax name, for messages
    engine_code: str = ""  # engine-specific code when the mapping sets one (SmartBill taxName, Fakturownia "zw")


@dataclass(frozen=True)
class Line:
    name: str
    quantity: Decimal
    unit_price: Decimal  # net, before discount, document currency
    tax: TaxInfo
    unit_name: str = ""
    discount_percent: Decimal = Decimal(0)
    # Net after discount as Odoo booked it: in round-globally mode Odoo may move a line's
    # booked net by a cent so that the untaxed amount is the rounded sum of the raw lines.
    subtotal: Decimal = Decimal(0)
    total: Decimal = Decimal(0)  # gross incl. VAT, as Odoo rounded it
    product_code: str = ""
    is_service: bool = False


@dataclass(frozen=True)
class RemoteRef:
    """Where a document lives in the engine."""

    id: str
    number: str = ""
    url: str = ""  # a page for humans (Fakturoid html_url)
    series: str = ""  # SmartBill series name (SmartBill identifies documents by series + number)
    total: Decimal | None = None  # the engine's own total, to compare with Odoo's
    status: str = ""  # one of REMOTE_STATUSES, "" when unknown


@dataclass(frozen=True)
class Document:
    key: str  # idempotency key: Fakturoid invoice custom_id, Fakturownia oid
    kind: str  # INVOICE or CREDIT_NOTE
    reference: str  # Odoo's own name, e.g. INV/2026/00001 (printed in notes / mentions)
    customer: Party
    lines: tuple
    issue_date: date
    taxable_supply_date: date
    due_date: date
    currency: str
    company_currency: str
    amount_untaxed: Decimal
    amount_tax: Decimal
    amount_total: Decimal
    exchange_rate: Decimal | None = None  # company currency units per one document currency unit
    variable_symbol: str = ""
    order_number: str = ""
    note: str = ""
    language: str = ""
    payment_method: str = "bank"
    numbering: str = ""  # Fakturoid number_format_id, SmartBill series, Fakturownia department_id
    original: RemoteRef | None = None  # the corrected invoice, for credit notes
    original_reference: str = ""
    # Credit notes: True when it reverses the whole original (every line, every amount), so an
    # engine with a full-reversal call (SmartBill storno) can use it.
    reverses_whole_original: bool = False
    original_lines: tuple = ()  # the corrected invoice's ``Line``s (corrections that list before/after)
    original_issue_date: date | None = None
    correction_reason: str = ""  # why the credit note was issued (Odoo's reversal reason)

    @property
    def due_days(self):
        return max((self.due_date - self.issue_date).days, 0)

    @property
    def is_credit_note(self):
        return self.kind == CREDIT_NOTE


@dataclass(frozen=True)
class RemotePayment:
    """A payment the engine holds on a document."""

    id: str
    amount: Decimal
    paid_on: date | None = None


@dataclass(frozen=True)
class RemoteStatus:
    """The engine's view of a sent document."""

    status: str  # one of REMOTE_STATUSES, "" when unknown
    paid: bool = False
    cancelled: bool = False
    paid_on: date | None = None
    total: Decimal | None = None
    remaining: Decimal | None = None
    payments: tuple = ()  # RemotePayment, to recognise a payment whose creation went unanswered
    paid_amount: Decimal | None = None  # what the engine counts as paid (document currency)
    # The tax authority's view (engines whose capabilities report ``tax_authority`` status):
    authority_status: str = ""  # AUTHORITY_*, "" when the engine says nothing
    authority_number: str = ""  # the authority's own number (KSeF ``gov_id``)
    authority_link: str = ""  # a verification page for humans (KSeF ``gov_verification_link``)
    authority_messages: tuple = ()  # the authority's or the engine's reasons for a refusal
    authority_demo: bool = False  # the engine talks to the authority's test environment (KSeF DEMO)


@dataclass(frozen=True)
class PaymentInfo:
    key: str  # stable identity of the Odoo reconciliation
    amount: Decimal  # document currency
    currency: str
    paid_on: date
    notify_customer: bool | None = None  # ask the engine to thank the customer by e-mail; None: its default
    completes_document: bool = False  # True when this payment settles the remaining amount
    method: str = PAYMENT_BANK  # PAYMENT_*: how the money came (the Odoo payment journal)
    customer: Party | None = None  # who paid (engines whose payments name the client: SmartBill)
    reference: str = ""  # Odoo's name of the payment, for the engine's text / observation
    language: str = ""  # ISO 639-1: the language of the document it pays (SmartBill refuses another)


@dataclass(frozen=True)
class AccountInfo:
    """What ``check()`` learns about the engine account."""

    name: str
    currency: str = ""
    country: str = ""
    vat_mode: str = ""  # Fakturoid: vat_payer / non_vat_payer / identified_person
    details: dict = field(default_factory=dict)


NUMBERING_DOCUMENTS = "documents"  # invoices and credit notes are numbered in it
NUMBERING_RECEIPTS = "receipts"  # cash receipts (SmartBill ``Chitanta`` series, type "c")


@dataclass(frozen=True)
class NumberingOption:
    """A number series / number format / department the engine offers."""

    id: str
    name: str
    is_default: bool = False
    preview: str = ""
    usage: str = NUMBERING_DOCUMENTS  # NUMBERING_*
    next_number: str = ""  # as the engine writes it (SmartBill: zero-padded)


@dataclass(frozen=True)
class EngineVatRate:
    """A VAT rate the engine account offers; lines must carry one of them (SmartBill ``/tax``)."""

    name: str  # verbatim, sent back as is (``taxName``)
    rate: Decimal  # percent (``taxPercentage``)


@dataclass(frozen=True)
class AuthorityDocument:
    """A file the tax authority issued for a document (KSeF XML, UPO receipt)."""

    name: str
    content: bytes
    mimetype: str = "application/xml"


@dataclass(frozen=True)
class ReferenceData:
    numberings: tuple = ()  # NumberingOption
    vat_rates: tuple = ()  # EngineVatRate, where the engine keeps a list (capabilities.lists_vat_rates)
