"""The interface every engine client implements, and the call record it emits."""
import abc
from dataclasses import dataclass

from . import matching


@dataclass(frozen=True)
class Exchange:
    """One HTTP call, already redacted: no token, secret or API key in any field.

    The transport hands one to ``on_exchange`` after every call (success or not);
    the models layer stores them as ``invoice.engine.log`` rows.
    """

    operation: str  # e.g. "create_document", "oauth_token"
    method: str
    url: str
    status: int | None  # None when no HTTP answer came back
    duration_ms: int
    request_excerpt: str = ""
    response_excerpt: str = ""
    error: str = ""  # the error class name when the call failed


@dataclass(frozen=True)
class RateLimitState:
    """The engine's last word on its rate limit, as its dialect reads the answer's headers."""

    limit: int | None
    remaining: int | None
    reset_after: float | None  # seconds until the window resets


CREDENTIAL_OAUTH2 = "oauth2"
CREDENTIAL_API_TOKEN = "api_token"
CUSTOMERS_SEPARATE = "separate"  # the engine keeps customer records (Fakturoid subjects, Fakturownia clients)
CUSTOMERS_EMBEDDED = "embedded"  # the customer travels inside each document (SmartBill)


@dataclass(frozen=True)
class TaxAuthority:
    """A tax authority's e-invoicing system that an engine submits the documents it issues to, itself."""

    system: str  # the system's name, which Odoo's own submitter to it is known by: "RO e-Factura", "KSeF"
    recipient: str  # who receives the documents, for sentences: "… submits this invoice to ANAF"
    country_code: str  # ISO 3166 code of the country whose tax authority it is


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do, stated next to its client; the Odoo side asks these questions.

    Shared code reads a client class's ``capabilities`` and never names an engine.
    """

    label: str  # the engine's name for people
    default_base_url: str
    api_domains: tuple  # the vendor's own domains: the API URL must be on one of them or a subdomain
    credential: str  # CREDENTIAL_*: how the engine signs in
    reads_back_documents: bool  # a document created earlier can be looked up (exactly-once reconciliation)
    customers: str  # CUSTOMERS_*
    async_pdf: bool  # the PDF may not be rendered yet right after the create (answered later)
    reads_back_payments: bool  # the payments a document holds can be listed
    # Who submits to the tax authority: a TaxAuthority when the engine submits the documents it
    # issues itself (then Odoo's own submission to the same system gives way), None when nobody
    # in the engine does
    tax_authority: TaxAuthority | None = None
    reports_authority_status: bool = False  # document_status() says what the tax authority made of it
    call_limit: tuple | None = None  # (calls, seconds) documented per account; the throttle spends below it
    call_margin: float = 0.9  # the share of call_limit the throttle spends: less where overrunning costs more
    arithmetic: object = None  # engines.arithmetic.Arithmetic: how the engine computes a document's amounts
    numbering_label: str = "Number series"  # what the engine calls its numberings (series, department…)
    lists_vat_rates: bool = False  # the account lists its VAT rates; each line must carry one of them
    cancels_documents: bool = False  # cancel_document() voids a sent document in the engine
    # cancel_document() is refused once the tax authority holds the document: a correction to
    # zero is the way (KSeF)
    authority_blocks_cancel: bool = False

    @property
    def keeps_customers(self):
        return self.customers == CUSTOMERS_SEPARATE


class EngineClient(abc.ABC):
    """Operations the pipeline needs from an engine.

    Implementations raise only ``engines.errors`` exceptions. ``prepare_create``
    returns a marker the caller commits together with the ``sending`` state before
    calling ``create_document``; ``find_document`` gets the same marker back when a
    move is found in ``sending`` and must say whether the create went through.
    """

    engine_type = None
    capabilities = None  # Capabilities

    @abc.abstractmethod
    def check(self):
        """Verify credentials and account; return ``AccountInfo``."""

    @abc.abstractmethod
    def reference_data(self):
        """Return ``ReferenceData`` (number formats, series, VAT rates, departments)."""

    @abc.abstractmethod
    def upsert_customer(self, party, remote_id=None, *, match=True):
        """Create or update the customer; return its remote id (``None`` if the engine embeds customers).

        Without ``remote_id`` an existing record is adopted rather than duplicated: with
        ``match``, the one ``find_customer`` returns (``AmbiguousCustomer`` propagates);
        without it (the caller matched already, or a person chose a new record), only the
        record that already carries ``party.key``.
        """

    def find_customer(self, party):
        """The engine's record for ``party`` as a ``CustomerCandidate``, or ``None`` if it has none.

        First the record carrying ``party.key``; then, in ``matching.MATCH_ORDER``, the records
        with the same registration number, VAT number or e-mail. Raises ``AmbiguousCustomer``
        when the first identifier with matches does not single one out. Creates nothing.
        """
        own = self.customer_by_key(party.key)
        if own:
            return own
        for field, value in matching.identifiers(party):
            matches = matching.exact_matches(field, value, self.search_customers(field, value))
            if matches:
                return matching.choose(party, field, value, matches, self.capabilities.label)
        return None

    def customer_by_key(self, key):
        """The ``CustomerCandidate`` carrying our ``key``, or ``None`` (engines that keep customers)."""
        return None

    def search_customers(self, field, value):
        """``CustomerCandidate`` records that may have ``value`` in ``field``.

        A superset is fine (``find_customer`` compares exactly); engines that embed the
        customer in each document have nothing to search.
        """
        return []

    def prepare_create(self, document):
        """Return a JSON-serialisable marker saved with the ``sending`` state.

        It may call the engine: an engine without read-back notes here what it needs to tell
        afterwards whether the create landed (SmartBill: the series' next number).
        """
        return {}

    @abc.abstractmethod
    def create_document(self, document, customer_id):
        """Create the invoice or credit note; return ``RemoteRef``."""

    @abc.abstractmethod
    def find_document(self, document, marker):
        """Return the ``RemoteRef`` of a document created earlier for ``document.key``, or ``None``.

        Raise ``OutcomeUnknown`` when the engine cannot tell.
        """

    @abc.abstractmethod
    def get_document(self, remote_id):
        """Return the ``RemoteRef`` of an existing document (to link it by hand); ``NotFound`` if absent."""

    @abc.abstractmethod
    def fetch_pdf(self, ref):
        """Return the PDF bytes, or ``None`` while the engine is still rendering it."""

    @abc.abstractmethod
    def record_payment(self, ref, payment):
        """Record ``PaymentInfo`` on the document; return the remote payment id."""

    @abc.abstractmethod
    def delete_payment(self, ref, remote_payment_id):
        """Remove a payment recorded earlier."""

    @abc.abstractmethod
    def document_status(self, ref):
        """Return ``RemoteStatus``."""

    def cancel_document(self, ref):
        """Void the sent document in the engine (``capabilities.cancels_documents``).

        Raises ``Rejected`` with the engine's reason, in words, when it refuses.
        """
        raise NotImplementedError(f"{self.capabilities.label} cannot cancel a document")

    def authority_documents(self, ref):
        """The tax authority's files for an accepted document (``AuthorityDocument``), or ``()``."""
        return ()

    def resubmit_to_authority(self, ref):
        """Submit the document to the tax authority again, after a failed submission."""
        raise NotImplementedError(f"{self.capabilities.label} does not submit to a tax authority")
