"""The interface every engine client implements, and the call record it emits."""
import abc
from dataclasses import dataclass


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
    """The engine's last word on its rate limit (Fakturoid ``X-RateLimit`` headers)."""

    limit: int | None
    remaining: int | None
    reset_after: float | None  # seconds until the window resets


class EngineClient(abc.ABC):
    """Operations the pipeline needs from an engine.

    Implementations raise only ``engines.errors`` exceptions. ``prepare_create``
    returns a marker the caller commits together with the ``sending`` state before
    calling ``create_document``; ``find_document`` gets the same marker back when a
    move is found in ``sending`` and must say whether the create went through.
    """

    engine_type = None
    default_base_url = None
    api_domains = ()  # the vendor's own domains; the API URL must be on one of them (or a subdomain)

    @abc.abstractmethod
    def check(self):
        """Verify credentials and account; return ``AccountInfo``."""

    @abc.abstractmethod
    def reference_data(self):
        """Return ``ReferenceData`` (number formats, series, VAT rates, departments)."""

    @abc.abstractmethod
    def upsert_customer(self, party, remote_id=None):
        """Create or update the customer; return its remote id (``None`` if the engine embeds customers)."""

    def prepare_create(self, document):
        """Return a JSON-serialisable marker saved with the ``sending`` state."""
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
