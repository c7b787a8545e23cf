"""What the engine-neutral flow tests need to know about one engine and its sandbox.

A flow test (send, faults, payments, concurrency) talks to the engine only through an
``EngineHarness``: it starts and empties the sandbox, gives the credentials an
``invoice.engine`` needs, lists what the engine holds in a neutral shape and names the
calls a fault is injected into. One subclass per engine (``harness_fakturoid.py``);
a test case names it in its ``harness_class`` attribute.

Neutral shapes (plain dicts; ``raw`` keeps the engine's own record for engine tests):

- document: ``id``, ``number``, ``key`` (our idempotency key), ``total`` (Decimal),
  ``currency``, ``status`` ("open", "paid", ...), ``customer_id`` (None where customers
  are embedded), ``corrects`` (id of the corrected document or None), ``url`` (the page
  a person opens), ``vat_rates`` (Decimal, one per line as the engine holds them), ``raw``
- customer: ``id``, ``key``, ``name``, ``raw``
- payment: ``id``, ``document_id``, ``amount`` (Decimal), ``paid_on`` (ISO date), ``raw``

Remote ids are strings, as the addon stores them.
"""
import re


class EngineHarness:
    """One engine's sandbox, seen from the flow tests. Subclasses fill in every method."""

    client_class = None  # the engines/ client: its ``capabilities`` decide what a flow checks
    country_code = ""  # the company's country in the tests (AccountTestInvoicingCommon)
    currency_code = ""  # the company's currency where a test makes the company itself
    chart_template = "generic_coa"
    # Operation -> (HTTP method, path regex) of the calls the flow tests inject faults into:
    # create_document, find_document, fetch_pdf, record_payment, and find_customer /
    # create_customer for engines that keep customers.
    calls = {}
    golden_dir = ""  # tests/golden/<golden_dir>/: the payloads this engine is sent
    vat_rates = ()  # (standard, reduced) VAT percentages of the company's country: the tests' two taxes
    tax_label = "VAT"  # the taxes are called "<tax_label> <rate> %"

    def __init__(self):
        self.sandbox = None

    @property
    def capabilities(self):
        return self.client_class.capabilities

    @property
    def label(self):
        return self.capabilities.label

    # -- the sandbox -------------------------------------------------------

    def start(self):
        """Start the sandbox on loopback; returns the harness."""
        raise NotImplementedError

    def stop(self):
        self.sandbox.stop()

    def reset(self):
        """An engine account that knows nothing yet, reachable with ``engine_values``."""
        raise NotImplementedError

    def engine_values(self):
        """The engine-specific values of ``invoice.engine.create`` (URL and credentials)."""
        raise NotImplementedError

    def customer_values(self, env):
        """``res.partner`` values of the tests' main customer: a company of the engine's country,
        complete for every rule of the engine."""
        raise NotImplementedError

    def second_customer_values(self, env):
        """``res.partner`` values of a second customer, of another country."""
        raise NotImplementedError

    def prepare_engine(self, engine):
        """After the engine record exists and the sandbox was reset: what it needs before sending
        (e.g. the engine's VAT rates, loaded and mapped). Nothing by default."""

    def delay_pdf(self, polls):
        """The PDF is not ready for the first ``polls`` downloads (engines with ``async_pdf``)."""
        raise NotImplementedError

    # -- what the engine holds ---------------------------------------------

    def documents(self):
        """Every document of the account, oldest first, in the neutral shape above."""
        raise NotImplementedError

    def customers(self):
        """Every customer of the account, oldest first, in the neutral shape above."""
        raise NotImplementedError

    def payments(self):
        """Every payment of the account, oldest first, in the neutral shape above."""
        raise NotImplementedError

    def documents_of(self, move):
        """The documents carrying ``move``'s key: exactly one once it is sent."""
        return [document for document in self.documents() if document["key"] == move._engine_key()]

    def normalise_payload(self, payload):
        """``payload`` with the values that change from run to run (ids, the database tag) replaced."""
        raise NotImplementedError

    def store_copy(self, document):
        """Someone creates a second document carrying ``document``'s key in the engine by hand."""
        raise NotImplementedError

    # -- what a person does in the engine's own UI ---------------------------

    def pay_in_engine(self, document, amount):
        """The customer's payment of ``amount`` (Decimal) is recorded in the engine, not in Odoo."""
        raise NotImplementedError

    def edit_in_engine(self, document):
        """Someone edits the document in the engine so that its total changes."""
        raise NotImplementedError

    # -- calls ---------------------------------------------------------------

    def inject(self, kind, operation, **params):
        """A sandbox fault (``status``, ``rate_limit``, ``reset_after_store``, ...) on one operation."""
        method, path = self.calls[operation]
        self.sandbox.inject(kind, method=method, path=path, **params)

    def requests(self, operation):
        """The calls the sandbox received for ``operation``, oldest first."""
        method, path = self.calls[operation]
        return [
            request for request in self.sandbox.requests
            if request["method"] == method and re.search(path, request["path"])
        ]
